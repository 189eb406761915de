"""The GPU engine's bucket logic (models/runtimes/bucket_staging.py), without torch: staging
buffers per bucket that keep an earlier batch's rows past the real ones, run by a real
model function (the folded MobileNetV2 computed with numpy). Padded, sliced and
chunked batches must give each frame the labels it gets alone at batch 1."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pytest

from inference_server.models.runtimes.bucket_staging import BucketStaging
from inference_server.models.buckets import bucket_sizes
from inference_server.models.mobilenet_v2.layout import random_weights

from inference_server.testkit.mobilenet_v2_numpy import forward


class StagedModel:
    """The engine's shape on the host: one input buffer per bucket, the model run on
    the whole buffer (as a CUDA graph is), its outputs in a buffer per bucket."""

    def __init__(self, tensors: Mapping[str, np.ndarray], sizes: tuple[int, ...],
                 side: int) -> None:
        self.tensors = tensors
        self.inputs = {s: np.zeros((s, side, side, 3), np.uint8) for s in sizes}
        self.outputs = {s: np.zeros((s, 1000), np.float32) for s in sizes}
        self.runs: list[tuple[int, int]] = []

    def run(self, bucket: int, n: int) -> np.ndarray:
        self.runs.append((bucket, n))
        self.outputs[bucket][:] = forward(self.tensors, self.inputs[bucket])
        return self.outputs[bucket]


@pytest.fixture(scope="module")
def tensors() -> dict[str, np.ndarray]:
    """Random weights with a sharpened classifier, so that frames get distinct labels."""
    t = random_weights(5)
    t["predictions.weight"] = t["predictions.weight"] * 200.0
    return t


@pytest.fixture(scope="module")
def frames(decoded: dict[str, np.ndarray]) -> np.ndarray:
    """The shared photos at 32x32 (the network is fully convolutional: the bucket logic
    is the same, the numpy model 50x faster), and their mirror images."""
    small = np.stack([img[::7, ::7][:32] for img in decoded.values()])
    return np.concatenate([small, small[:, :, ::-1]])


def test_same_labels_as_batch_one_with_stale_rows_in_the_buffers(
        tensors: dict[str, np.ndarray], frames: np.ndarray) -> None:
    sizes = bucket_sizes(8)
    model = StagedModel(tensors, sizes, frames.shape[1])
    staging = BucketStaging(sizes, model.inputs, model.run)
    alone = np.concatenate([staging(f[None]) for f in frames])
    labels = alone.argmax(axis=1)
    assert len(set(labels.tolist())) >= 3  # the frames are told apart
    # Fill every buffer with other images first: what stays past the real rows.
    for size, buf in model.inputs.items():
        buf[:] = frames[::-1][np.arange(size) % len(frames)]
    model.runs.clear()
    for n in (1, 2, 3, 5, 7, 8):
        out = staging(frames[:n])
        assert out.shape == (n, 1000)
        assert out.argmax(axis=1).tolist() == labels[:n].tolist()
        np.testing.assert_allclose(out, alone[:n], rtol=1e-4, atol=1e-6)
    assert model.runs == [(1, 1), (2, 2), (4, 3), (8, 5), (8, 7), (8, 8)]


def test_a_batch_over_the_largest_bucket_goes_in_chunks(
        tensors: dict[str, np.ndarray], frames: np.ndarray) -> None:
    sizes = bucket_sizes(4)
    model = StagedModel(tensors, sizes, frames.shape[1])
    staging = BucketStaging(sizes, model.inputs, model.run)
    batch = frames[np.arange(11) % len(frames)]
    out = staging(batch)
    assert model.runs == [(4, 4), (4, 4), (4, 3)]
    alone = np.concatenate([staging(f[None]) for f in batch])
    assert out.argmax(axis=1).tolist() == alone.argmax(axis=1).tolist()


def test_outputs_are_copies_not_views_of_reused_buffers(
        tensors: dict[str, np.ndarray], frames: np.ndarray) -> None:
    sizes = bucket_sizes(2)
    model = StagedModel(tensors, sizes, frames.shape[1])
    staging = BucketStaging(sizes, model.inputs, model.run)
    first = staging(frames[:2])
    kept = first.copy()
    staging(frames[2:4])  # the same bucket's buffers are written again
    np.testing.assert_array_equal(first, kept)


def test_refuses_what_does_not_fit() -> None:
    inputs = {1: np.zeros((1, 4, 4, 3), np.uint8), 2: np.zeros((2, 4, 4, 3), np.uint8)}
    with pytest.raises(ValueError, match=r"buckets \[4\]"):
        BucketStaging((1, 2, 4), inputs, lambda b, n: np.zeros((b, 1)))
    staging = BucketStaging((1, 2), inputs, lambda b, n: np.zeros((b, 1)))
    with pytest.raises(ValueError, match="empty"):
        staging(np.zeros((0, 4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match=r"the model takes \(4, 4, 3\)"):
        staging(np.zeros((1, 5, 5, 3), np.uint8))

"""Bucket choice, padding and slicing (models/buckets.py), without a model: `infer`
here is a function whose every output row names its input row, so a padded, sliced or
chunked batch shows exactly where each row went."""

from __future__ import annotations

import numpy as np
import pytest

from inference_server.models.buckets import (bucket_for, bucket_sizes, infer_in_buckets,
                                               pad_batch)


@pytest.mark.parametrize("batch_max,sizes", [
    (1, (1,)), (2, (1, 2)), (3, (1, 2, 3)), (8, (1, 2, 4, 8)), (12, (1, 2, 4, 8, 12)),
    (64, (1, 2, 4, 8, 16, 32, 64)), (256, (1, 2, 4, 8, 16, 32, 64, 128, 256)),
])
def test_bucket_sizes(batch_max: int, sizes: tuple[int, ...]) -> None:
    assert bucket_sizes(batch_max) == sizes


def test_bucket_sizes_needs_a_batch() -> None:
    with pytest.raises(ValueError, match="batch_max"):
        bucket_sizes(0)


@pytest.mark.parametrize("n,bucket", [(1, 1), (2, 2), (3, 4), (4, 4), (5, 8), (8, 8), (9, 12),
                                      (12, 12)])
def test_bucket_for(n: int, bucket: int) -> None:
    assert bucket_for(n, bucket_sizes(12)) == bucket


def test_bucket_for_too_large() -> None:
    with pytest.raises(ValueError, match="larger than the largest bucket 8"):
        bucket_for(9, bucket_sizes(8))


def test_pad_batch() -> None:
    batch = np.arange(3 * 2 * 2 * 3, dtype=np.uint8).reshape(3, 2, 2, 3) + 1
    padded = pad_batch(batch, 4)
    assert padded.shape == (4, 2, 2, 3) and padded.dtype == np.uint8
    np.testing.assert_array_equal(padded[:3], batch)
    assert not padded[3].any()  # a blank image
    assert pad_batch(batch, 3) is batch  # full: no copy
    with pytest.raises(ValueError, match="does not fit"):
        pad_batch(batch, 2)


class RowEcho:
    """A stand-in model: output row i is [first pixel of input row i, batch size]."""

    def __init__(self) -> None:
        self.shapes: list[int] = []

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.shapes.append(len(x))
        return np.stack([x[:, 0, 0, 0].astype(np.float32),
                         np.full(len(x), len(x), np.float32)], axis=1)


def numbered(n: int) -> np.ndarray:
    """n images whose first pixel is 1..n (0 is what padding looks like)."""
    batch = np.zeros((n, 2, 2, 3), np.uint8)
    batch[:, 0, 0, 0] = np.arange(1, n + 1)
    return batch


@pytest.mark.parametrize("n,shapes", [(1, [1]), (3, [4]), (5, [8]), (8, [8])])
def test_infer_in_buckets_pads_and_slices(n: int, shapes: list[int]) -> None:
    model = RowEcho()
    out = infer_in_buckets(model, numbered(n), bucket_sizes(8))
    assert model.shapes == shapes
    assert out.shape == (n, 2)
    assert out[:, 0].tolist() == list(range(1, n + 1))  # every row, in order, no padding
    assert set(out[:, 1].tolist()) == {shapes[0]}  # computed in the bucket's batch


def test_infer_in_buckets_chunks_a_batch_over_the_largest_bucket() -> None:
    model = RowEcho()
    out = infer_in_buckets(model, numbered(11), bucket_sizes(4))
    assert model.shapes == [4, 4, 4]  # 4 + 4 + 3 padded to 4
    assert out[:, 0].tolist() == list(range(1, 12))


def test_infer_in_buckets_refuses_an_empty_batch() -> None:
    with pytest.raises(ValueError, match="empty"):
        infer_in_buckets(RowEcho(), numbered(0), bucket_sizes(4))

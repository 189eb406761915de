"""Keras MobileNetV2 with random weights (weights=None: nothing to download) and the
shared labels file: the same contract as the TFLite backend, except the exact labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inference_server.models import ModelLoadError
from inference_server.models.load import load_model
from inference_server.models.runtimes.keras import KerasBackend
from inference_server.models.selection import LoadOptions
from inference_server.wire.replies import top_k

from .keras_padding_check import (assert_padding_changes_nothing, calibrate_batch_norm,
                                  predict_padded_and_not)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

NAMES = ["cat.bmp", "parrot.jpg", "grace_hopper.bmp", "cat_720p.jpg"]


@pytest.fixture(scope="module")
def keras_backend(labels_file: Path, decoded: dict[str, np.ndarray]) -> KerasBackend:
    backend = KerasBackend(weights=None, labels_path=str(labels_file), num_threads=2)
    calibrate_batch_norm(backend, np.stack(list(decoded.values())))
    return backend


def test_contract(keras_backend: KerasBackend, decoded: dict[str, np.ndarray]) -> None:
    assert keras_backend.kind == "keras"
    assert keras_backend.input_size == 224
    assert len(keras_backend.labels) == 1000 and keras_backend.labels[285] == "Egyptian cat"
    probs = keras_backend.predict(np.stack([decoded[n] for n in NAMES]))
    assert probs.shape == (len(NAMES), 1000) and probs.dtype == np.float32
    for row in probs:
        preds = top_k(row, keras_backend.labels, 3)
        assert len(preds) == 3
        assert all(0 <= p["index"] <= 999 for p in preds)
        assert all(p["label"] == keras_backend.labels[p["index"]] for p in preds)
        confs = [p["confidence"] for p in preds]
        assert confs == sorted(confs, reverse=True)
        assert all(c >= 0 for c in confs) and sum(confs) <= 1.0 + 1e-3
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-3)  # softmax


def test_batch_order(keras_backend: KerasBackend, decoded: dict[str, np.ndarray]) -> None:
    batch = np.stack([decoded[n] for n in NAMES])
    together = keras_backend.predict(batch)
    for i, name in enumerate(NAMES):
        alone = keras_backend.predict(batch[i:i + 1])[0]
        np.testing.assert_allclose(together[i], alone, rtol=1e-3, atol=1e-6, err_msg=name)
    # Different images give different answers (so the order check means something).
    assert np.abs(together[0] - together[1]).max() > 1e-5
    assert np.abs(together[1] - together[2]).max() > 1e-5


def test_preprocessing_is_mobilenet_v2(keras_backend: KerasBackend,
                                       decoded: dict[str, np.ndarray]) -> None:
    """The backend takes uint8 and preprocesses inside its compiled function: the
    same answers as Keras' preprocess_input in front of the bare model."""
    from keras.applications.mobilenet_v2 import preprocess_input

    x = np.array([[[[0, 127, 255]]]], np.float32)
    np.testing.assert_allclose(preprocess_input(x.copy()), [[[[-1.0, -0.00392, 1.0]]]],
                               atol=1e-4)
    batch = np.stack([decoded[n] for n in NAMES[:2]])
    reference = keras_backend.model.predict_on_batch(preprocess_input(batch.astype(np.float32)))
    np.testing.assert_allclose(keras_backend.predict(batch), reference, rtol=1e-3, atol=1e-6)


def test_cpu_tensorflow_takes_batches_as_they_are(keras_backend: KerasBackend) -> None:
    assert keras_backend.keras_backend == "tensorflow" and not keras_backend.on_accelerator
    assert not keras_backend.pads  # no compile per shape: padding would only cost CPU
    keras_backend.shapes_run.clear()
    keras_backend.predict(np.zeros((3, 224, 224, 3), np.uint8))
    assert keras_backend.shapes_run == {3}


def test_bucket_padding_gives_the_unpadded_answers(keras_backend: KerasBackend,
                                                   decoded: dict[str, np.ndarray]) -> None:
    batch = np.stack([decoded[n] for n in NAMES[:3]])
    try:
        got = predict_padded_and_not(keras_backend, batch, batch_max=4)
    finally:
        keras_backend.pads = False
    assert_padding_changes_nothing(got)


def test_local_weights_file(keras_backend: KerasBackend, decoded: dict[str, np.ndarray],
                            labels_file: Path, tmp_path: Path) -> None:
    weights = tmp_path / "mobilenet_v2.weights.h5"
    keras_backend.model.save_weights(str(weights))
    loaded, _ = load_model(f"keras:{weights}", "keras", LoadOptions(labels=str(labels_file)))
    image = decoded["cat.bmp"][None]
    np.testing.assert_allclose(loaded.predict(image), keras_backend.predict(image),
                               rtol=1e-4, atol=1e-6)


def test_missing_weights_file(tmp_path: Path, labels_file: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model(f"keras:{tmp_path / 'nope.h5'}", "keras", LoadOptions(labels=str(labels_file)))


def test_corrupt_weights_file(tmp_path: Path, labels_file: Path) -> None:
    bad = tmp_path / "bad.weights.h5"
    bad.write_bytes(b"not hdf5 at all" * 10)
    with pytest.raises(ModelLoadError, match="could not be loaded"):
        load_model(f"keras:{bad}", "keras", LoadOptions(labels=str(labels_file)))


def test_keras_imagenet_labels_through_keras_decoder(monkeypatch: pytest.MonkeyPatch,
                                                     labels_file: Path) -> None:
    """Without --labels the names come from Keras' own decode_predictions (which
    downloads imagenet_class_index.json). Offline, its cache is filled in memory
    with the same classes, in Keras' format (wnid, name_with_underscores)."""
    import keras
    from keras.src.applications import imagenet_utils

    from inference_server.models.runtimes.keras import keras_imagenet_labels

    names = labels_file.read_text().splitlines()[1:]
    index = {str(i): [f"n{i:08d}", n.replace(" ", "_")] for i, n in enumerate(names)}
    monkeypatch.setattr(imagenet_utils, "CLASS_INDEX", index)
    labels = keras_imagenet_labels(keras)
    assert len(labels) == 1000
    assert labels[285] == "Egyptian cat" and labels[652] == "military uniform"
    assert labels == [n.replace("_", " ") for n in names]

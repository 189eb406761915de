"""Float-input .tflite models: preprocessing (x/127.5)-1, 1000 or 1001 outputs, logits.

The model is a tiny classifier made here with TensorFlow's converter (no download):
global average pooling then a dense layer with known weights, so the expected answer
can be computed with numpy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inference_server.models import ModelLoadError
from inference_server.models.runtimes.litert import TfliteBackend

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def make_model(tmp: Path, classes: int, softmax: bool) -> tuple[Path, np.ndarray, np.ndarray]:
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    rng = np.random.default_rng(classes)
    w = rng.normal(0, 3, (3, classes)).astype(np.float32)
    b = rng.normal(0, 1, (classes,)).astype(np.float32)
    inp = tf.keras.Input((224, 224, 3), batch_size=1)
    x = tf.keras.layers.GlobalAveragePooling2D()(inp)
    dense = tf.keras.layers.Dense(classes, activation="softmax" if softmax else None)
    out = dense(x)
    model = tf.keras.Model(inp, out)
    dense.set_weights([w, b])
    tflite = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    path = tmp / f"tiny_{classes}_{'softmax' if softmax else 'logits'}.tflite"
    path.write_bytes(tflite)
    return path, w, b


def expected(images: np.ndarray, w: np.ndarray, b: np.ndarray, drop: int) -> np.ndarray:
    mean = ((images.astype(np.float64) / 127.5) - 1.0).mean(axis=(1, 2))
    logits = mean @ w + b
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True))[:, drop:]


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple]:
    tmp = tmp_path_factory.mktemp("tiny")
    return {
        "1001": make_model(tmp, 1001, softmax=True),
        "1000-logits": make_model(tmp, 1000, softmax=False),
    }


@pytest.mark.parametrize("kind,drop", [("1001", 1), ("1000-logits", 0)])
def test_float_model_preprocessing_and_outputs(tiny_models: dict, labels_file: Path,
                                               decoded: dict[str, np.ndarray], kind: str,
                                               drop: int) -> None:
    path, w, b = tiny_models[kind]
    backend = TfliteBackend(str(path), labels_path=str(labels_file))
    assert backend.input_dtype == np.float32
    images = np.stack([decoded["cat.bmp"], decoded["parrot.jpg"], decoded["bird.bmp"]])
    probs = backend.predict(images)
    assert probs.shape == (3, 1000)
    np.testing.assert_allclose(probs, expected(images, w, b, drop), rtol=1e-3, atol=1e-6)
    # Batched and alone agree.
    np.testing.assert_allclose(backend.predict(images[1:2])[0], probs[1], rtol=1e-5, atol=1e-7)


def test_model_without_labels_needs_a_labels_file(tiny_models: dict) -> None:
    path = tiny_models["1001"][0]
    with pytest.raises(ModelLoadError, match="--labels"):
        TfliteBackend(str(path))

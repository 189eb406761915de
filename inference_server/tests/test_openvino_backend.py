"""The OpenVINO backend on the real shared models, and files made from them at test time:
an ONNX file (tf2onnx's TFLite reader) and an OpenVINO IR (OpenVINO's own TFLite
reader), and a seeded random Keras MobileNetV2 (no ImageNet weights offline).

Fidelity, as the issue states it:
- .tflite (and the ONNX / IR made from them): top-1 equals LiteRT's on every shared
  photo where LiteRT's top-1 leads its second by >= 0.08.
- Keras weights, f32: probabilities within 1e-4 of Keras on TensorFlow, same top-5.
- Keras weights, bf16 and INT8: cosine >= 0.99 between the centered log-probabilities
  (the logits up to a constant) of OpenVINO and of Keras on TensorFlow.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from inference_server.models.runtimes.keras import KerasBackend
from inference_server.models.model_cache import ModelCache
from inference_server.models.runtimes.openvino import OpenVinoBackend
from inference_server.models.spec import parse_model
from inference_server.models.runtimes.litert import TfliteBackend

MARGIN = 0.08
COSINE_MIN = 0.99
F32_ATOL = 1e-4

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def confident(probs: np.ndarray) -> np.ndarray:
    """Rows whose top-1 leads the second by MARGIN or more."""
    top2 = np.sort(probs, axis=-1)[:, -2:]
    return (top2[:, 1] - top2[:, 0]) >= MARGIN


def centered_logits(probs: np.ndarray) -> np.ndarray:
    logp = np.log(np.clip(probs.astype(np.float64), 1e-30, None))
    return logp - logp.mean(axis=-1, keepdims=True)


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


@pytest.fixture(scope="module")
def photos(decoded: dict[str, np.ndarray]) -> np.ndarray:
    return np.stack([decoded[name] for name in sorted(decoded)])


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> ModelCache:
    return ModelCache(tmp_path_factory.mktemp("model-cache"))


def assert_same_top1_where_confident(reference: np.ndarray, got: np.ndarray) -> None:
    rows = confident(reference)
    assert rows.sum() >= 3, "too few confident photos for the comparison to mean anything"
    assert np.array_equal(np.argmax(reference[rows], -1), np.argmax(got[rows], -1))


def assert_batch_equals_batch1(backend: OpenVinoBackend, photos: np.ndarray) -> None:
    batched = backend.predict(photos)
    single = np.concatenate([backend.predict(photos[i:i + 1]) for i in range(len(photos))])
    assert batched.shape == (len(photos), 1000)
    assert np.array_equal(np.argsort(batched, -1)[:, -5:], np.argsort(single, -1)[:, -5:])


@pytest.mark.parametrize("which", ["quant", "ptq"])
def test_tflite_on_openvino_agrees_with_litert(which: str, quant_backend: TfliteBackend,
                                               ptq_backend: TfliteBackend, photos: np.ndarray,
                                               cache: ModelCache) -> None:
    litert = quant_backend if which == "quant" else ptq_backend
    backend = OpenVinoBackend(parse_model(f"tflite:{litert.path}"), None, 2, cache)
    assert backend.labels == litert.labels  # from the file's own metadata
    assert backend.input_size == 224
    backend.warm_up(4)
    got = backend.predict(photos)
    reference = litert.predict(photos)
    assert_same_top1_where_confident(reference, got)
    # Dequantized as LiteRT does (its output steps are 1/256).
    assert np.abs(got.max(-1) - reference.max(-1)).max() <= 0.1
    assert_batch_equals_batch1(backend, photos)


def test_onnx_and_ir_made_from_tflite(ptq_backend: TfliteBackend, quant_backend: TfliteBackend,
                                      photos: np.ndarray, labels_file: Path, tmp_path: Path,
                                      cache: ModelCache) -> None:
    import openvino as ov
    import tf2onnx

    onnx_path = tmp_path / "ptq.onnx"
    tf2onnx.convert.from_tflite(str(ptq_backend.path), opset=17, output_path=str(onnx_path))
    onnx = OpenVinoBackend(parse_model(f"onnx:{onnx_path}"), str(labels_file), 2, cache)
    assert_same_top1_where_confident(ptq_backend.predict(photos), onnx.predict(photos))
    assert_batch_equals_batch1(onnx, photos)

    ir_path = tmp_path / "quant.xml"
    ov.save_model(ov.Core().read_model(str(quant_backend.path)), str(ir_path))
    ir = OpenVinoBackend(parse_model(f"openvino:{ir_path}"), str(labels_file), 2, cache)
    assert ir.labels[0].startswith("tench")  # the labels file, background dropped
    assert_same_top1_where_confident(quant_backend.predict(photos), ir.predict(photos))


def test_onnx_without_labels_is_a_clear_error(tmp_path: Path, cache: ModelCache) -> None:
    import openvino as ov

    from inference_server.models import ModelLoadError
    from inference_server.tests.conftest import QUANT_MODEL

    ir_path = tmp_path / "nolabels.xml"
    ov.save_model(ov.Core().read_model(str(QUANT_MODEL)), str(ir_path))
    with pytest.raises(ModelLoadError, match="pass --labels"):
        OpenVinoBackend(parse_model(f"openvino:{ir_path}"), None, 2, cache)


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded random MobileNetV2 saved as .keras."""
    from inference_server.models.runtimes.keras import _import_keras

    keras = _import_keras(2, 0.0)
    keras.utils.set_random_seed(1234)
    model = keras.applications.MobileNetV2(weights=None)
    path = tmp_path_factory.mktemp("keras") / "random_mobilenet_v2.keras"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def keras_reference(keras_file: Path, labels_file: Path, photos: np.ndarray) -> np.ndarray:
    backend = KerasBackend(str(keras_file), str(labels_file), 2)
    try:
        return backend.predict(photos)
    finally:
        backend.close()


def test_keras_weights_f32_match_tensorflow(keras_file: Path, labels_file: Path,
                                            keras_reference: np.ndarray, photos: np.ndarray,
                                            cache: ModelCache,
                                            caplog: pytest.LogCaptureFixture) -> None:
    spec = parse_model(f"keras:{keras_file}")
    backend = OpenVinoBackend(spec, str(labels_file), 2, cache, precision="f32")
    assert backend.precision == "f32"
    got = backend.predict(photos)
    assert np.abs(got - keras_reference).max() <= F32_ATOL
    assert np.array_equal(np.argsort(got, -1)[:, -5:], np.argsort(keras_reference, -1)[:, -5:])
    assert_batch_equals_batch1(backend, photos)
    # Converted once: the next load reads the cached IR, without TensorFlow.
    converted = list(cache.root.glob("openvino/keras-*/model.xml"))
    assert len(converted) == 1
    with caplog.at_level(logging.INFO):
        again = OpenVinoBackend(spec, str(labels_file), 2, cache, precision="f32")
    assert "converted keras model from the cache" in caplog.text
    assert np.array_equal(again.predict(photos), got)


def test_keras_weights_bf16_close_to_tensorflow(keras_file: Path, labels_file: Path,
                                                keras_reference: np.ndarray,
                                                photos: np.ndarray, cache: ModelCache) -> None:
    backend = OpenVinoBackend(parse_model(f"keras:{keras_file}"), str(labels_file), 2, cache,
                              precision="bf16")
    got = backend.predict(photos)
    assert cosine(centered_logits(got), centered_logits(keras_reference)).min() >= COSINE_MIN


@pytest.fixture(scope="module")
def calibration_dir(tmp_path_factory: pytest.TempPathFactory,
                    image_bytes: dict[str, bytes]) -> Path:
    """A small calibration set: the shared photos and their mirror images."""
    from PIL import Image, ImageOps

    folder = tmp_path_factory.mktemp("calibration")
    for name, data in image_bytes.items():
        (folder / name).write_bytes(data)
        with Image.open(folder / name) as im:
            ImageOps.mirror(im.convert("RGB")).save(folder / f"mirror-{Path(name).stem}.png")
    (folder / "notes.txt").write_text("not an image: ignored")
    return folder


def test_keras_int8_close_to_tensorflow(keras_file: Path, labels_file: Path,
                                        keras_reference: np.ndarray, photos: np.ndarray,
                                        calibration_dir: Path, cache: ModelCache) -> None:
    # The agreement rule is tested below; here the INT8 model is taken whatever its
    # agreement, to hold it to the stated tolerance.
    backend = OpenVinoBackend(parse_model(f"keras:{keras_file}"), str(labels_file), 2, cache,
                              precision="f32", calibration_dir=str(calibration_dir),
                              min_int8_agreement=0.0)
    assert backend.precision == "int8"
    assert backend.int8 is not None and backend.int8.images == 14
    got = backend.predict(photos)
    assert cosine(centered_logits(got), centered_logits(keras_reference)).min() >= COSINE_MIN


def test_int8_that_disagrees_keeps_the_float_model(keras_file: Path, labels_file: Path,
                                                   calibration_dir: Path, photos: np.ndarray,
                                                   cache: ModelCache,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    spec = parse_model(f"keras:{keras_file}")
    with caplog.at_level(logging.WARNING):
        # No model can agree on more than 100 % of the images.
        backend = OpenVinoBackend(spec, str(labels_file), 2, cache, precision="f32",
                                  calibration_dir=str(calibration_dir), min_int8_agreement=1.01)
    assert backend.precision == "f32"
    assert backend.int8 is not None and not backend.int8.used
    assert "openvino int8 not used" in caplog.text
    float_backend = OpenVinoBackend(spec, str(labels_file), 2, cache, precision="f32")
    assert np.array_equal(backend.predict(photos), float_backend.predict(photos))
    # The decision is kept: the next start neither calibrates nor compares again.
    (decision,) = cache.root.glob("openvino/int8-*.json")
    assert '"used": false' in decision.read_text()

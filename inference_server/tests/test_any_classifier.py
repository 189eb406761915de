"""Any image classifier (issue 22): every format the worker reads, labels from the
model's metadata or a labels file, the input read from the model with model.yaml's
overrides, and clear refusals for what is not a classifier. The small models are made
here (tiny_classifiers.py); the real ones are the shared MobileNetV1 and iNaturalist
insect files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from inference_server.imaging.decoder import Decoder
from inference_server.models import ModelLoadError
from inference_server.models.labels import parse_labels
from inference_server.models.load import load_model
from inference_server.models.model_config import InputOverrides, ModelConfig
from inference_server.models.selection import CHOICES, LoadOptions
from inference_server.tests import tiny_classifiers as tiny
from inference_server.tests.conftest import IMAGES, SHARED, _require
from inference_server.wire import contract

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

MORE_MODELS = SHARED / "more-models"
INSECTS = MORE_MODELS / "mobilenet_v2_1.0_224_inat_insect_quant.tflite"
MOBILENET_V1 = MORE_MODELS / "mobilenet_v1_0.5_160_quant.tflite"


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every tiny model, each in its own folder (a labels.txt beside it where the
    format has no place for labels)."""
    root = tmp_path_factory.mktemp("tiny")
    models: dict[str, Path] = {"h5": tiny.save_teachable_h5(root / "teachable")}
    head = tiny.keras_head()
    for name in ("keras", "tflite-float32", "tflite-int8", "tflite-uint8"):
        (root / name).mkdir()
    models["keras"] = root / "keras" / "model.keras"
    head.save(models["keras"])
    (root / "keras" / "labels.txt").write_text(tiny.TEACHABLE_LABELS)
    for q in ("float32", "int8", "uint8"):
        models[f"tflite-{q}"] = tiny.save_tflite(head, root / f"tflite-{q}" / "model.tflite",
                                                 None if q == "float32" else q)
        (root / f"tflite-{q}" / "labels.txt").write_text(tiny.TEACHABLE_LABELS)
    (root / "onnx").mkdir()
    models["onnx"] = tiny.save_onnx(root / "onnx" / "model.onnx")
    return models


def classify(backend: object, images: np.ndarray) -> list[str]:
    probs = backend.predict(images)  # type: ignore[attr-defined]
    return [backend.labels[i] for i in probs.argmax(axis=1)]  # type: ignore[attr-defined]


def test_teachable_machine_labels_lose_their_index() -> None:
    assert parse_labels("0 cat\n1 dog house\n") == ["cat", "dog house"]
    assert parse_labels("1 cat\n2 dog\n") == ["1 cat", "2 dog"]  # not their own indexes
    assert parse_labels("0 cat\nbird\n") == ["0 cat", "bird"]


def test_teachable_machine_export_runs_as_exported(made: dict[str, Path]) -> None:
    """keras_model.h5 + labels.txt from Teachable Machine: tf.keras 2's HDF5, which
    Keras 3 alone refuses, loads and classifies with the labels beside it."""
    from inference_server.models.runtimes.keras import _import_keras

    keras = _import_keras(2, 0.0)
    with pytest.raises(Exception, match="groups"):
        keras.saving.load_model(made["h5"], compile=False)
    backend, _ = load_model(f"keras:{made['h5']}", "keras")
    try:
        assert classify(backend, tiny.solids()) == list(tiny.COLOURS)
        info = backend.info
        assert info.labels == list(tiny.COLOURS) and info.classes == 3
        assert info.labels_source == contract.LABELS_FROM_FILE
        assert info.labels_sha256 == hashlib.sha256(b"red\ngreen\nblue\n").hexdigest()
        assert (info.input, info.input_dtype, info.layout, info.platform) == (
            (32, 32, 3), "float32", "NHWC", contract.PLATFORM_KERAS)
        meta = info.metadata()
        assert meta[contract.META_INPUT] == "32x32x3" and meta[contract.META_CLASSES] == "3"
        assert set(meta) <= set(contract.ENDPOINT_METADATA_KEYS)
    finally:
        backend.close()


@pytest.mark.parametrize("model,runtime,dtype,platform", [
    ("keras", "keras", "float32", "keras"),
    ("keras", "openvino", "float32", "keras"),
    ("h5", "openvino", "float32", "keras"),
    ("tflite-float32", "litert", "float32", "tflite"),
    ("tflite-int8", "litert", "int8", "tflite"),
    ("tflite-uint8", "litert", "uint8", "tflite"),
    ("tflite-float32", "openvino", "float32", "tflite"),
    ("tflite-int8", "openvino", "int8", "tflite"),
    ("onnx", "openvino", "float32", "onnx"),
])
def test_each_format_classifies_with_its_labels(made: dict[str, Path], model: str, runtime: str,
                                                dtype: str, platform: str,
                                                tmp_path: Path) -> None:
    kind = model.split("-")[0].replace("h5", "keras")
    backend, _ = load_model(f"{kind}:{made[model]}", runtime,
                            LoadOptions(cache_dir=str(tmp_path)), batch_max=2)
    try:
        assert classify(backend, tiny.solids()) == list(tiny.COLOURS)
        assert backend.info.input_dtype == dtype and backend.info.platform == platform
        source = contract.LABELS_FROM_METADATA if model == "onnx" else contract.LABELS_FROM_FILE
        assert backend.info.labels_source == source
        assert backend.info.layout == ("NCHW" if model == "onnx" else "NHWC")
    finally:
        backend.close()


def test_openvino_ir_labels_from_rt_info(made: dict[str, Path], tmp_path: Path) -> None:
    """An IR with its labels in rt_info (OpenVINO Model API's model_info.labels)."""
    import openvino as ov

    model = ov.Core().read_model(str(made["onnx"]))
    model.set_rt_info("cyan magenta yellow", ["model_info", "labels"])
    ir = tmp_path / "model.xml"
    ov.save_model(model, str(ir))
    backend, _ = load_model(f"openvino:{ir}", "openvino")
    try:
        assert backend.labels == ["cyan", "magenta", "yellow"]
        assert backend.info.labels_source == contract.LABELS_FROM_METADATA
        assert backend.info.platform == contract.PLATFORM_OPENVINO
        assert classify(backend, tiny.solids()) == ["cyan", "magenta", "yellow"]
    finally:
        backend.close()


@pytest.mark.parametrize("runtime", ["litert", "openvino"])
def test_insect_model_labels_only_in_its_metadata(runtime: str) -> None:
    backend, _ = load_model(f"tflite:{_require(INSECTS)}", runtime)
    try:
        assert backend.info.classes == 1022 and len(backend.labels) == 1022
        assert backend.info.labels_source == contract.LABELS_FROM_METADATA
        decoder = Decoder(size=backend.input_size)
        photos = np.stack([decoder.decode((IMAGES / n).read_bytes())
                           for n in ("dragonfly.bmp", "sunflower.bmp")])
        top = classify(backend, photos)
        assert top[0].startswith("Micrathyria hagenii")
        assert top[1].startswith("Apis mellifera")
    finally:
        backend.close()


def test_another_network_and_size_keeps_imagenet_indexes() -> None:
    """MobileNetV1 0.5 at 160 px, 1001 outputs with background: results keep
    ImageNet's 0..999 (Egyptian cat is 285)."""
    backend, _ = load_model(f"tflite:{_require(MOBILENET_V1)}", "litert")
    try:
        assert backend.input_size == 160 and backend.info.input == (160, 160, 3)
        assert backend.info.classes == 1000 and backend.labels[285] == "Egyptian cat"
        cat = Decoder(size=160).decode((IMAGES / "cat.bmp").read_bytes())
        assert int(backend.predict(cat[None]).argmax()) == 285
    finally:
        backend.close()


def test_a_label_count_that_does_not_fit_names_both_numbers(made: dict[str, Path],
                                                           tmp_path: Path,
                                                           labels_file: Path) -> None:
    four = tmp_path / "four.txt"
    four.write_text("a\nb\nc\nd\n")
    with pytest.raises(ModelLoadError, match="4 labels but the model has 3 output classes"):
        load_model(f"onnx:{made['onnx']}", "openvino", labels_path=str(four))
    with pytest.raises(ModelLoadError, match="1001 labels but the model has 1022 output"):
        load_model(f"tflite:{_require(INSECTS)}", "litert", labels_path=str(labels_file))


def test_what_is_not_one_class_vector_is_refused(tmp_path: Path) -> None:
    boxes = tiny.save_onnx(tmp_path / "boxes.onnx", labels=None, output_shape=(1, 10, 4))
    with pytest.raises(ModelLoadError, match=r"output of shape \[1, 10, 4\]; expected one "
                                             "class vector"):
        load_model(f"onnx:{boxes}", "openvino")
    one = tiny.save_tflite(tiny.keras_head(classes=1), tmp_path / "one.tflite")
    with pytest.raises(ModelLoadError, match="has 1 output class; a classifier here has 2"):
        load_model(f"tflite:{one}", "litert")
    with pytest.raises(ModelLoadError, match="carries no class names"):
        load_model(f"onnx:{tiny.save_onnx(tmp_path / 'nolabels.onnx', labels=None)}",
                   "openvino")


GREY = np.full((1, tiny.SIZE, tiny.SIZE, 3), 128, np.uint8)


@pytest.mark.parametrize("model,runtime", [("tflite-float32", "litert"),
                                           ("tflite-int8", "litert"),
                                           ("onnx", "openvino"), ("keras", "keras")])
def test_model_yaml_input_overrides_apply(made: dict[str, Path], model: str,
                                          runtime: str) -> None:
    kind = model.split("-")[0]
    text = f"{kind}:{made[model]}"
    bgr = ModelConfig(input=InputOverrides(color_order="BGR"))
    backend, _ = load_model(text, runtime, config=bgr)
    try:  # fed BGR, the model sees red as blue
        assert classify(backend, tiny.solids()) == ["blue", "green", "red"]
    finally:
        backend.close()
    # Grey is nothing in [-1, 1]; with red's mean at 0 it is red.
    shifted = ModelConfig(input=InputOverrides(mean=(0.0, 127.5, 127.5)))
    backend, _ = load_model(text, runtime, config=shifted)
    try:
        assert classify(backend, GREY) == ["red"]
    finally:
        backend.close()


def test_an_open_input_size_comes_from_model_yaml(tmp_path: Path) -> None:
    path = tiny.save_onnx(tmp_path / "open.onnx", input_shape=("n", 3, "h", "w"))
    with pytest.raises(ModelLoadError, match="input.size in model.yaml"):
        load_model(f"onnx:{path}", "openvino")
    sized = ModelConfig(input=InputOverrides(size=(48, 48)))
    backend, _ = load_model(f"onnx:{path}", "openvino", config=sized, batch_max=2)
    try:
        assert backend.input_size == 48 and backend.info.input == (48, 48, 3)
        assert classify(backend, tiny.solids(48)) == list(tiny.COLOURS)
    finally:
        backend.close()


def test_auto_keeps_one_choice_per_model(made: dict[str, Path], tmp_path: Path) -> None:
    opts = LoadOptions(cache_dir=str(tmp_path), timing_s=0.05)
    for model in ("tflite-float32", "tflite-int8"):
        backend, choice = load_model(f"tflite:{made[model]}", "auto", opts, batch_max=2)
        backend.close()
        assert choice.how == "timed"
    entries = sorted((tmp_path / CHOICES).glob("*.json"))
    assert len(entries) == 2
    assert {json.loads(e.read_text())["model"] for e in entries} == {
        f"tflite:{made['tflite-float32']}", f"tflite:{made['tflite-int8']}"}
    backend, choice = load_model(f"tflite:{made['tflite-int8']}", "auto", opts, batch_max=2)
    backend.close()
    assert choice.how == "cached"

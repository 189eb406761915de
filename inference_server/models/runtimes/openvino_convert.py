"""Every MODEL as an OpenVINO model that takes uint8 RGB (1, size, size, 3).

`.tflite`, ONNX and IR files are read by OpenVINO's own frontends; Keras models are
converted once (openvino.convert_model on the Keras model, about half a minute) and
kept in the model cache as IR, keyed by the file's hash, the versions of OpenVINO and
Keras, and the CPU. A float model gets its normalisation ((x - mean) / std per
channel from uint8 pixels, default [-1, 1]; model.yaml says otherwise), colour order
and layout inside its graph (OpenVINO's PrePostProcessor), so the worker hands it the
decoded pixels as they are, as it does to LiteRT. Labels come from a labels file, the
.tflite metadata's label file, an ONNX model's `metadata_props` or an IR's rt_info.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from ...ops.log import log_fields
from ...wire.contract import LABELS_FROM_IMAGENET, LABELS_SOURCES, PLATFORM_KERAS, \
    PLATFORM_ONNX, PLATFORM_OPENVINO, PLATFORM_TFLITE
from ..base import ModelLoadError
from ..classifier import LAYOUT_NHWC, ImageInput, ModelInfo, class_vector, image_input, \
    pixel_table
from ..labels import LABELS_TXT, ClassLabels, LabelsError, embedded_labels, labels_from_text, \
    match_labels, read_label_lines, resolve_labels
from ..model_cache import ModelCache, cpu_key, file_digest, slug, text_digest
from ..model_config import InputOverrides
from ..outputs import OutputMapping
from ..spec import ModelSpec

log = logging.getLogger(__name__)

IR_XML = "model.xml"
LABELS_SOURCE_TXT = "labels_source.txt"  # beside a cached IR: where its labels came from
PLATFORMS = {"tflite": PLATFORM_TFLITE, "onnx": PLATFORM_ONNX, "openvino": PLATFORM_OPENVINO,
             "keras": PLATFORM_KERAS}
# Where models keep their class names in rt_info: OpenVINO Model API's `model_info`
# (space-separated; first: written for OpenVINO on purpose), and an ONNX model's
# metadata_props (OpenVINO's ONNX frontend puts them under `framework`, and an IR saved
# from it keeps them; `names` is Ultralytics' dict).
_RT_LABEL_KEYS = (("model_info", "labels"), ("framework", "labels"), ("framework", "classes"),
                  ("framework", "names"))


@dataclass
class Source:
    """A model ready to compile: uint8 NHWC input of batch 1, its output mapping,
    its labels, whether it computes in float (INT8 calibration applies), and a cache
    key naming it. `feed`/`lut`: what numpy does to the pixels before OpenVINO (an
    integer .tflite input's quantization); the rest happens in the graph."""

    model: Any  # openvino.Model
    output: OutputMapping
    labels: ClassLabels
    is_float: bool
    key: str
    image: ImageInput
    info: ModelInfo
    lut: np.ndarray | None = None  # pixel -> input value, for int8 .tflite inputs
    feed: ImageInput | None = None  # the numpy side of `lut`: colour order, NHWC

    @property
    def input_size(self) -> int:
        return self.image.size


def openvino_version() -> str:
    import openvino as ov

    return str(ov.__version__).split("-")[0]


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "none"


def _labels(classes: int, where: str, labels_path: str | None,
            found: list[str] | None) -> ClassLabels:
    try:
        return resolve_labels(classes, where, labels_path, found)
    except LabelsError as exc:
        raise ModelLoadError(str(exc)) from None


def read_source(core: Any, spec: ModelSpec, labels_path: str | None, num_threads: int,
                cache: ModelCache | None, overrides: InputOverrides | None = None) -> Source:
    overrides = overrides or InputOverrides()
    if spec.kind == "keras":
        return _keras_source(core, spec, labels_path, num_threads, cache, overrides)
    assert spec.path is not None
    path = Path(spec.path)
    if not path.is_file():
        raise ModelLoadError(f"the model file {path} does not exist")
    try:
        model = core.read_model(str(path))
    except Exception as exc:  # OpenVINO raises RuntimeError and its own types
        raise ModelLoadError(f"OpenVINO cannot read {path} ({_short(exc)})") from None
    key = f"{spec.kind}-{file_digest(path)}"
    where = str(path)
    classes = _classes(model, where)
    image = image_input(_input_dims(model), overrides, where)
    if spec.kind == "tflite":
        return _tflite_source(model, path, labels_path, key, classes, image)
    # ONNX and IR: a float (or uint8) image input, float scores out.
    labels = _labels(classes, where, labels_path, rt_info_labels(model))
    in_dtype = np.dtype(model.inputs[0].get_element_type().to_dtype())
    source = Source(model, _float_output(model, labels), labels, is_float=_is_float(model),
                    key=key, image=image,
                    info=ModelInfo.of(labels, image, in_dtype, PLATFORMS[spec.kind]))
    _prepare_input(source)
    return source


def rt_info_labels(model: Any) -> list[str] | None:
    """Class names an ONNX model's metadata_props or an IR's rt_info carry, if any."""
    for path in _RT_LABEL_KEYS:
        try:
            if not model.has_rt_info(list(path)):
                continue
            text = str(model.get_rt_info(list(path)).astype(str))
        except RuntimeError:
            continue
        found = (text.split() if path[0] == "model_info" and "\n" not in text
                 else labels_from_text(text))
        if found and len(found) >= 2:
            return found
    return None


def _tflite_source(model: Any, path: Path, labels_path: str | None, key: str, classes: int,
                   image: ImageInput) -> Source:
    """OpenVINO runs the .tflite graph as LiteRT does, quantized tensors included: the
    same pixel mapping in, the same dequantization out (read from the file)."""
    raw = path.read_bytes()
    in_dtype, in_scale, in_zero, out_scale, out_zero = tflite_io_quantization(raw)
    labels = _labels(classes, str(path), labels_path, embedded_labels(raw))
    out_type = model.outputs[0].get_element_type().to_dtype()
    output = OutputMapping(np.dtype(out_type), out_scale, out_zero, labels.offset)
    source = Source(model, output, labels, is_float=_is_float(model), key=key, image=image,
                    info=ModelInfo.of(labels, image, in_dtype, PLATFORM_TFLITE))
    if in_dtype == np.float32:
        _prepare_input(source)  # preprocessing in the graph
    else:
        source.feed = replace(image, layout=LAYOUT_NHWC)
        source.lut = pixel_table(image, in_dtype, in_scale, in_zero)
        _prepare_input(source, preprocess=False)
    return source


def tflite_io_quantization(raw: bytes) -> tuple[np.dtype, float, int, float, float]:
    """(input dtype, input scale, input zero point, output scale, output zero point) of
    a .tflite file's one input and output, read from its flatbuffer."""
    from ai_edge_litert import schema_py_generated as schema

    types = {schema.TensorType.UINT8: np.uint8, schema.TensorType.INT8: np.int8,
             schema.TensorType.FLOAT32: np.float32}
    m = schema.Model.GetRootAs(raw, 0)
    sg = m.Subgraphs(0)

    def quant(tensor: Any) -> tuple[float, float]:
        q = tensor.Quantization()
        if q is None or q.ScaleLength() == 0:
            return 0.0, 0.0
        return float(q.Scale(0)), float(q.ZeroPoint(0)) if q.ZeroPointLength() else 0.0

    inp = sg.Tensors(sg.Inputs(0))
    out = sg.Tensors(sg.Outputs(0))
    in_dtype = np.dtype(types.get(inp.Type(), np.float32))
    in_scale, in_zero = quant(inp)
    out_scale, out_zero = quant(out)
    return in_dtype, in_scale, int(in_zero), out_scale, out_zero


def _dims(partial_shape: Any) -> list[int | None]:
    if partial_shape.rank.is_dynamic:
        return []
    return [None if d.is_dynamic else int(d.get_length()) for d in partial_shape]


def _input_dims(model: Any) -> list[int | None]:
    return _dims(model.inputs[0].get_partial_shape())


def _classes(model: Any, where: str) -> int:
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ModelLoadError(f"{where} has {len(model.inputs)} inputs and "
                             f"{len(model.outputs)} outputs; expected an image classifier "
                             "with one of each")
    shape = model.outputs[0].get_partial_shape()
    if shape.rank.is_dynamic:
        raise ModelLoadError(f"{where} has an output of unknown shape {shape}")
    dims = _dims(shape)
    if dims and dims[0] is None:
        dims[0] = 1  # a dynamic batch
    return class_vector(dims, where)


def _float_output(model: Any, labels: ClassLabels) -> OutputMapping:
    out_type = np.dtype(model.outputs[0].get_element_type().to_dtype())
    return OutputMapping(out_type, 0.0, 0.0, labels.offset)


def _is_float(model: Any) -> bool:
    """Whether the graph computes in float: no quantization nodes (an int8 .tflite, an
    INT8 IR or an ONNX with QuantizeLinear has them)."""
    quantized = {"FakeQuantize", "QuantizeLinear", "DequantizeLinear"}
    return not any(op.get_type_name() in quantized for op in model.get_ops())


def _prepare_input(source: Source, preprocess: bool = True) -> None:
    """Batch 1 (and the size model.yaml gives where the file leaves it open), uint8
    NHWC RGB in; for float inputs the conversion, colour order and (x - mean) / std in
    the graph; a channels-first input (N, 3, H, W) is fed NHWC all the same."""
    import openvino as ov
    from openvino.preprocess import PrePostProcessor

    model = source.model
    image = source.image
    param = model.inputs[0]
    dims = _input_dims(model)
    if image.layout == LAYOUT_NHWC:
        fixed = [1, image.height, image.width, dims[3] or 3]
    else:
        fixed = [1, dims[1] or 3, image.height, image.width]
    if dims != fixed:
        model.reshape(ov.PartialShape(fixed))
    in_type = param.get_element_type()
    in_graph = preprocess and in_type.is_real()
    bgr = image.color_order == "BGR" and source.feed is None
    if not in_graph and not bgr and image.layout == LAYOUT_NHWC:
        return
    ppp = PrePostProcessor(model)
    tensor = ppp.input().tensor()
    tensor.set_layout(ov.Layout("NHWC"))
    ppp.input().model().set_layout(ov.Layout(image.layout))
    steps = ppp.input().preprocess()
    if in_graph:
        tensor.set_element_type(ov.Type.u8)
        steps.convert_element_type(ov.Type.f32)
        steps.mean(list(image.mean)).scale(list(image.std))
    if bgr:
        steps.reverse_channels()
    source.model = ppp.build()


def _ir_labels(path: Path) -> tuple[list[str], str] | None:
    """An IR this worker wrote keeps its class names beside it (labels.txt), and
    where they came from (labels_source.txt)."""
    beside = path.parent / LABELS_TXT
    if not beside.is_file():
        return None
    try:
        labels = read_label_lines(beside)
        source = (path.parent / LABELS_SOURCE_TXT).read_text(encoding="utf-8").strip()
    except LabelsError:
        return None
    except OSError:
        source = LABELS_FROM_IMAGENET  # written before the source was kept: ImageNet
    return labels, source if source in LABELS_SOURCES else LABELS_FROM_IMAGENET


def keras_cache_key(spec: ModelSpec) -> str:
    """Weights, converter and CPU: what the converted IR depends on."""
    weights = "imagenet" if spec.path is None else file_digest(spec.path)
    return (f"keras-{slug(weights)}-keras{_version('keras')}-tf{_version('tensorflow-cpu')}"
            f"-ov{openvino_version()}-{cpu_key()}")


def _keras_source(core: Any, spec: ModelSpec, labels_path: str | None, num_threads: int,
                  cache: ModelCache | None, overrides: InputOverrides) -> Source:
    if spec.path is not None and not Path(spec.path).is_file():
        raise ModelLoadError(f"Keras weights file {spec.path} does not exist")
    if spec.random_weights:  # new weights at every start: nothing to keep
        model, labels = convert_keras(spec, labels_path, num_threads, overrides)
        key = "keras-random"
    else:
        key = keras_cache_key(spec)
        model, labels = _cached_keras(core, spec, key, labels_path, num_threads, cache,
                                      overrides)
    _classes(model, spec.text)
    image = image_input(_input_dims(model), overrides, spec.text)
    source = Source(model, _float_output(model, labels), labels, is_float=True, key=key,
                    image=image, info=ModelInfo.of(labels, image, np.float32, PLATFORM_KERAS))
    _prepare_input(source)
    return source


def _cached_keras(core: Any, spec: ModelSpec, key: str, labels_path: str | None,
                  num_threads: int, cache: ModelCache | None,
                  overrides: InputOverrides) -> tuple[Any, ClassLabels]:
    entry = f"openvino/{key}"
    if cache is None:
        return convert_keras(spec, labels_path, num_threads, overrides)
    with cache.locked(entry):
        xml = cache.path(entry, IR_XML)
        if not xml.is_file():
            model, labels = convert_keras(spec, labels_path, num_threads, overrides)
            written = cache.publish_dir(entry, lambda d: save_ir(model, labels, d))
            log_fields(log, logging.INFO, "keras model converted for openvino",
                       cached=str(written) if written else "no (cache not writable)")
            return model, labels
    log_fields(log, logging.INFO, "openvino: converted keras model from the cache",
               path=str(xml))
    model = core.read_model(str(xml))
    classes = _classes(model, spec.text)
    if labels_path:
        return model, _labels(classes, spec.text, labels_path, None)
    kept = _ir_labels(xml)
    if kept is None:
        raise ModelLoadError(f"the converted model {xml} lost its {LABELS_TXT}; delete "
                             f"{xml.parent} to convert {spec.text} again")
    try:
        return model, match_labels(kept[0], classes, kept[1], str(xml.parent / LABELS_TXT))
    except LabelsError as exc:
        raise ModelLoadError(str(exc)) from None


def save_ir(model: Any, labels: ClassLabels, folder: Path) -> None:
    import openvino as ov

    ov.save_model(model, str(folder / IR_XML), compress_to_fp16=False)
    (folder / LABELS_TXT).write_text("\n".join(labels.labels) + "\n", encoding="utf-8")
    (folder / LABELS_SOURCE_TXT).write_text(labels.source + "\n", encoding="utf-8")


def convert_keras(spec: ModelSpec, labels_path: str | None, num_threads: int,
                  overrides: InputOverrides | None = None) -> tuple[Any, ClassLabels]:
    """The Keras model (float input, not normalised) as an OpenVINO model, with its
    labels. Loads it with the Keras backend's own loader (TensorFlow)."""
    import openvino as ov

    from .keras import IMAGENET, KerasBackend

    weights = None if spec.random_weights else (spec.path or IMAGENET)
    start = time.perf_counter()
    keras_model = KerasBackend(weights, labels_path, num_threads, overrides=overrides)
    try:
        if keras_model.keras_backend != "tensorflow":
            raise ModelLoadError("converting Keras weights for OpenVINO needs "
                                 f"KERAS_BACKEND=tensorflow (it is {keras_model.keras_backend})")
        try:
            model = ov.convert_model(_functional(keras_model.model))
        except Exception as exc:  # the converter raises many types
            raise ModelLoadError(f"OpenVINO could not convert the Keras model "
                                 f"({_short(exc)})") from exc
        labels = keras_model.class_labels
    finally:
        keras_model.close()
    log_fields(log, logging.INFO, "keras model converted", model=spec.text,
               s=round(time.perf_counter() - start, 1))
    return model, labels


def _functional(model: Any) -> Any:
    """A Sequential model (Teachable Machine's) as a functional one of one input:
    OpenVINO's converter traces Keras 3 Sequential models with a dict of inputs, which
    they refuse."""
    import keras

    if not isinstance(model, keras.Sequential):
        return model
    inp = keras.Input(model.input_shape[1:], name="image")
    return keras.Model(inp, model(inp), name=model.name)


def calibration_key(source: Source, calibration_digest: str) -> str:
    return text_digest(source.key, calibration_digest, openvino_version(), _version("nncf"),
                       cpu_key())


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] if text else type(exc).__name__

"""Every MODEL as an OpenVINO model that takes uint8 RGB (1, size, size, 3).

`.tflite`, ONNX and IR files are read by OpenVINO's own frontends; Keras weights are
converted once (openvino.convert_model on the Keras model, about half a minute) and
kept in the model cache as IR, keyed by the weights file's hash, the versions of
OpenVINO and Keras, and the CPU. A float model gets MobileNetV2's preprocessing,
x/127.5 - 1 from uint8 pixels, inside its graph (OpenVINO's PrePostProcessor), so
the worker hands it the decoded pixels as they are, as it does to LiteRT.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from ..labels import LabelsError, embedded_labels, imagenet_labels, read_labels_file
from ...ops.log import log_fields
from ..base import ModelLoadError
from ..model_cache import ModelCache, cpu_key, file_digest, slug, text_digest
from ..outputs import OutputMapping, class_offset
from ..spec import ModelSpec

log = logging.getLogger(__name__)

_MEAN = 127.5  # MobileNetV2: real = (pixel - 127.5) / 127.5
_STD = 127.5
IR_XML = "model.xml"
LABELS_TXT = "labels.txt"


@dataclass
class Source:
    """A model ready to compile: uint8 NHWC input of batch 1, its output mapping,
    its labels, whether it computes in float (INT8 calibration applies), and a cache
    key naming it."""

    model: Any  # openvino.Model
    output: OutputMapping
    labels: list[str]
    is_float: bool
    key: str
    input_size: int
    lut: np.ndarray | None = None  # pixel -> input value, for int8 .tflite inputs


def openvino_version() -> str:
    import openvino as ov

    return str(ov.__version__).split("-")[0]


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "none"


def _labels(labels_path: str | None, fallback: list[str] | None, what: str) -> list[str]:
    try:
        if labels_path:
            return read_labels_file(labels_path)
    except LabelsError as exc:
        raise ModelLoadError(str(exc)) from None
    if fallback is None:
        raise ModelLoadError(f"{what} carries no class names; pass --labels <file> (WORKER_LABELS=...)")
    return fallback


def read_source(core: Any, spec: ModelSpec, labels_path: str | None, num_threads: int,
                cache: ModelCache | None) -> Source:
    if spec.kind == "keras":
        return _keras_source(core, spec, labels_path, num_threads, cache)
    assert spec.path is not None
    path = Path(spec.path)
    if not path.is_file():
        raise ModelLoadError(f"the model file {path} does not exist")
    try:
        model = core.read_model(str(path))
    except Exception as exc:  # OpenVINO raises RuntimeError and its own types
        raise ModelLoadError(f"OpenVINO cannot read {path} ({_short(exc)})") from None
    key = f"{spec.kind}-{file_digest(path)}"
    if spec.kind == "tflite":
        return _tflite_source(model, path, labels_path, key)
    # ONNX and IR: a float (or uint8) image input, float scores out.
    source = Source(model, _float_output(model, str(path)), [], is_float=_is_float(model),
                    key=key, input_size=0)
    source.labels = _labels(labels_path, _ir_labels(path) if spec.kind == "openvino" else None,
                            str(path))
    _prepare_input(source, str(path))
    return source


def _tflite_source(model: Any, path: Path, labels_path: str | None, key: str) -> Source:
    """OpenVINO runs the .tflite graph as LiteRT does, quantized tensors included: the
    same pixel mapping in, the same dequantization out (read from the file)."""
    from .litert import input_lut

    raw = path.read_bytes()
    quant = tflite_io_quantization(raw)
    found = embedded_labels(raw)
    try:
        fallback = imagenet_labels(found, f"the label file in {path.name}") if found else None
    except LabelsError as exc:
        raise ModelLoadError(str(exc)) from None
    in_dtype, in_scale, in_zero, out_scale, out_zero = quant
    out_type = model.outputs[0].get_element_type().to_dtype()
    output = OutputMapping(np.dtype(out_type), out_scale, out_zero,
                           class_offset(_classes(model, str(path)), str(path)))
    source = Source(model, output, _labels(labels_path, fallback, str(path)),
                    is_float=_is_float(model), key=key, input_size=0)
    if in_dtype == np.float32:
        _prepare_input(source, str(path))  # preprocessing in the graph
    else:
        _prepare_input(source, str(path), preprocess=False)
        source.lut = input_lut(in_dtype, in_scale, in_zero)
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


def _classes(model: Any, where: str) -> int:
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ModelLoadError(f"{where} has {len(model.inputs)} inputs and "
                             f"{len(model.outputs)} outputs; expected an image classifier "
                             "with one of each")
    shape = model.outputs[0].get_partial_shape()
    if shape.rank.is_dynamic or shape[shape.rank.get_length() - 1].is_dynamic:
        raise ModelLoadError(f"{where} has an output of unknown size {shape}")
    return int(shape[shape.rank.get_length() - 1].get_length())


def _float_output(model: Any, where: str) -> OutputMapping:
    out_type = np.dtype(model.outputs[0].get_element_type().to_dtype())
    return OutputMapping(out_type, 0.0, 0.0, class_offset(_classes(model, where), where))


def _is_float(model: Any) -> bool:
    """Whether the graph computes in float: no quantization nodes (an int8 .tflite, an
    INT8 IR or an ONNX with QuantizeLinear has them)."""
    quantized = {"FakeQuantize", "QuantizeLinear", "DequantizeLinear"}
    return not any(op.get_type_name() in quantized for op in model.get_ops())


def _prepare_input(source: Source, where: str, preprocess: bool = True) -> None:
    """Batch 1, uint8 NHWC in; for float inputs the conversion and x/127.5 - 1 in the
    graph. A channels-first input (N, 3, H, W) is fed NHWC all the same."""
    import openvino as ov
    from openvino.preprocess import PrePostProcessor

    model = source.model
    _classes(model, where)
    param = model.inputs[0]
    shape = param.get_partial_shape()
    if shape.rank.is_dynamic or shape.rank.get_length() != 4:
        raise ModelLoadError(f"{where} takes input of shape {shape}; expected images "
                             "(N, size, size, 3) or (N, 3, size, size)")
    dims = [None if d.is_dynamic else d.get_length() for d in shape]
    if dims[3] == 3 and dims[1] == dims[2] and dims[1]:
        layout, size = "NHWC", int(dims[1])
    elif dims[1] == 3 and dims[2] == dims[3] and dims[2]:
        layout, size = "NCHW", int(dims[2])
    else:
        raise ModelLoadError(f"{where} takes input of shape {shape}; expected square RGB "
                             "images (N, size, size, 3) or (N, 3, size, size)")
    if dims[0] != 1:
        model.reshape(ov.PartialShape([1, *[int(d) for d in dims[1:] if d is not None]]))
    source.input_size = size
    in_type = param.get_element_type()
    if not preprocess and layout == "NHWC":
        return
    ppp = PrePostProcessor(model)
    tensor = ppp.input().tensor()
    tensor.set_layout(ov.Layout("NHWC"))
    ppp.input().model().set_layout(ov.Layout(layout))
    if preprocess and in_type.is_real():
        tensor.set_element_type(ov.Type.u8)
        ppp.input().preprocess().convert_element_type(ov.Type.f32).mean(_MEAN).scale(_STD)
    source.model = ppp.build()


def _ir_labels(path: Path) -> list[str] | None:
    """An IR this worker wrote keeps its class names beside it (labels.txt)."""
    beside = path.parent / LABELS_TXT
    if not beside.is_file():
        return None
    try:
        return read_labels_file(beside)
    except LabelsError:
        return None


def keras_cache_key(spec: ModelSpec) -> str:
    """Weights, converter and CPU: what the converted IR depends on."""
    weights = "imagenet" if spec.path is None else file_digest(spec.path)
    return (f"keras-{slug(weights)}-keras{_version('keras')}-tf{_version('tensorflow-cpu')}"
            f"-ov{openvino_version()}-{cpu_key()}")


def _keras_source(core: Any, spec: ModelSpec, labels_path: str | None, num_threads: int,
                  cache: ModelCache | None) -> Source:
    if spec.path is not None and not Path(spec.path).is_file():
        raise ModelLoadError(f"Keras weights file {spec.path} does not exist")
    if spec.random_weights:  # new weights at every start: nothing to keep
        model, labels = convert_keras(spec, labels_path, num_threads)
        key = "keras-random"
    else:
        key = keras_cache_key(spec)
        model, labels = _cached_keras(core, spec, key, labels_path, num_threads, cache)
    source = Source(model, _float_output(model, spec.text), labels, is_float=True, key=key,
                    input_size=0)
    _prepare_input(source, spec.text)
    return source


def _cached_keras(core: Any, spec: ModelSpec, key: str, labels_path: str | None,
                  num_threads: int, cache: ModelCache | None) -> tuple[Any, list[str]]:
    entry = f"openvino/{key}"
    if cache is None:
        return convert_keras(spec, labels_path, num_threads)
    with cache.locked(entry):
        xml = cache.path(entry, IR_XML)
        if not xml.is_file():
            model, labels = convert_keras(spec, labels_path, num_threads)
            written = cache.publish_dir(entry, lambda d: save_ir(model, labels, d))
            log_fields(log, logging.INFO, "keras model converted for openvino",
                       cached=str(written) if written else "no (cache not writable)")
            return model, labels
    log_fields(log, logging.INFO, "openvino: converted keras model from the cache",
               path=str(xml))
    model = core.read_model(str(xml))
    return model, _labels(labels_path, _ir_labels(xml), str(xml))


def save_ir(model: Any, labels: list[str], folder: Path) -> None:
    import openvino as ov

    ov.save_model(model, str(folder / IR_XML), compress_to_fp16=False)
    (folder / LABELS_TXT).write_text("\n".join(labels) + "\n", encoding="utf-8")


def convert_keras(spec: ModelSpec, labels_path: str | None,
                  num_threads: int) -> tuple[Any, list[str]]:
    """The Keras model (float input, preprocessed) as an OpenVINO model, with its
    labels. Loads it with the Keras backend's own loader (TensorFlow)."""
    import openvino as ov

    from .keras import IMAGENET, KerasBackend

    weights = None if spec.random_weights else (spec.path or IMAGENET)
    start = time.perf_counter()
    keras_model = KerasBackend(weights, labels_path, num_threads)
    try:
        if keras_model.keras_backend != "tensorflow":
            raise ModelLoadError("converting Keras weights for OpenVINO needs "
                                 f"KERAS_BACKEND=tensorflow (it is {keras_model.keras_backend})")
        try:
            model = ov.convert_model(keras_model.model)
        except Exception as exc:  # the converter raises many types
            raise ModelLoadError(f"OpenVINO could not convert the Keras model "
                                 f"({_short(exc)})") from exc
        labels = list(keras_model.labels)
    finally:
        keras_model.close()
    log_fields(log, logging.INFO, "keras model converted", model=spec.text,
               s=round(time.perf_counter() - start, 1))
    return model, labels


def calibration_key(source: Source, calibration_digest: str) -> str:
    return text_digest(source.key, calibration_digest, openvino_version(), _version("nncf"),
                       cpu_key())


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] if text else type(exc).__name__

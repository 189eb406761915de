"""LiteRT (TFLite) backend for image classifiers in .tflite files, uint8/int8 quantized
or float: input size, layout and quantization read from the file, labels from its
metadata or a labels file, normalisation from model.yaml (default [-1, 1])."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from ...ops.log import log_fields
from ...wire.contract import PLATFORM_TFLITE
from ..base import ModelLoadError, predict_blank_batches
from ..classifier import LAYOUT_NHWC, ImageInput, ModelInfo, class_vector, image_input, \
    pixel_table, to_model_input
from ..labels import LabelsError, embedded_labels, resolve_labels
from ..model_config import InputOverrides
from ..outputs import OutputMapping
from .litert_batch import make_batch_dynamic

log = logging.getLogger(__name__)


def _interpreter_class() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:
        raise ModelLoadError(f"LiteRT (ai-edge-litert) is not installed ({exc})") from None
    return Interpreter


def input_lut(dtype: np.dtype, scale: float, zero_point: int) -> np.ndarray | None:
    """A 256-entry table mapping a pixel value to the input value of a model with the
    default normalisation ([-1, 1]), or None when raw pixels can be fed as they are
    (the usual uint8 MobileNet quantization, e.g. scale 1/128 zero point 128, or scale
    1/127.5 zero point 127). classifier.pixel_table says it for any normalisation."""
    return pixel_table(ImageInput(1, 1, LAYOUT_NHWC), dtype, scale, zero_point)


class TfliteBackend:
    kind = "tflite"

    def __init__(self, path: str, labels_path: str | None = None, num_threads: int = 2,
                 overrides: InputOverrides | None = None) -> None:
        self.path = Path(path)
        self.num_threads = num_threads
        try:
            self._model = self.path.read_bytes()
        except OSError as exc:
            raise ModelLoadError(
                f"cannot read the TFLite model {self.path}: {exc.strerror or exc}") from None
        self._runnable = self._model
        try:
            self._runnable, patched = make_batch_dynamic(self._model)
            log_fields(log, logging.DEBUG, "batch patch", reshapes_patched=patched)
        except Exception as exc:  # not a flatbuffer we understand: the interpreter says more
            log_fields(log, logging.DEBUG, "batch patch skipped", reason=str(exc)[:200])
        self._interps: dict[int, Any] = {}
        self._loop_batches = False  # True when the model cannot be resized to a batch
        interp = self._interpreter(1)
        inp = interp.get_input_details()
        out = interp.get_output_details()
        where = str(self.path)
        if len(inp) != 1 or len(out) != 1:
            raise ModelLoadError(f"{where} has {len(inp)} inputs and {len(out)} outputs; "
                                 "expected an image classifier with one of each")
        self.image: ImageInput = image_input([int(d) for d in inp[0]["shape"]],
                                             overrides or InputOverrides(), where)
        self.input_size = self.image.size
        self._in_index = int(inp[0]["index"])
        self._out_index = int(out[0]["index"])
        self.input_dtype = np.dtype(inp[0]["dtype"])
        if self.input_dtype not in (np.uint8, np.int8, np.float32):
            raise ModelLoadError(f"{where} takes {self.input_dtype} input; "
                                 "expected uint8, int8 or float32")
        in_scale, in_zero = inp[0]["quantization"]
        self._lut = pixel_table(self.image, self.input_dtype, float(in_scale), int(in_zero))
        classes = class_vector([int(d) for d in out[0]["shape"]], where)
        try:
            labels = resolve_labels(classes, where, labels_path, embedded_labels(self._model))
        except LabelsError as exc:
            raise ModelLoadError(str(exc)) from None
        out_scale, out_zero = (float(v) for v in out[0]["quantization"])
        self.output = OutputMapping(np.dtype(out[0]["dtype"]), out_scale, out_zero,
                                    labels.offset)
        self.info = ModelInfo.of(labels, self.image, self.input_dtype, PLATFORM_TFLITE)
        self.labels = self.info.labels

    def _interpreter(self, batch: int) -> Any:
        """One interpreter per batch size: resizing and re-allocating tensors (and
        re-preparing the XNNPACK delegate) on every size change would be costly."""
        interp = self._interps.get(batch)
        if interp is not None:
            return interp
        try:
            interp = _interpreter_class()(model_content=self._runnable,
                                          num_threads=self.num_threads)
            if batch != 1:
                idx = interp.get_input_details()[0]["index"]
                shape = list(interp.get_input_details()[0]["shape"])
                interp.resize_tensor_input(idx, [batch, *shape[1:]], strict=False)
            interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            if batch == 1:
                raise ModelLoadError(f"{self.path} is not a valid TFLite model ({exc})") from None
            raise
        self._interps[batch] = interp
        log_fields(log, logging.DEBUG, "tflite interpreter ready", batch=batch)
        return interp

    def warm_up(self, batch_max: int) -> None:
        """Create and run the interpreters for batch 1 and batch_max once."""
        predict_blank_batches(self, batch_max)

    def _run(self, x: np.ndarray) -> np.ndarray:
        n = int(x.shape[0])
        if n > 1 and not self._loop_batches:
            try:
                self._interpreter(n)
            except (ValueError, RuntimeError) as exc:
                log_fields(log, logging.WARNING,
                           "model cannot take batches; running frames one by one",
                           reason=str(exc)[:200])
                self._loop_batches = True
        if n > 1 and self._loop_batches:
            return np.concatenate([self._run(x[i:i + 1]) for i in range(n)])
        interp = self._interpreter(n)
        interp.set_tensor(self._in_index, x)
        interp.invoke()
        return interp.get_tensor(self._out_index)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return self.output.probabilities(self._run(to_model_input(batch, self.image, self._lut)))

    def close(self) -> None:
        self._interps.clear()

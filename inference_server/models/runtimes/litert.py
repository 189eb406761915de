"""LiteRT (TFLite) backend for MobileNetV2 .tflite files, uint8/int8 quantized or float."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from ..labels import LabelsError, embedded_labels, imagenet_labels, read_labels_file
from ...ops.log import log_fields
from ..base import ModelLoadError, predict_blank_batches
from ..outputs import OutputMapping, class_offset
from .litert_batch import make_batch_dynamic

log = logging.getLogger(__name__)

# MobileNetV2 wants real-valued input in [-1, 1]: real = (pixel - 127.5) / 127.5.
_MEAN = 127.5
_STD = 127.5


def _interpreter_class() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:
        raise ModelLoadError(f"LiteRT (ai-edge-litert) is not installed ({exc})") from None
    return Interpreter


def input_lut(dtype: np.dtype, scale: float, zero_point: int) -> np.ndarray | None:
    """A 256-entry table mapping a pixel value to the model's input value, or None
    when raw pixels can be fed as they are (the usual uint8 MobileNet quantization,
    e.g. scale 1/128 zero point 128, or scale 1/127.5 zero point 127)."""
    pixels = np.arange(256, dtype=np.float64)
    real = (pixels - _MEAN) / _STD
    if dtype == np.float32:
        return real.astype(np.float32)
    info = np.iinfo(dtype)
    if scale <= 0:  # not quantized: the model takes the integer pixels themselves
        return None if dtype == np.uint8 else np.clip(pixels, info.min, info.max).astype(dtype)
    if dtype == np.uint8 and abs(scale * _STD - 1.0) < 0.01 and abs(zero_point - _MEAN) <= 1.0:
        return None
    q = np.round(real / scale + zero_point)
    return np.clip(q, info.min, info.max).astype(dtype)


class TfliteBackend:
    kind = "tflite"

    def __init__(self, path: str, labels_path: str | None = None, num_threads: int = 2) -> None:
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
        if len(inp) != 1 or len(out) != 1:
            raise ModelLoadError(f"{self.path} has {len(inp)} inputs and {len(out)} outputs; "
                                 "expected an image classifier with one of each")
        shape = [int(s) for s in inp[0]["shape"]]
        if len(shape) != 4 or shape[1] != shape[2] or shape[3] != 3:
            raise ModelLoadError(f"{self.path} takes input of shape {shape}; expected "
                                 "[1, size, size, 3] RGB images")
        self.input_size = shape[1]
        self._in_index = int(inp[0]["index"])
        self._out_index = int(out[0]["index"])
        self.input_dtype = np.dtype(inp[0]["dtype"])
        if self.input_dtype not in (np.uint8, np.int8, np.float32):
            raise ModelLoadError(f"{self.path} takes {self.input_dtype} input; "
                                 "expected uint8, int8 or float32")
        in_scale, in_zero = inp[0]["quantization"]
        self._lut = input_lut(self.input_dtype, float(in_scale), int(in_zero))
        out_scale, out_zero = (float(v) for v in out[0]["quantization"])
        self.output = OutputMapping(np.dtype(out[0]["dtype"]), out_scale, out_zero,
                                    class_offset(int(out[0]["shape"][-1]), str(self.path)))
        self.labels = self._load_labels(labels_path)

    def _load_labels(self, labels_path: str | None) -> list[str]:
        try:
            if labels_path:
                return read_labels_file(labels_path)
            found = embedded_labels(self._model)
            if found is None:
                raise ModelLoadError(f"{self.path} carries no label file in its metadata; "
                                     "pass --labels <file> (WORKER_LABELS=...)")
            return imagenet_labels(found, f"the label file in {self.path.name}")
        except LabelsError as exc:
            raise ModelLoadError(str(exc)) from None

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
        x = batch if self._lut is None else self._lut[batch]
        return self.output.probabilities(self._run(x))

    def close(self) -> None:
        self._interps.clear()

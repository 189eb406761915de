"""A classifier's raw output as the worker's (N, 1000) float32 probabilities, whatever
the runtime: quantized outputs dequantized, logits through a softmax, a leading
`background` class dropped."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .labels import NUM_CLASSES
from .base import ModelLoadError


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def class_offset(classes: int, where: str) -> int:
    """1001 outputs: class 0 is "background", ImageNet class i is output i+1."""
    if classes not in (NUM_CLASSES, NUM_CLASSES + 1):
        raise ModelLoadError(f"{where} has {classes} output classes; expected an "
                             f"ImageNet classifier ({NUM_CLASSES} or {NUM_CLASSES + 1})")
    return classes - NUM_CLASSES


@dataclass(frozen=True)
class OutputMapping:
    """How to read one model's output: its quantization (scale 0: none) and its
    class offset."""

    dtype: np.dtype
    scale: float = 0.0
    zero_point: float = 0.0
    offset: int = 0

    def probabilities(self, out: np.ndarray) -> np.ndarray:
        if self.dtype != np.float32:
            if self.scale > 0:
                out = (out.astype(np.float32) - self.zero_point) * self.scale
            elif np.issubdtype(self.dtype, np.integer):
                # A quantized softmax whose scale the file does not say (an ONNX or IR
                # output): its values are the probabilities up to that scale.
                out = out.astype(np.float32)
                sums = out.sum(axis=-1, keepdims=True)
                out = np.divide(out, sums, out=np.full_like(out, 1.0 / out.shape[-1]),
                                where=sums > 0)
            else:
                out = out.astype(np.float32)
        else:
            sums = out.sum(axis=-1)
            if out.min() < 0 or out.max() > 1 or np.any(np.abs(sums - 1) > 0.05):
                out = softmax(out)  # logits, not probabilities
        return np.ascontiguousarray(out[:, self.offset:], dtype=np.float32)

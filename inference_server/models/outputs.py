"""A classifier's raw output as the worker's (N, classes) float32 probabilities,
whatever the runtime: quantized outputs dequantized, logits through a softmax, an
ImageNet model's leading `background` class dropped (labels.match_labels)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class OutputMapping:
    """How to read one model's output: its quantization (scale 0: none) and its
    class offset (the outputs before the first labelled class)."""

    dtype: np.dtype
    scale: float = 0.0
    zero_point: float = 0.0
    offset: int = 0

    def probabilities(self, out: np.ndarray) -> np.ndarray:
        out = out.reshape(len(out), -1)  # [N, 1, 1, classes] heads too
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

"""What every model backend offers the worker."""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np

MODEL_NAME = "mobilenet_v2"


class ModelLoadError(RuntimeError):
    """The model could not be loaded; the message is shown to the user as is."""


class Backend(Protocol):
    """A loaded classifier. `predict` is only ever called from one thread at a time."""

    kind: str  # "tflite" | "keras"
    input_size: int  # square input side, e.g. 224
    labels: Sequence[str]  # 1000 ImageNet class names

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """(N, size, size, 3) uint8 RGB -> (N, 1000) float32 class probabilities."""
        ...

    def close(self) -> None:
        ...

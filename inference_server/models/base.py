"""What every model backend offers the worker."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, Sequence

if TYPE_CHECKING:  # numpy is imported with the model: the worker's start stays light
    import numpy as np

    from .classifier import ModelInfo

MODEL_NAME = "mobilenet_v2"


class ModelLoadError(RuntimeError):
    """The model could not be loaded; the message is shown to the user as is."""


class Backend(Protocol):
    """A loaded classifier. `predict` is only ever called from one thread at a time."""

    kind: str  # "tflite" | "keras" | "openvino" | "torch-cuda": the runtime's adapter
    input_size: int  # square input side, e.g. 224
    labels: Sequence[str]  # the class names, labels[i] for column i of `predict` (= info.labels)
    info: ModelInfo  # what the worker advertises: labels, their source, input, platform

    def warm_up(self, batch_max: int) -> None:
        """Run the model at batch 1 and `batch_max`, and at every batch shape it
        compiles a program for (Keras: its buckets), so frames do not pay for first
        calls (allocation, weight packing, compiles). The worker says it is ready
        only after this."""
        ...

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """(N, size, size, 3) uint8 RGB -> (N, classes) float32 class probabilities."""
        ...

    def close(self) -> None:
        ...


def timing_pixels(size: int, n: int) -> np.ndarray:
    """`n` images of seeded random pixels, (n, size, size, 3) uint8: what WORKER_RUNTIME=auto
    times the runtimes on, and what OpenVINO's bf16 check compares on when no
    calibration images are given. The same images at every start."""
    import numpy as np

    return np.random.default_rng(0).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def predict_blank_batches(backend: Backend, batch_max: int) -> None:
    """The usual `warm_up`: predict black images at batch 1 and at `batch_max`."""
    import numpy as np

    size = backend.input_size
    for n in sorted({1, batch_max}):
        backend.predict(np.zeros((n, size, size, 3), np.uint8))

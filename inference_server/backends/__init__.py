"""Model backends and the MODEL spec that picks one."""

from __future__ import annotations

import os

from .base import MODEL_NAME, Backend, ModelLoadError

__all__ = ["MODEL_NAME", "Backend", "ModelLoadError", "load_backend"]


def load_backend(spec: str, labels_path: str | None = None, num_threads: int = 2,
                 gpu_memory_fraction: float = 0.0) -> Backend:
    """spec: "keras" (official ImageNet weights, downloaded), "keras:<weights file>",
    "tflite:<model.tflite>", or "keras-random" (random weights: tests and benchmarks).
    gpu_memory_fraction: Keras on a GPU (see config.py)."""
    # Interim, until the runtime registry (RUNTIME=auto|litert|openvino|keras) lands:
    # RUNTIME=torch-cuda asks for the GPU engine by name (backends/torch_gpu.py).
    if os.environ.get("RUNTIME", "").strip() == "torch-cuda":
        from .torch_gpu import load_torch_cuda

        backend = load_torch_cuda(spec, labels_path, gpu_memory_fraction, explicit=True)
        assert backend is not None  # explicit: it raises rather than skipping
        return backend
    if spec.startswith("tflite:"):
        from .tflite import TfliteBackend

        return TfliteBackend(spec[len("tflite:"):], labels_path, num_threads)
    if spec in ("keras", "keras-random") or spec.startswith("keras:"):
        from .keras_backend import IMAGENET, KerasBackend

        weights: str | None = IMAGENET
        if spec == "keras-random":
            weights = None
        elif spec.startswith("keras:"):
            weights = spec[len("keras:"):]
        return KerasBackend(weights, labels_path, num_threads, gpu_memory_fraction)
    raise ModelLoadError(f"unknown model {spec!r}")

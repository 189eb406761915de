"""Model backends, the MODEL spec that names a model and the RUNTIME that runs it."""

from __future__ import annotations

from .base import MODEL_NAME, Backend, ModelLoadError
from .spec import AUTO, ModelSpec, SpecError, parse_model

__all__ = ["MODEL_NAME", "Backend", "ModelLoadError", "ModelSpec", "SpecError", "load_backend",
           "parse_model"]


def load_backend(spec: str, labels_path: str | None = None, num_threads: int = 2,
                 gpu_memory_fraction: float = 0.0, runtime: str | None = None) -> Backend:
    """spec: a MODEL (spec.py): "keras" (official ImageNet weights, downloaded),
    "keras:<weights file>", "keras-random" (random weights: tests and benchmarks),
    "tflite:<model.tflite>", "onnx:<file>", "openvino:<file.xml>". runtime: who runs
    it (spec.py); None = the model's first runner (LiteRT for .tflite, Keras for Keras
    weights), not timed, not cached. gpu_memory_fraction: Keras on a GPU (config.py)."""
    from .selection import LoadOptions, load_runtime

    try:
        model = parse_model(spec)
    except SpecError as exc:
        raise ModelLoadError(f"unknown model {spec!r} ({exc})") from None
    chosen = model.runners[0] if runtime in (None, AUTO) else runtime
    opts = LoadOptions(labels=labels_path, threads=num_threads,
                       gpu_memory_fraction=gpu_memory_fraction)
    return load_runtime(str(chosen), model, opts, None)

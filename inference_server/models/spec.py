"""What runs (MODEL) and who runs it (RUNTIME).

MODEL names a model: `keras` (the official ImageNet weights, downloaded once and
cached by Keras), `keras:<weights file>`, `keras-random` (random weights: tests and
benchmarks), `tflite:<file>`, `onnx:<file>` or `openvino:<file.xml>` (OpenVINO IR).
RUNTIME names who runs it: `litert`, `openvino`, `keras` (Keras 3 on its
KERAS_BACKEND), `torch-cuda` (PyTorch on an NVIDIA GPU, runtimes/torch_cuda.py), or `auto`, which times those that can run the model and keeps the
fastest (selection.py).
"""

from __future__ import annotations

from dataclasses import dataclass

KERAS = "keras"
KERAS_RANDOM = "keras-random"
MODEL_KINDS = ("keras", "tflite", "onnx", "openvino")

LITERT = "litert"
OPENVINO = "openvino"
KERAS_RUNTIME = "keras"
TORCH_CUDA = "torch-cuda"
AUTO = "auto"
RUNTIMES = (LITERT, OPENVINO, KERAS_RUNTIME, TORCH_CUDA)
RUNTIME_CHOICES = (AUTO, *RUNTIMES)

# Who can run each kind of model, in the order `auto` tries them (the first wins a tie).
RUNNERS: dict[str, tuple[str, ...]] = {
    # torch-cuda last: where torch or a GPU is missing, `auto` skips it with a warning.
    "keras": (KERAS_RUNTIME, OPENVINO, TORCH_CUDA),
    "tflite": (LITERT, OPENVINO),
    "onnx": (OPENVINO,),
    "openvino": (OPENVINO,),
}

MODEL_FORMS = ("keras, keras:<weights file>, keras-random, tflite:<file.tflite>, "
               "onnx:<file.onnx> or openvino:<file.xml>")


class SpecError(ValueError):
    """MODEL or RUNTIME is not one this worker knows; the message says what is."""


@dataclass(frozen=True)
class ModelSpec:
    """A parsed MODEL. `path` is None for `keras` (ImageNet download) and
    `keras-random`."""

    kind: str  # one of MODEL_KINDS
    path: str | None = None
    random_weights: bool = False

    @property
    def text(self) -> str:
        if self.random_weights:
            return KERAS_RANDOM
        return self.kind if self.path is None else f"{self.kind}:{self.path}"

    @property
    def runners(self) -> tuple[str, ...]:
        """The runtimes that can run this model."""
        return RUNNERS[self.kind]

    @property
    def auto_runners(self) -> tuple[str, ...]:
        """The runtimes `auto` times. Random weights are new at every start, so their
        conversion for OpenVINO cannot be cached: Keras alone, unless named."""
        return (KERAS_RUNTIME,) if self.random_weights else self.runners


def parse_model(text: str) -> ModelSpec:
    if text == KERAS:
        return ModelSpec(KERAS)
    if text == KERAS_RANDOM:
        return ModelSpec(KERAS, random_weights=True)
    kind, sep, path = text.partition(":")
    if sep and kind in MODEL_KINDS and path:
        return ModelSpec(kind, path)
    raise SpecError(f"--model {text!r} must be {MODEL_FORMS}")


def check_runtime(spec: ModelSpec, runtime: str) -> None:
    """Raises SpecError when `runtime` is unknown or cannot run `spec`."""
    if runtime not in RUNTIME_CHOICES:
        raise SpecError(f"--runtime {runtime!r} must be one of {', '.join(RUNTIME_CHOICES)}")
    if runtime != AUTO and runtime not in spec.runners:
        raise SpecError(f"--runtime {runtime} cannot run a {spec.kind} model "
                        f"(WORKER_MODEL={spec.text}); it runs on {' or '.join(spec.runners)}")

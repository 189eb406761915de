"""A model-version loaded for serving: its repository entry, its warmed-up Backend, how
its runtime was chosen, and what its NATS endpoint says of it (endpoint_metadata,
docs/asyncapi.yaml EndpointMetadata)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Sequence

from ..wire import contract
from .base import Backend
from .load import load_model, options_for
from .repository import ModelVersion, is_repository, one_model_version
from .selection import RuntimeChoice

if TYPE_CHECKING:
    from ..config import Config

_INPUT_DTYPES = ("uint8", "int8", "float32")


@dataclass
class LoadedModel:
    version: ModelVersion
    backend: Backend
    choice: RuntimeChoice
    closed: bool = False

    @property
    def ref(self) -> str:
        return self.version.ref

    def close(self) -> None:
        """Free the model (once: its endpoint and the worker's exit may both ask)."""
        if not self.closed:
            self.closed = True
            self.backend.close()


def load_version(cfg: Config, version: ModelVersion) -> LoadedModel:
    """Load and warm up one model-version on cfg's RUNTIME (in a thread: it reads,
    converts and may time the runtimes). Raises ModelLoadError."""
    opts = replace(options_for(cfg), labels=version.labels)
    backend, choice = load_model(version.model, cfg.runtime, opts, cfg.batch_max)
    return LoadedModel(version, backend, choice)


def load_single(cfg: Config) -> LoadedModel:
    """The one model of a worker without a repository: MODEL, or the default one
    (default_model.py), named as repository.one_model_version says. Raises
    ModelLoadError."""
    from .default_model import resolve_default_model

    text = cfg.model or resolve_default_model(cfg.models_dirs, cfg.threads)
    return load_version(cfg, one_model_version(text, cfg.model_name or None, cfg.labels))


def repository_root(cfg: Config) -> str | None:
    """The model repository the worker serves: without MODEL, the first of MODELS_DIR's
    folders that is one (repository.is_repository); None: one model (load_single)."""
    if cfg.model:
        return None
    return next((d for d in cfg.models_dirs if is_repository(d)), None)


def labels_sha256(labels: Sequence[str]) -> str:
    """SHA-256 of the labels one per line, "\\n" after each (EndpointMetadata)."""
    return hashlib.sha256("".join(f"{label}\n" for label in labels).encode()).hexdigest()


def _labels_source(version: ModelVersion) -> str:
    """labels.txt when given; else a .tflite's own metadata; else the ImageNet labels
    (Keras, or what the runtime found)."""
    if version.labels:
        return contract.LABELS_FROM_FILE
    if version.platform == contract.PLATFORM_TFLITE:
        return contract.LABELS_FROM_METADATA
    return contract.LABELS_FROM_IMAGENET


def endpoint_metadata(loaded: LoadedModel) -> dict[str, str]:
    """The endpoint metadata of one model-version (strings only).

    Built from what the Backend offers today (its labels, input side, and LiteRT's
    input dtype); the loader that accepts any classifier will say more (labels source,
    input shape and layout), and this is the one place to read it from."""
    backend, version = loaded.backend, loaded.version
    dtype = str(getattr(backend, "input_dtype", "float32"))
    size = backend.input_size
    return {
        contract.META_MODEL: version.name,
        contract.META_VERSION: str(version.version),
        contract.META_TASK: contract.TASK_CLASSIFICATION,
        contract.META_CLASSES: str(len(backend.labels)),
        contract.META_LABELS_SHA256: labels_sha256(backend.labels),
        contract.META_LABELS_SOURCE: _labels_source(version),
        contract.META_INPUT: f"{size}x{size}x3",
        contract.META_INPUT_DTYPE: dtype if dtype in _INPUT_DTYPES else "float32",
        contract.META_LAYOUT: "NHWC",
        contract.META_PLATFORM: version.platform,
        contract.META_DISPLAY_NAME: version.config.display_name or "",
        contract.META_DESCRIPTION: version.config.description or "",
        **loaded.choice.metadata(),  # runtime, runtime_choice, precision, images/s
    }

"""A model-version loaded for serving: its repository entry, its warmed-up Backend, how
its runtime was chosen, and what its NATS endpoint says of it (endpoint_metadata,
docs/asyncapi.yaml EndpointMetadata)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..wire import contract
from .base import Backend
from .load import load_model, options_for
from .repository import ModelVersion, is_repository, one_model_version
from .selection import RuntimeChoice

if TYPE_CHECKING:
    from ..config import Config



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
    backend, choice = load_model(version.model, cfg.runtime, options_for(cfg), cfg.batch_max,
                                 config=version.config, labels_path=version.labels)
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


def endpoint_metadata(loaded: LoadedModel) -> dict[str, str]:
    """The endpoint metadata of one model-version (strings only): who it is (the
    repository's name and version, model.yaml's names), what the loader read of it
    (ModelInfo: classes, labels and their source, input), and who runs it."""
    version = loaded.version
    return {
        contract.META_MODEL: version.name,
        contract.META_VERSION: str(version.version),
        contract.META_TASK: contract.TASK_CLASSIFICATION,
        **loaded.backend.info.metadata(),  # classes, labels, input, dtype, layout, platform
        contract.META_DISPLAY_NAME: version.config.display_name or "",
        contract.META_DESCRIPTION: version.config.description or "",
        **loaded.choice.metadata(),  # runtime, runtime_choice, precision, images/s
    }

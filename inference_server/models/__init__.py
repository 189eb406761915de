"""The model: the MODEL text that names it and the RUNTIME that runs it (spec.py), the
one way to load it (load.py), and the runtimes' adapters (runtimes/)."""

from __future__ import annotations

from .base import MODEL_NAME, Backend, ModelLoadError
from .spec import AUTO, ModelSpec, SpecError, parse_model

__all__ = ["AUTO", "MODEL_NAME", "Backend", "ModelLoadError", "ModelSpec", "SpecError",
           "parse_model"]

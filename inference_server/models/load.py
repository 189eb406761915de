"""The one way a model is loaded, by the worker, the benchmarks and the tests alike:
MODEL text -> ModelSpec (spec.py, parsed once) -> the runtime that runs it, pinned or
timed under `auto` (selection.py) -> a warmed-up Backend and how it was chosen.

    MODEL text --parse_model, check_runtime--> ModelSpec
      --select_backend--> load_runtime --> runtimes/<runtime>.py --> Backend (warmed up)

The worker's options come from its Config (options_for); a benchmark that builds a
Config the same way measures the model as the worker would load it (the model cache,
the OpenVINO precision and calibration included).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from .base import Backend, ModelLoadError
from .labels import LABELS_TXT
from .model_config import ModelConfig
from .selection import LoadOptions, RuntimeChoice, select_backend
from .spec import AUTO, ModelSpec, SpecError, check_runtime, parse_model

if TYPE_CHECKING:
    from ..config import Config


def load_model(model: str, runtime: str = AUTO, opts: LoadOptions | None = None,
               batch_max: int = 1, config: ModelConfig | None = None,
               labels_path: str | None = None) -> tuple[Backend, RuntimeChoice]:
    """Load MODEL `model` on RUNTIME `runtime` and warm it up for batches up to
    `batch_max`. `config`: the model's model.yaml (its input overrides apply);
    `labels_path`: its labels file, else the options' (WORKER_LABELS), else a labels.txt
    beside the model file, else the labels in the model's metadata. The backend's
    `info` says what was found. Raises ModelLoadError (the MODEL or RUNTIME text is
    not one this worker knows, the runtime cannot run the model, the file cannot be
    read, it is not an image classifier, its labels do not fit)."""
    try:
        spec = parse_model(model)
        check_runtime(spec, runtime)
    except SpecError as exc:
        raise ModelLoadError(str(exc)) from None
    opts = opts or LoadOptions()
    opts = replace(opts, labels=labels_path or opts.labels or labels_beside(spec),
                   input=config.input if config is not None else opts.input)
    return select_backend(spec, runtime, opts, batch_max)


def labels_beside(spec: ModelSpec) -> str | None:
    """The labels.txt in the model file's folder, if there is one."""
    if spec.path is None:
        return None
    beside = Path(spec.path).parent / LABELS_TXT
    return str(beside) if beside.is_file() else None


def options_for(cfg: Config) -> LoadOptions:
    """The load options of the worker's config."""
    return LoadOptions(labels=cfg.labels, threads=cfg.threads,
                       gpu_memory_fraction=cfg.gpu_memory_fraction,
                       cache_dir=cfg.model_cache_dir or None,
                       openvino_precision=cfg.openvino_precision,
                       calibration_dir=cfg.calibration_dir, timing_s=cfg.runtime_timing_s)


def load_configured(cfg: Config) -> tuple[Backend, RuntimeChoice]:
    """The worker's model (MODEL, or the default one: default_model.py) on its RUNTIME
    (runs in a thread: it imports the runtimes, reads or converts the file, under
    `auto` times the runtimes). Raises ModelLoadError."""
    from .default_model import resolve_default_model

    text = cfg.model or resolve_default_model(cfg.models_dirs, cfg.threads)
    return load_model(text, cfg.runtime, options_for(cfg), cfg.batch_max)

"""Who runs the model: the runtime named by RUNTIME, or under `auto` the fastest of
those that can run it on this CPU.

`auto` loads each runtime that can run the model, times it for about a second
(WORKER_RUNTIME_TIMING_S) on full batches of random pixels, keeps the fastest and closes the
others. The figures and the choice are logged, and kept in the model cache keyed by
the model, the runtimes' versions, the CPU, the threads and the batch size: a later
start, or another worker starting at the same moment (it waits on the cache's lock),
loads the chosen runtime alone. Under `auto` a runtime that fails to load is skipped
with a warning; a runtime named by RUNTIME that fails to load stops the worker.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from ..ops.log import log_fields
from .base import Backend, ModelLoadError, timing_pixels
from .model_cache import ModelCache, cpu_key, cpu_name, file_digest, slug, text_digest
from .model_config import InputOverrides
from .spec import AUTO, KERAS_RUNTIME, LITERT, OPENVINO, TORCH_CUDA, ModelSpec

log = logging.getLogger(__name__)

# Distributions whose versions decide how fast each runtime is.
_RUNTIME_DISTS = {LITERT: ("ai-edge-litert",), OPENVINO: ("openvino", "nncf"),
                  KERAS_RUNTIME: ("keras", "tensorflow-cpu", "jax", "torch"),
                  TORCH_CUDA: ("torch",)}
CHOICES = "choices"


@dataclass(frozen=True)
class LoadOptions:
    """Everything a runtime needs to load a model, from the worker's config (and the
    model's own: its labels file and model.yaml's input overrides, load.py)."""

    labels: str | None = None
    input: InputOverrides = InputOverrides()
    threads: int = 2
    gpu_memory_fraction: float = 0.0
    cache_dir: str | None = None
    openvino_precision: str = "auto"
    calibration_dir: str | None = None
    timing_s: float = 1.0


@dataclass
class RuntimeChoice:
    """Which runtime runs the model and how it was picked: `pinned` (RUNTIME named
    it), `only` (the one runtime that can run this model), `timed` (auto, timed now)
    or `cached` (auto, timed at an earlier start). `figures`: images/s per runtime
    timed; `skipped`: runtimes that could not load, with why."""

    runtime: str
    how: str
    figures: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    precision: str = ""
    model: str = ""  # the MODEL it runs (the default resolved)

    def metadata(self) -> dict[str, str]:
        """For the micro service's info (strings only)."""
        data = {"runtime": self.runtime, "runtime_choice": self.how}
        if self.precision:
            data["precision"] = self.precision
        if self.figures:
            data["runtime_images_per_s"] = " ".join(
                f"{name}={rate:.1f}" for name, rate in sorted(self.figures.items()))
        return data


def _versions(runtime: str) -> str:
    found = []
    for dist in _RUNTIME_DISTS[runtime]:
        try:
            found.append(f"{dist}{metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            continue
    return ",".join(found)


def load_runtime(runtime: str, spec: ModelSpec, opts: LoadOptions,
                 cache: ModelCache | None) -> Backend:
    """Load `spec` on `runtime` (not warmed up). Raises ModelLoadError."""
    if runtime == LITERT:
        from .runtimes.litert import TfliteBackend

        assert spec.kind == "tflite" and spec.path is not None
        return TfliteBackend(spec.path, opts.labels, opts.threads, opts.input)
    if runtime == KERAS_RUNTIME:
        from .runtimes.keras import IMAGENET, KerasBackend

        weights = None if spec.random_weights else (spec.path or IMAGENET)
        return KerasBackend(weights, opts.labels, opts.threads, opts.gpu_memory_fraction,
                            overrides=opts.input)
    if runtime == OPENVINO:
        from .runtimes.openvino import OpenVinoBackend

        return OpenVinoBackend(spec, opts.labels, opts.threads, cache,
                               opts.openvino_precision, opts.calibration_dir,
                               overrides=opts.input)
    if runtime == TORCH_CUDA:
        from pathlib import Path

        from .runtimes.torch_cuda import load_torch_cuda

        if opts.input != InputOverrides():
            raise ModelLoadError("the torch-cuda runtime runs MobileNetV2 with its own "
                                 "preprocessing; model.yaml's input settings need another "
                                 "runtime")
        return load_torch_cuda(spec, opts.labels, opts.gpu_memory_fraction,
                               cache_dir=Path(opts.cache_dir) if opts.cache_dir else None)
    raise ModelLoadError(f"unknown runtime {runtime!r}")


def _load_warm(runtime: str, spec: ModelSpec, opts: LoadOptions, cache: ModelCache | None,
               batch_max: int) -> Backend:
    backend = load_runtime(runtime, spec, opts, cache)
    try:
        backend.warm_up(batch_max)
    except BaseException:
        backend.close()
        raise
    return backend


def time_backend(backend: Backend, batch_max: int, seconds: float) -> float:
    """Images/s on full batches of random pixels for about `seconds` (at least two
    calls)."""
    batch = timing_pixels(backend.input_size, batch_max)
    backend.predict(batch)
    calls = 0
    start = time.perf_counter()
    while calls < 2 or time.perf_counter() - start < seconds:
        backend.predict(batch)
        calls += 1
    return calls * batch_max / (time.perf_counter() - start)


def _model_key(spec: ModelSpec) -> str:
    if spec.path is None:
        return spec.text
    try:
        return f"{spec.kind}-{file_digest(spec.path)}"
    except OSError as exc:
        raise ModelLoadError(f"cannot read the model file {spec.path}: "
                             f"{exc.strerror or exc}") from None


def choice_entry(spec: ModelSpec, opts: LoadOptions, batch_max: int) -> str:
    """The cache entry (a file name) of the runtime choice for this model here."""
    key = text_digest(_model_key(spec), cpu_name(), str(opts.threads), str(batch_max),
                      opts.openvino_precision, opts.calibration_dir or "",
                      *(_versions(r) for r in spec.auto_runners))
    name = spec.path.rsplit("/", 1)[-1] if spec.path else spec.text
    return f"{CHOICES}/{slug(name)}-{cpu_key()}-{key}.json"


def select_backend(spec: ModelSpec, runtime: str, opts: LoadOptions,
                   batch_max: int) -> tuple[Backend, RuntimeChoice]:
    """The warmed-up backend that runs `spec`, and how it was chosen. Raises
    ModelLoadError (a named runtime that cannot load; under auto, none can)."""
    cache = ModelCache(opts.cache_dir) if opts.cache_dir else None
    if runtime != AUTO:
        try:
            backend = _load_warm(runtime, spec, opts, cache, batch_max)
        except ModelLoadError as exc:
            raise ModelLoadError(f"WORKER_RUNTIME={runtime} cannot run WORKER_MODEL={spec.text}: {exc}") \
                from None
        return backend, _described(RuntimeChoice(runtime, "pinned"), backend, spec)
    if len(spec.auto_runners) == 1:
        backend = _load_warm(spec.auto_runners[0], spec, opts, cache, batch_max)
        return backend, _described(RuntimeChoice(spec.auto_runners[0], "only"), backend, spec)
    entry = choice_entry(spec, opts, batch_max)
    if cache is None:
        return _time_all(spec, opts, None, batch_max, None)
    with cache.locked(entry):
        cached = cache.read_json(entry)
        chosen = cached.get("runtime") if cached else None
        if chosen in spec.auto_runners:
            try:
                backend = _load_warm(str(chosen), spec, opts, cache, batch_max)
            except ModelLoadError as exc:
                _skip_warning(str(chosen), exc)
            else:
                figures = {str(k): float(v) for k, v in (cached or {}).get("figures", {}).items()}
                choice = RuntimeChoice(str(chosen), "cached", figures)
                log_fields(log, logging.INFO, "runtime from the cache", runtime=chosen,
                           images_per_s=_figures_text(figures), entry=str(cache.path(entry)))
                return backend, _described(choice, backend, spec)
        return _time_all(spec, opts, cache, batch_max, entry)


def _time_all(spec: ModelSpec, opts: LoadOptions, cache: ModelCache | None, batch_max: int,
              entry: str | None) -> tuple[Backend, RuntimeChoice]:
    best: tuple[float, str, Backend] | None = None
    figures: dict[str, float] = {}
    skipped: dict[str, str] = {}
    for runtime in spec.auto_runners:
        try:
            backend = _load_warm(runtime, spec, opts, cache, batch_max)
        except ModelLoadError as exc:
            skipped[runtime] = str(exc)
            _skip_warning(runtime, exc)
            continue
        try:
            rate = time_backend(backend, batch_max, opts.timing_s)
        except Exception as exc:  # a runtime that loads but fails to run is skipped too
            backend.close()
            skipped[runtime] = f"failed to run ({exc})"
            _skip_warning(runtime, exc)
            continue
        figures[runtime] = rate
        if best is None or rate > best[0]:
            if best is not None:
                best[2].close()
            best = (rate, runtime, backend)
        else:
            backend.close()
    if best is None:
        raise ModelLoadError(f"no runtime can run WORKER_MODEL={spec.text}: " + "; ".join(
            f"{name}: {why}" for name, why in skipped.items()))
    _, runtime, backend = best
    choice = RuntimeChoice(runtime, "timed", figures, skipped)
    log_fields(log, logging.INFO, "runtime chosen: the fastest for this model on this CPU",
               runtime=runtime, images_per_s=_figures_text(figures), batch=batch_max,
               timing_s=opts.timing_s, skipped=",".join(skipped) or None)
    if cache is not None and entry is not None:
        cache.write_json(entry, {"runtime": runtime, "figures": figures, "model": spec.text,
                                 "cpu": cpu_name(), "threads": opts.threads,
                                 "batch_max": batch_max, "timed_at": time.time()})
    return backend, _described(choice, backend, spec)


def _described(choice: RuntimeChoice, backend: Any, spec: ModelSpec) -> RuntimeChoice:
    choice.precision = str(getattr(backend, "precision", "") or "")
    choice.model = spec.text
    return choice


def _figures_text(figures: dict[str, float]) -> str:
    return " ".join(f"{name}={rate:.1f}" for name, rate in sorted(figures.items()))


def _skip_warning(runtime: str, exc: BaseException) -> None:
    log_fields(log, logging.WARNING, "runtime skipped: it cannot load the model",
               runtime=runtime, error=str(exc)[:300])



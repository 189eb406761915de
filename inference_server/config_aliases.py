"""The worker's environment variables before they carried WORKER_: deprecated aliases.

Variables only the worker reads are named WORKER_… (WORKER_MODEL, WORKER_BATCH_MAX);
those the hub reads too stay shared and unprefixed (NATS_*, LOG_LEVEL, OTEL_*). The
old names still work for one release: each one used is warned about once, and where
both names are set the new one wins.
"""

from __future__ import annotations

import logging
from typing import Mapping

# New name -> the name it had before. Remove after the release that deprecates them
# (CHANGELOG.md, "Deprecated").
DEPRECATED_NAMES: dict[str, str] = {
    new: new.removeprefix("WORKER_") for new in (
        "WORKER_MODEL", "WORKER_RUNTIME", "WORKER_MODEL_CACHE_DIR", "WORKER_MODELS_DIR",
        "WORKER_CALIBRATION_DIR", "WORKER_OPENVINO_PRECISION", "WORKER_RUNTIME_TIMING_S",
        "WORKER_LABELS", "WORKER_TOP_K", "WORKER_BATCH_MAX", "WORKER_BATCH_WAIT_MS",
        "WORKER_CAPACITY", "WORKER_MAX_IMAGE_BYTES", "WORKER_MAX_PIXELS",
        "WORKER_SESSION_DECODE_MS", "WORKER_SESSION_FRAMES", "WORKER_QUEUE_GROUP",
        "WORKER_NUM_THREADS", "WORKER_GPU_MEMORY_FRACTION", "WORKER_TORCH_CUDA_MODE",
    )
}

_warned: set[str] = set()  # old names already warned about in this process


def _set(env: Mapping[str, str], key: str) -> bool:
    return bool((env.get(key) or "").strip())


def with_new_names(env: Mapping[str, str]) -> dict[str, str]:
    """env with each deprecated name's value under its WORKER_ name, unless that is set."""
    out = dict(env)
    for new, old in DEPRECATED_NAMES.items():
        if _set(env, old) and not _set(env, new):
            out[new] = env[old]
    return out


def env_value(env: Mapping[str, str], new: str) -> str | None:
    """The value of WORKER_ variable `new`, else of its deprecated name; None when unset."""
    for key in (new, DEPRECATED_NAMES.get(new, new)):
        if _set(env, key):
            return env[key].strip()
    return None


def warn_deprecated(env: Mapping[str, str], log: logging.Logger) -> list[str]:
    """Log a warning for each deprecated name set in env, once per process; returns the
    names warned about now."""
    warned = []
    for new, old in DEPRECATED_NAMES.items():
        if not _set(env, old) or old in _warned:
            continue
        _warned.add(old)
        warned.append(old)
        if _set(env, new):
            log.warning("%s is deprecated and ignored: %s is set too and wins", old, new)
        else:
            log.warning("%s is deprecated: name it %s (the old name goes in the next "
                        "release)", old, new)
    return warned

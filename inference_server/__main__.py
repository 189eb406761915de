"""`python -m inference_server`: config -> model -> serve over NATS -> exit code."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
import traceback
from typing import Sequence

from .backends import Backend, ModelLoadError, load_backend
from .config import Config, ConfigError, load_config
from .log import setup_logging
from .worker import Worker

log = logging.getLogger("inference_server")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2


def model_error_text(cfg: Config, exc: ModelLoadError) -> str:
    """One paragraph, no stack trace: what failed and the fix."""
    why = ("The official Keras weights need internet access. " if cfg.model == "keras"
           else "Check the path and the file. ")
    return (
        f"inference_server: cannot load the model (MODEL={cfg.model}): {exc}. {why}"
        "Fix: run the worker with a local model, "
        "MODEL=tflite:<path to a MobileNetV2 .tflite> (or --model tflite:<path>), e.g. "
        "MODEL=tflite:../shared/testdata/models/mobilenet_v2_1.0_224_quant.tflite, "
        "or MODEL=keras:<path to a .h5/.weights.h5/.keras weights file>. "
        "Run with --log-level debug for the full error."
    )


async def serve(cfg: Config, backend: Backend) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    worker = Worker(cfg, backend)
    await worker.run(stop)
    return EXIT_FAILED if worker.failed else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    try:
        cfg = load_config(argv)
    except ConfigError as exc:
        print(f"inference_server: invalid configuration: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    setup_logging(cfg.log_level, cfg.name)
    start = time.perf_counter()
    try:
        backend = load_backend(cfg.model, cfg.labels, cfg.threads)
        warm_up = getattr(backend, "warm_up", None)
        if warm_up is not None:
            warm_up(cfg.batch_max)
    except ModelLoadError as exc:
        print(model_error_text(cfg, exc), file=sys.stderr)
        if cfg.log_level == "debug":
            traceback.print_exception(exc)
        return EXIT_CONFIG
    log.info("model loaded", extra={"fields": {
        "model": cfg.model, "backend": backend.kind, "threads": cfg.threads,
        "load_ms": round((time.perf_counter() - start) * 1000.0, 1)}})
    try:
        code = asyncio.run(serve(cfg, backend))
    finally:
        backend.close()
    return code


if __name__ == "__main__":
    sys.exit(main())

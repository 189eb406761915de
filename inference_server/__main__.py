"""`python -m inference_server`: config -> model -> serve over NATS -> exit code.

SIGINT/SIGTERM are handled from the first thing the event loop does: before the model
loads (in a thread, so the loop keeps listening) and before the modules that serving
needs are imported (numpy, Pillow, nats-py, the model runtime), so a stop asked at any
moment after start-up ends the worker cleanly, exit 0, whatever it was waiting for.
Only light modules are imported at the top of this file for that reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
import traceback
from typing import TYPE_CHECKING, Sequence

from .ops import memory
from .config import Config, ConfigError, load_config
from .config_aliases import warn_deprecated
from .ops.health import Health
from .ops.log import log_fields, setup_logging
from .ops.metrics import MetricsServer, WorkerMetrics

if TYPE_CHECKING:
    from .models import ModelLoadError

log = logging.getLogger("inference_server")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2


def model_error_text(cfg: Config, exc: ModelLoadError) -> str:
    """One paragraph, no stack trace: what failed and the fix."""
    why = ("The official Keras weights need internet access. " if cfg.model in ("keras", "")
           else "Check the path and the file. ")
    return (
        f"inference_server: cannot load the model (WORKER_MODEL={cfg.model or '(not set)'}, "
        f"WORKER_RUNTIME={cfg.runtime}): {exc}. {why}"
        "Fix: run the worker with a local model, "
        "WORKER_MODEL=tflite:<path to a MobileNetV2 .tflite> (or --model tflite:<path>), e.g. "
        "WORKER_MODEL=tflite:../shared/testdata/models/mobilenet_v2_1.0_224_quant.tflite, "
        "or WORKER_MODEL=keras:<path to a .h5/.weights.h5/.keras weights file>. "
        "Run with --log-level debug for the full error."
    )


async def run(cfg: Config) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    metrics = WorkerMetrics()
    health = Health(loop)
    with contextlib.ExitStack() as stack:
        # Served from the start, so a probe sees "model loading" rather than nothing.
        if cfg.metrics_addr:
            stack.enter_context(MetricsServer(metrics, cfg.metrics_addr, health))
        return await load_and_serve(cfg, stop, metrics, health)


async def load_and_serve(cfg: Config, stop: asyncio.Event, metrics: WorkerMetrics,
                         health: Health) -> int:
    log_fields(log, logging.DEBUG, "starting: loading the model", model=cfg.model)
    from .models import ModelLoadError
    from .models.repository import ServeSelection
    from .models.served import LoadedModel, load_single, repository_root
    from .serving.repository_watch import RepositoryWatcher

    start = time.perf_counter()
    root = repository_root(cfg)
    repository = (RepositoryWatcher(cfg, root, ServeSelection.parse(cfg.serve))
                  if root is not None else None)
    if repository is not None:
        log_fields(log, logging.INFO, "serving the model repository", repository=root,
                   serve=cfg.serve or "all")
        loading: asyncio.Future[list[LoadedModel]] = asyncio.ensure_future(
            repository.load_initial())
    else:
        loading = asyncio.ensure_future(asyncio.to_thread(lambda: [load_single(cfg)]))
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait({loading, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if stop.is_set() and not loading.done():
        # A thread cannot be interrupted; loading takes seconds at most.
        log.info("stopping: waiting for the model to finish loading")
    try:
        models = await loading
    except ModelLoadError as exc:
        print(model_error_text(cfg, exc), file=sys.stderr)
        if cfg.log_level == "debug":
            traceback.print_exception(exc)
        return EXIT_CONFIG
    try:
        if stop.is_set():
            log.info("stopped before serving")
            return EXIT_OK
        for loaded in models:
            choice = loaded.choice
            log_fields(log, logging.INFO, "model loaded", model=loaded.ref,
                       file=choice.model, backend=loaded.backend.kind,
                       runtime=choice.runtime, chosen=choice.how,
                       precision=choice.precision or None, threads=cfg.threads)
        log_fields(log, logging.INFO, "models loaded", count=len(models),
                   load_ms=round((time.perf_counter() - start) * 1000.0, 1))
        health.model_loaded = True
        from .serving.serve import serve  # numpy, Pillow, nats-py: after the handlers are in

        failed = await serve(cfg, models, stop, metrics, health, repository)
        return EXIT_FAILED if failed else EXIT_OK
    finally:
        for loaded in models:
            loaded.close()


def main(argv: Sequence[str] | None = None) -> int:
    try:
        cfg = load_config(argv)
    except ConfigError as exc:
        print(f"inference_server: invalid configuration: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    setup_logging(cfg.log_level, cfg.name)
    warn_deprecated(os.environ, log)
    memory.keep_large_blocks_unpooled()
    return asyncio.run(run(cfg))


if __name__ == "__main__":
    sys.exit(main())

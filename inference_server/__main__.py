"""`python -m inference_server`: config -> model -> serve over NATS -> exit code."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

from .backends import Backend, ModelLoadError, load_backend
from .batcher import Batcher
from .config import Config, ConfigError, load_config
from .connection import NatsConnection, server_address
from .contract import FRAMES_WILDCARD
from .decode import Decoder
from .log import log_fields, setup_logging
from .metrics import MetricsServer, WorkerMetrics
from .tracing import Tracing
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


# Threads decoding images next to the model's own: decoding a webcam frame takes a
# fraction of a model call, so two keep the batcher fed on a small machine.
DECODE_THREADS = 2


async def serve(cfg: Config, backend: Backend) -> int:
    """Serve until SIGINT/SIGTERM, then drain: answer every frame already received."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    connection = NatsConnection(cfg, stop)
    metrics = WorkerMetrics()
    # Closed in reverse: the worker's subscriptions drain (every frame taken is
    # answered), then the connection, the batcher, the decode threads, the metrics
    # server, and last the tracer (exporting the spans of the frames drained).
    async with contextlib.AsyncExitStack() as stack:
        tracing = Tracing(cfg.tracing, cfg.otlp_protocol, cfg.name)
        stack.callback(tracing.shutdown)
        if cfg.metrics_addr:
            stack.enter_context(MetricsServer(metrics, cfg.metrics_addr))
        decode_pool = ThreadPoolExecutor(max_workers=DECODE_THREADS,
                                         thread_name_prefix="decode")
        stack.callback(decode_pool.shutdown, wait=True)
        batcher = await stack.enter_async_context(
            Batcher(backend.predict, cfg.batch_max, cfg.batch_wait_ms, metrics, tracing.tracer))
        nc = await connection.connect()
        if nc is None:
            return EXIT_FAILED if connection.failed else EXIT_OK
        stack.push_async_callback(connection.drain)
        decoder = Decoder(size=backend.input_size, max_bytes=cfg.max_image_bytes,
                          max_pixels=cfg.max_pixels)
        worker = await stack.enter_async_context(
            Worker(cfg, nc, backend, batcher, decoder, decode_pool, metrics, tracing.tracer))
        await nc.flush()
        log_fields(log, logging.INFO, "ready", subject=FRAMES_WILDCARD, queue=cfg.queue_group,
                   backend=backend.kind, batch_max=cfg.batch_max, capacity=cfg.held_max,
                   server=server_address(nc))
        await stop.wait()
        log.info("stopping: draining")
    log_fields(log, logging.INFO, "stopped", answered=worker.answered, errors=worker.errors,
               expired=worker.expired, full=worker.full_count, batches=batcher.batches,
               permission_violations=connection.permission_violations)
    return EXIT_FAILED if connection.failed else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    try:
        cfg = load_config(argv)
    except ConfigError as exc:
        print(f"inference_server: invalid configuration: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    setup_logging(cfg.log_level, cfg.name)
    start = time.perf_counter()
    try:
        backend = load_backend(cfg.model, cfg.labels, cfg.threads, cfg.gpu_memory_fraction)
        backend.warm_up(cfg.batch_max)
    except ModelLoadError as exc:
        print(model_error_text(cfg, exc), file=sys.stderr)
        if cfg.log_level == "debug":
            traceback.print_exception(exc)
        return EXIT_CONFIG
    log_fields(log, logging.INFO, "model loaded", model=cfg.model, backend=backend.kind,
               threads=cfg.threads, load_ms=round((time.perf_counter() - start) * 1000.0, 1))
    try:
        code = asyncio.run(serve(cfg, backend))
    finally:
        backend.close()
    return code


if __name__ == "__main__":
    sys.exit(main())

"""Serving: the tracer, the decode threads, the batcher, the NATS connection and the
Worker, owned by one AsyncExitStack, until the stop event; then drain (every frame
taken is answered). The metrics and probes server is the caller's (__main__.py): it
answers while the model loads too."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ..models import Backend
from ..models.selection import RuntimeChoice
from .batcher import Batcher
from ..config import Config
from .connection import NatsConnection, server_address
from ..wire.contract import FRAMES_WILDCARD
from ..ops.health import Health
from ..imaging.decoder import Decoder
from ..imaging.pool import DecodeService
from ..ops.log import log_fields
from ..ops.metrics import WorkerMetrics
from ..ops.tracing import Tracing
from .worker import Worker

log = logging.getLogger("inference_server")

# Threads decoding images next to the model's own: decoding a webcam frame takes a
# fraction of a model call, so two keep the batcher fed on a small machine.
DECODE_THREADS = 2


async def serve(cfg: Config, backend: Backend, stop: asyncio.Event,
                metrics: WorkerMetrics, health: Health,
                choice: RuntimeChoice | None = None) -> bool:
    """Serve until `stop` is set, then drain: answer every frame already received.
    True when it ended because the NATS connection failed (or never opened).
    `health` learns when the worker is connected, subscribed and stopping;
    `choice`: which runtime runs the model and why (metrics, the service's info)."""
    connection = NatsConnection(cfg, stop)
    if choice is not None:
        metrics.set_runtime(choice.runtime, choice.how, choice.precision, choice.figures)
    # Closed in reverse: the worker's subscriptions drain (every frame taken is
    # answered), then the connection, the batcher, the decode threads, and last the
    # tracer (exporting the spans of the frames drained).
    async with contextlib.AsyncExitStack() as stack:
        tracing = Tracing(cfg.tracing, cfg.otlp_protocol, cfg.name)
        stack.callback(tracing.shutdown)
        decoder = Decoder(size=backend.input_size, max_bytes=cfg.max_image_bytes,
                          max_pixels=cfg.max_pixels)
        decoding = await stack.enter_async_context(DecodeService(decoder, DECODE_THREADS))
        batcher = await stack.enter_async_context(
            Batcher(backend.predict, cfg.batch_max, cfg.batch_wait_ms, metrics, tracing.tracer))
        nc = await connection.connect()
        if nc is None:
            return connection.failed
        health.nats = nc
        stack.push_async_callback(connection.drain)
        worker = await stack.enter_async_context(
            Worker(cfg, nc, backend, batcher, decoding, metrics, tracing.tracer,
                   choice.metadata() if choice is not None else None))
        await nc.flush()
        health.subscribed = True
        if cfg.session_decode_ms == 0:
            log.warning("no decode budget per session (--session-decode-ms 0): one "
                        "session sending costly images can take the decode threads")
        log_fields(log, logging.INFO, "ready", subject=FRAMES_WILDCARD, queue=cfg.queue_group,
                   backend=backend.kind,
                   runtime=choice.runtime if choice is not None else None,
                   batch_max=cfg.batch_max, capacity=cfg.held_max,
                   server=server_address(nc))
        await stop.wait()
        health.stopping = True
        log.info("stopping: draining")
    # Every frame received is answered or expired (not answered: the hub has answered it).
    log_fields(log, logging.INFO, "stopped", received=worker.received,
               answered=worker.answered, errors=worker.errors,
               expired=worker.expired, full=worker.full_count, batches=batcher.batches,
               permission_violations=connection.permission_violations)
    return connection.failed

"""Serving: the tracer, the decode threads, the NATS connection and the Worker with its
model-versions (one endpoint, batcher and model thread each), owned by one
AsyncExitStack, until the stop event; then drain (every frame taken is answered). A
repository is watched meanwhile (repository_watch.py). The metrics and probes server
is the caller's (__main__.py): it answers while the models load too."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Sequence

from ..config import Config
from ..imaging.decoder import Decoder
from ..imaging.pool import DecodeService
from ..models.served import LoadedModel
from ..ops.health import Health
from ..ops.log import log_fields
from ..ops.metrics import WorkerMetrics
from ..ops.tracing import Tracing
from .connection import NatsConnection, server_address
from .repository_watch import RepositoryWatcher
from .worker import Worker

log = logging.getLogger("inference_server")

# Threads decoding images next to the models' own: decoding a webcam frame takes a
# fraction of a model call, so two keep the batchers fed on a small machine. Shared by
# every model-version (each frame is decoded to its own model's input size).
DECODE_THREADS = 2


async def serve(cfg: Config, models: Sequence[LoadedModel], stop: asyncio.Event,
                metrics: WorkerMetrics, health: Health,
                repository: RepositoryWatcher | None = None) -> bool:
    """Serve `models` (loaded and warmed up; the worker frees them) until `stop` is
    set, then drain: answer every frame already received. `repository`: the folder
    they came from, followed while serving. True when it ended because the NATS
    connection failed (or never opened). `health` learns when the worker is
    connected, subscribed and stopping."""
    connection = NatsConnection(cfg, stop)
    if models:
        choice = models[0].choice
        metrics.set_runtime(choice.runtime, choice.how, choice.precision, choice.figures)
    # Closed in reverse: the repository watch ends, the worker's subscriptions drain
    # (every frame taken is answered, the models are freed), then the connection, the
    # decode threads, and last the tracer (exporting the spans of the frames drained).
    async with contextlib.AsyncExitStack() as stack:
        tracing = Tracing(cfg.tracing, cfg.otlp_protocol, cfg.name)
        stack.callback(tracing.shutdown)
        decoder = Decoder(max_bytes=cfg.max_image_bytes, max_pixels=cfg.max_pixels)
        decoding = await stack.enter_async_context(DecodeService(decoder, DECODE_THREADS))
        nc = await connection.connect()
        if nc is None:
            return connection.failed
        health.nats = nc
        stack.push_async_callback(connection.drain)
        worker = await stack.enter_async_context(
            Worker(cfg, nc, decoding, models, metrics, tracing.tracer,
                   repository.errors if repository is not None else None))
        if repository is not None:
            watching = asyncio.get_running_loop().create_task(
                repository.watch(worker, stop), name="repository")
            stack.push_async_callback(_finish, watching)
        await nc.flush()
        health.subscribed = True
        if cfg.session_decode_ms == 0:
            log.warning("no decode budget per session (--session-decode-ms 0): one "
                        "session sending costly images can take the decode threads")
        log_fields(log, logging.INFO, "ready", models=" ".join(worker.models) or None,
                   model_errors=len(worker.model_errors) or None,
                   repository=repository.root if repository is not None else None,
                   queue=cfg.queue_group, batch_max=cfg.batch_max, capacity=cfg.held_max,
                   server=server_address(nc))
        await stop.wait()
        health.stopping = True
        log.info("stopping: draining")
    # Every frame received is answered or expired (not answered: the hub has answered it).
    log_fields(log, logging.INFO, "stopped", received=worker.received,
               answered=worker.answered, errors=worker.errors,
               expired=worker.expired, full=worker.full_count,
               permission_violations=connection.permission_violations)
    return connection.failed


async def _finish(task: asyncio.Task[None]) -> None:
    """The watch ends at the stop (after a load under way, which a thread cannot
    leave); it adds nothing once the stop is set."""
    await task

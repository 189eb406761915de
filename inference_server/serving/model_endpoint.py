"""One model-version the worker serves: its micro endpoint, its own place in that
endpoint's queue group (intake.py: each model-version has its own credit, so a worker
full with one model still takes frames of another), its batcher (one model thread) and
its result bodies. The worker's decode threads are shared; the decoder (input size) is
the model's.

Opened once the model is loaded and warmed up, so its first frames are no slower than
the others; closed by draining: the endpoint leaves the service, the frames already
taken are answered, then the batcher stops and the model is freed."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter

from nats.micro.service import Endpoint, Service
from opentelemetry.trace import Tracer

from ..config import Config
from ..imaging.decoder import Decoder
from ..models.served import LoadedModel, endpoint_metadata
from ..ops.metrics import OUTCOMES, Outcome, WorkerMetrics
from ..wire import contract
from ..wire.replies import Replies
from .batcher import Batcher
from .intake import Intake
from .service import (FrameHandler, add_endpoint, endpoint_subscription, remove_endpoint,
                      resubscribe)


class ModelEndpoint:
    def __init__(self, cfg: Config, loaded: LoadedModel, metrics: WorkerMetrics,
                 tracer: Tracer) -> None:
        version = loaded.version
        self.loaded = loaded
        self.ref = version.ref
        self.name = contract.endpoint_name(version.name, version.version)
        self.subject = contract.endpoint_subject(version.name, version.version)
        self.metadata = endpoint_metadata(loaded)
        self.top_k = version.config.top_k or cfg.top_k
        backend = loaded.backend
        self.decoder = Decoder(size=backend.input_size, max_bytes=cfg.max_image_bytes,
                               max_pixels=cfg.max_pixels)
        self.replies = Replies(backend.labels, cfg.name, version.name, version.version)
        self.batcher = Batcher(backend.predict, cfg.batch_max, cfg.batch_wait_ms, metrics,
                               tracer)
        self._cfg = cfg
        self.intake: Intake | None = None
        self.endpoint: Endpoint | None = None
        self.tasks: set[asyncio.Task[None]] = set()  # its frames being answered
        self.outcomes: Counter[Outcome] = Counter()

    async def open(self, service: Service, on_frame: FrameHandler) -> None:
        """Subscribe its endpoint and join the queue group with the room it has."""
        self.batcher.start()
        self.endpoint = await add_endpoint(
            service, name=self.name, subject=self.subject, queue_group=self._cfg.queue_group,
            on_frame=on_frame, metadata=self.metadata)
        endpoint = self.endpoint
        self.intake = Intake(lambda: resubscribe(endpoint), self._cfg.held_max,
                             rejoin_below=self._cfg.rejoin_below)
        self.intake.start(endpoint_subscription(endpoint))

    def stats(self) -> dict[str, int]:
        """Its frames by outcome (expired ones are not answered), and errors (every
        outcome but a result): the endpoint's stats data."""
        counts = {outcome: self.outcomes[outcome] for outcome in OUTCOMES}
        return {"frames": sum(counts.values()), **counts,
                "errors": counts["refused"] + counts["shed"] + counts["expired"]
                + counts["failed"]}

    async def drain(self, service: Service | None, timeout_s: float) -> None:
        """Leave the service and the queue group; answer every frame taken."""
        if service is not None and self.endpoint is not None:
            remove_endpoint(service, self.endpoint)
        if self.intake is not None:
            await self.intake.close(timeout_s)
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=timeout_s)

    async def close(self) -> None:
        """After drain: stop the model thread and free the model."""
        with contextlib.suppress(asyncio.CancelledError):
            await self.batcher.close()
        await asyncio.to_thread(self.loaded.close)

"""The NATS side: the micro service `inference` whose endpoint takes every frame (a
queue subscription on frames.>, which the intake leaves while the worker is full),
answer each frame still awaited; metrics and a span per frame."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from typing import Awaitable, Callable, Mapping

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.micro.service import Service
from opentelemetry.trace import (INVALID_SPAN, NoOpTracer, Span, SpanKind, Status, StatusCode,
                                 Tracer)

from ..wire import contract
from ..models.base import Backend
from .batcher import ATTR_BATCH_SIZE, BatchOutput, Batcher, Expired
from ..config import Config
from .connection import DRAIN_TIMEOUT_S
from ..imaging.decoder import ImageError
from ..imaging.fairness import BURST_SECONDS, FairShare
from ..imaging.pool import DecodeService
from .intake import Intake
from ..ops.log import log_fields
from ..wire.frame_meta import FrameMeta
from ..ops.metrics import OUTCOMES, Outcome, WorkerMetrics
from .replay import ReplayWatcher
from ..wire.replies import Replies, error_json, service_metadata
from .service import frames_subscription, resubscribe_frames, start_service, stop_service
from ..ops.tracing import PROPAGATOR, extract

# Span names and attributes of a frame in the worker (docs/metrics.md, "Traces").
SPAN_FRAME = "frame"
SPAN_DECODE = "decode"
SPAN_QUEUE_WAIT = "queue wait"
SPAN_INFERENCE = "inference"
ATTR_SESSION = "session.id"
ATTR_SEQ = "frame.seq"
ATTR_OUTCOME = "frame.outcome"
ATTR_WORKER = "worker.name"
ATTR_DESTINATION = "messaging.destination.name"
ATTR_ERROR_TYPE = "error.type"

log = logging.getLogger("inference_server.serving.worker")

# A frame's answer, given its span: (body or None when nobody waits, outcome, code).
Answer = Callable[[Span], Awaitable[tuple[bytes | None, Outcome, str | None]]]


class Worker:
    """Answers frames and pings on a connected client. Its parts are made and closed
    by its owner; `async with worker:` subscribes, and on leaving stops taking frames
    and answers every frame already taken."""

    def __init__(self, cfg: Config, nc: Client, backend: Backend, batcher: Batcher,
                 decoding: DecodeService, metrics: WorkerMetrics | None = None,
                 tracer: Tracer | None = None,
                 runtime_metadata: Mapping[str, str] | None = None) -> None:
        self.cfg = cfg
        self._runtime_metadata = dict(runtime_metadata or {})
        self.metrics = metrics or WorkerMetrics()
        self._tracer = tracer or NoOpTracer()
        # Off (no OTEL_* variable): a frame makes no span, parses no traceparent.
        self._tracing = not isinstance(self._tracer, NoOpTracer)
        self.service: Service | None = None
        self.backend = backend
        self._nc = nc
        self._batcher = batcher
        self._decoding = decoding
        self._replies = Replies(backend.labels, cfg.name)  # the labels' JSON, encoded once
        self._replays = ReplayWatcher(nc, self._replay_handler)
        self._subscriptions = contextlib.AsyncExitStack()
        self._tasks: set[asyncio.Task[None]] = set()
        self._fair = FairShare(cfg.session_decode_ms, cfg.session_decode_ms * BURST_SECONDS,
                               cfg.session_frames)
        # What the worker holds is bounded by its credit in the queue group: the
        # intake makes the frames endpoint's subscription anew with the room it has.
        self._intake = Intake(self._resubscribe_frames, cfg.held_max,
                              rejoin_below=cfg.rejoin_below)
        self.metrics.frames_held.set_function(lambda: self._intake.held)
        # Answers on one results subject leave in the order their frames arrived:
        # results subject -> future of the last frame's answer being sent.
        self._last_answer: dict[str, asyncio.Future[None]] = {}
        self.received = 0  # frames delivered to the worker, replayed ones included
        self.answered = 0
        self.errors = 0
        self.expired = 0  # frames not decoded nor inferred: the hub had given up on them

    async def __aenter__(self) -> "Worker":
        async with contextlib.AsyncExitStack() as stack:
            # The service answers its ping only once the frames endpoint is subscribed.
            self.service = await start_service(
                self._nc, frames_subject=contract.FRAMES_WILDCARD,
                queue_group=self.cfg.queue_group, on_frame=self._on_frame,
                stats=self.stats,
                metadata=service_metadata(self.cfg.name, self.backend.kind,
                                          self.cfg.batch_max, self._runtime_metadata))
            stack.push_async_callback(stop_service, self.service)
            self._intake.start(frames_subscription(self.service))
            self.metrics.frames_capacity.set(self._intake.capacity)
            stack.push_async_callback(self._drain_frames)
            await self._replays.start()
            stack.push_async_callback(self._replays.drain)
            self._subscriptions = stack.pop_all()
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Stop taking frames (replayed ones first), then finish every frame taken."""
        await self._subscriptions.aclose()

    @property
    def full_count(self) -> int:
        """Times the worker left the queue group because it held all it may."""
        return self._intake.pauses

    async def _resubscribe_frames(self) -> Subscription:
        assert self.service is not None  # the intake joins again only once started
        return await resubscribe_frames(self.service)

    async def _drain_frames(self) -> None:
        self.metrics.frames_capacity.set(0)  # a draining worker takes no more frames
        await self._intake.close(DRAIN_TIMEOUT_S)
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=DRAIN_TIMEOUT_S)

    # --- NATS callbacks -------------------------------------------------------------

    async def _on_frame(self, msg: Msg) -> None:
        self.received += 1
        target = None
        if msg.reply and msg.reply.startswith(contract.JS_ACK_PREFIX):
            # A replayed frame that reached the wildcard subscription (see replay.py).
            target = await self._replays.target_for(msg.reply)
        await self.take(msg, target)
        self._intake.delivered()  # it spent credit, taken or shed

    def _replay_handler(self, target: str) -> Callable[[Msg], Awaitable[None]]:
        async def on_replayed_frame(msg: Msg) -> None:
            self.received += 1
            await self.take(msg, target)

        return on_replayed_frame

    async def take(self, msg: Msg, target: str | None = None) -> None:
        """Take one frame as the frames subscription delivers it (`target`: the replay
        target of a replayed frame): answered later, in its session's order. The
        subscriptions call it; bench/worker/per_frame.py drives the worker with it."""
        # nats-py runs a subscription's callbacks one after another: hand each frame
        # to its own task so frames decode and batch together. Never wait here: the
        # frames behind this one would wait unseen (intake.py bounds what is held).
        meta = FrameMeta.parse(msg.subject, msg.headers, msg.reply, target)
        # Replays are started by the operator, not a client: not rationed.
        reason, started = self._fair.admit(meta.session) if target is None else (None, False)
        answer: Answer
        if reason is None:
            self._intake.taken()  # only frames to decode count as held
            answer = functools.partial(self._answer_for, msg, meta, target is None)
        else:  # answered at once; its bytes are not kept
            answer = functools.partial(self._shed, meta, reason, started, len(msg.data))
        ack = msg.reply if msg.reply and msg.reply.startswith(contract.JS_ACK_PREFIX) else None
        loop = asyncio.get_running_loop()
        previous = self._last_answer.get(meta.results_subject)
        mine: asyncio.Future[None] = loop.create_future()
        self._last_answer[meta.results_subject] = mine
        task = loop.create_task(self._handle_frame(answer, msg.headers, ack, meta, previous,
                                                   mine))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if reason is None:
            task.add_done_callback(self._frame_done)

    def _frame_done(self, task: asyncio.Task[None]) -> None:
        self._intake.done()

    def stats(self) -> dict[str, int]:
        """The micro service's stats data: frames taken, by outcome (expired ones are not
        answered), and errors (every outcome but a result)."""
        counts = {outcome: self.metrics.counted(outcome) for outcome in OUTCOMES}
        return {"frames": sum(counts.values()), **counts,
                "errors": counts["refused"] + counts["shed"] + counts["expired"]
                + counts["failed"]}

    # --- one frame ------------------------------------------------------------------

    async def _handle_frame(self, answer: Answer, headers: dict[str, str] | None,
                            ack: str | None, meta: FrameMeta,
                            previous: asyncio.Future[None] | None,
                            mine: asyncio.Future[None]) -> None:
        try:
            if not self._tracing:
                await self._frame(answer, ack, meta, previous, INVALID_SPAN)
                return
            # The hub's request span (traceparent) is the parent of the worker's frame span.
            with self._tracer.start_as_current_span(
                    SPAN_FRAME, context=extract(headers), kind=SpanKind.SERVER) as span:
                if span.is_recording():
                    span.set_attributes({ATTR_SESSION: meta.session, ATTR_SEQ: meta.seq,
                                         ATTR_WORKER: self.cfg.name,
                                         ATTR_DESTINATION: meta.subject})
                await self._frame(answer, ack, meta, previous, span)
        finally:
            if not mine.done():
                mine.set_result(None)
            if self._last_answer.get(meta.results_subject) is mine:
                del self._last_answer[meta.results_subject]

    async def _frame(self, answer: Answer, ack: str | None, meta: FrameMeta,
                     previous: asyncio.Future[None] | None, span: Span) -> None:
        body, outcome, code = await answer(span)
        self.metrics.count(outcome)
        if span.is_recording():
            span.set_attribute(ATTR_OUTCOME, outcome)
            if code:
                span.set_attribute(ATTR_ERROR_TYPE, code)
                span.set_status(Status(StatusCode.ERROR, code))
        if previous is not None:
            await asyncio.shield(previous)  # keep answers on a subject in order
        if body is not None:
            await self._answer(meta, body, span)
        if ack is not None:
            await self._ack(ack)  # a replayed frame: tell JetStream it is done

    async def _shed(self, meta: FrameMeta, reason: str, started: bool, size: int,
                    span: Span) -> tuple[bytes | None, Outcome, str | None]:
        """The answer to a frame over its session's share (imaging/fairness.py)."""
        self.errors += 1
        log_fields(log, logging.INFO if started else logging.DEBUG, "frame shed",
                   subject=meta.subject, session=meta.session, seq=meta.seq,
                   code=contract.CODE_RATE_LIMITED, reason=reason, bytes=size)
        return error_json(meta, contract.CODE_RATE_LIMITED, reason), "shed", (
            contract.CODE_RATE_LIMITED)

    async def _answer_for(self, msg: Msg, meta: FrameMeta, rationed: bool,
                          span: Span) -> tuple[bytes | None, Outcome, str | None]:
        """The answer's body, the frame's outcome and its error code (None for a result).

        A frame whose deadline passed has no answer (body None): the hub has answered
        it already and nobody waits, so it is neither decoded nor inferred (the batcher
        checks again before the model)."""
        decode_cpu_ms = 0.0
        try:
            if meta.expired(time.time()):
                raise Expired()
            decoded = await self._decoding.decode(meta.session, msg.data, meta.deadline)
            decode_cpu_ms = decoded.cpu_ms
            if isinstance(decoded.image, ImageError):
                raise decoded.image
            decode_ms = decoded.wall_ms
            self.metrics.decode.observe(decode_ms / 1000.0)
            if self._tracing:
                self._record(SPAN_DECODE, decoded.started_ns, decoded.ended_ns)
            out = await self._batcher.submit(
                decoded.image, span.get_span_context() if self._tracing else None,
                meta.deadline)
            if self._tracing:
                self._record_batch(out)
            body, top1 = self._replies.result(meta, out.probs, meta.top_k or self.cfg.top_k,
                                              decode_ms, out.infer_ms, out.batch)
            log_fields(log, logging.DEBUG, "frame", subject=meta.subject, seq=meta.seq,
                       top1=top1, decode_ms=round(decode_ms, 2),
                       infer_ms=round(out.infer_ms, 2), batch=out.batch,
                       traceparent=meta.traceparent)
            return body, "result", None
        except Expired:
            self.expired += 1
            log_fields(log, logging.DEBUG, "frame expired", subject=meta.subject, seq=meta.seq)
            return None, "expired", None
        except ImageError as exc:
            self.errors += 1
            log_fields(log, logging.INFO, "frame refused", subject=meta.subject, seq=meta.seq,
                       code=exc.code, reason=exc.message, bytes=len(msg.data),
                       content_type=meta.content_type)
            return error_json(meta, exc.code, exc.message), "refused", exc.code
        except Exception as exc:  # a bug or a model failure: answer "internal", keep serving
            self.errors += 1
            span.record_exception(exc)
            log_fields(log, logging.ERROR, "frame failed", exc_info=True,
                       subject=meta.subject, seq=meta.seq)
            body = error_json(meta, contract.CODE_INTERNAL, "inference failed")
            return body, "failed", contract.CODE_INTERNAL
        finally:
            if rationed:
                self._fair.done(meta.session, decode_cpu_ms)

    def _record(self, name: str, start_ns: int, end_ns: int,
                attributes: dict[str, int] | None = None) -> None:
        """A child span of the current frame span, for a stretch already timed."""
        self._tracer.start_span(name, start_time=start_ns,
                                attributes=attributes).end(end_time=end_ns)

    def _record_batch(self, out: BatchOutput) -> None:
        self._record(SPAN_QUEUE_WAIT, out.submitted_ns, out.started_ns)
        self._record(SPAN_INFERENCE, out.started_ns, out.ended_ns,
                     {ATTR_BATCH_SIZE: out.batch})

    async def _ack(self, ack_subject: str) -> None:
        if not self._nc.is_closed:
            with contextlib.suppress(nats.errors.Error):
                await self._nc.publish(ack_subject, contract.JS_ACK)

    async def _answer(self, meta: FrameMeta, body: bytes, span: Span) -> None:
        if self._nc.is_closed:
            return
        headers = meta.response_headers()
        if span.is_recording():
            PROPAGATOR.inject(headers)  # the reply's traceparent: the worker's frame span
        try:
            await self._nc.publish(meta.results_subject, body, headers=headers)
            if meta.reply:
                await self._nc.publish(meta.reply, body, headers=headers)
            self.answered += 1
        except (nats.errors.Error, OSError) as exc:
            log_fields(log, logging.WARNING, "could not publish the answer",
                       subject=meta.subject, error=str(exc))

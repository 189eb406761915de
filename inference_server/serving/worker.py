"""The NATS side: the micro service `inference` with one endpoint per model-version
served (model_endpoint.py: each a queue subscription on infer.{model}.{version}.>,
which its intake leaves while that model-version is full), answer each frame still
awaited with the model of its subject; metrics and a span per frame. A message with
Frame-Count is a batch of frames (wire/frame_batch.py): each of its frames takes the
path of a single frame, and the batch's one reply goes once all have their answers.
Model-versions are added (once loaded and warmed up) and removed (drained) while the
worker runs."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from typing import Awaitable, Callable, Mapping, Sequence

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.micro.service import Service
from opentelemetry.trace import (INVALID_SPAN, NoOpTracer, Span, SpanKind, Status, StatusCode,
                                 Tracer)

from ..wire import contract
from .batcher import ATTR_BATCH_SIZE, Expired
from ..config import Config
from .connection import DRAIN_TIMEOUT_S
from ..imaging.decoder import ImageError
from ..imaging.fairness import BURST_SECONDS, FairShare
from ..imaging.pool import DecodeService
from ..models.served import LoadedModel
from .in_flight import InFlight
from .model_endpoint import ModelEndpoint
from ..ops.log import log_fields
from ..wire import frame_batch
from ..wire.frame_batch import BadBatch
from ..wire.frame_meta import FrameMeta, is_plain_inbox
from ..ops.metrics import Outcome, WorkerMetrics
from .replay import ReplayWatcher
from ..wire.replies import error_json, service_metadata
from .service import new_service, set_metadata, start_service, stop_service
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


def _serves(subject: str, name: str, version: int) -> bool:
    """`subject` is one of infer.{name}.{version}.> (a replay target)."""
    frame = contract.split_infer_subject(subject)
    return frame is not None and frame[:2] == (name, version)

# A frame's answer, given its span: (body or None when nobody waits, outcome, code).
Answer = Callable[[Span], Awaitable[tuple[bytes | None, Outcome, str | None]]]
# Where a frame of a batch leaves its answer's body for the batch's reply.
Keep = Callable[[bytes | None], None]


def _keeping(answer: Answer, keep: Keep) -> Answer:
    """`answer`, also handing its body to `keep` (a frame of a batch)."""
    async def kept(span: Span) -> tuple[bytes | None, Outcome, str | None]:
        body, outcome, code = await answer(span)
        keep(body)
        return body, outcome, code

    return kept


def _js_ack(reply: str | None) -> str | None:
    """The JetStream ack subject of a replayed message, else None."""
    return reply if reply and reply.startswith(contract.JS_ACK_PREFIX) else None


class Worker:
    """Answers frames and pings on a connected client. `async with worker:` subscribes
    the endpoints of `models` and starts answering the service's ping; add_model and
    remove_model change what it serves; on leaving it stops taking frames, answers
    every frame already taken and frees the models."""

    def __init__(self, cfg: Config, nc: Client, decoding: DecodeService,
                 models: Sequence[LoadedModel] = (), metrics: WorkerMetrics | None = None,
                 tracer: Tracer | None = None,
                 model_errors: Mapping[str, str] | None = None) -> None:
        self.cfg = cfg
        self.metrics = metrics or WorkerMetrics()
        self._tracer = tracer or NoOpTracer()
        # Off (no OTEL_* variable): a frame makes no span, parses no traceparent.
        self._tracing = not isinstance(self._tracer, NoOpTracer)
        self.service: Service | None = None
        self._nc = nc
        self._decoding = decoding
        self._initial = list(models)
        self._models: dict[str, ModelEndpoint] = {}  # by name@version
        self._model_errors: dict[str, str] = dict(model_errors or {})
        self._replays = ReplayWatcher(nc, self._replay_handler, self._serves_target)
        self._subscriptions = contextlib.AsyncExitStack()
        self._tasks: set[asyncio.Task[None]] = set()
        self._fair = FairShare(cfg.session_decode_ms, cfg.session_decode_ms * BURST_SECONDS,
                               cfg.session_frames)
        self._pauses_of_removed = 0
        self.metrics.frames_held.set_function(
            lambda: sum(m.intake.held for m in self._models.values() if m.intake))
        # Answers on one results subject leave in the order their frames arrived:
        # results subject -> future of the last frame's answer being sent.
        self._last_answer: dict[str, asyncio.Future[None]] = {}
        self.received = 0  # frames delivered to the worker, replayed ones included
        self.answered = 0
        self.errors = 0
        self.expired = 0  # frames not decoded nor inferred: the hub had given up on them

    async def __aenter__(self) -> "Worker":
        async with contextlib.AsyncExitStack() as stack:
            self.service = new_service(self._nc, queue_group=self.cfg.queue_group,
                                       stats=self._endpoint_stats,
                                       metadata=self._service_metadata())
            stack.push_async_callback(stop_service, self.service)
            stack.push_async_callback(self._drain_models)
            initial, self._initial = self._initial, []
            for loaded in initial:
                await self._open(loaded)
            self._publish_metadata()
            # The service answers its ping only once the endpoints are subscribed.
            await start_service(self.service)
            await self._replays.start()
            stack.push_async_callback(self._replays.drain)
            self._subscriptions = stack.pop_all()
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Stop taking frames (replayed ones first), then finish every frame taken."""
        await self._subscriptions.aclose()

    # --- what is served ---------------------------------------------------------------

    @property
    def models(self) -> list[str]:
        """name@version of every model-version served now."""
        return sorted(self._models)

    @property
    def model_errors(self) -> dict[str, str]:
        return dict(self._model_errors)

    async def add_model(self, loaded: LoadedModel) -> None:
        """Serve a loaded, warmed-up model-version: its endpoint joins the service."""
        if loaded.ref in self._models:
            raise ValueError(f"{loaded.ref} is served already")
        self._model_errors.pop(loaded.ref, None)
        await self._open(loaded)
        self._publish_metadata()
        await self._replays.refresh()

    def add_model_without_endpoint(self, loaded: LoadedModel) -> None:
        """Serve a loaded model-version to take() alone, on a worker not entered (no
        micro service, so no NATS server needed): its model thread runs, but it has no
        endpoint, no place in a queue group and is in no service metadata. For driving
        the frame path in one process (bench/worker/per_frame.py); remove_model(ref)
        answers its frames taken and frees it."""
        if self.service is not None:
            raise RuntimeError("the worker has a service: use add_model")
        if loaded.ref in self._models:
            raise ValueError(f"{loaded.ref} is served already")
        served = ModelEndpoint(self.cfg, loaded, self.metrics, self._tracer)
        served.batcher.start()
        self._models[served.ref] = served

    async def remove_model(self, ref: str) -> None:
        """Stop serving a model-version: its endpoint leaves the service, the frames it
        took are answered, then its model is freed."""
        served = self._models.pop(ref, None)
        if served is None:
            return
        self._publish_metadata()
        name, version = served.loaded.version.name, served.loaded.version.version
        await self._replays.forget(lambda subject: _serves(subject, name, version))
        await served.drain(self.service, DRAIN_TIMEOUT_S)
        self._pauses_of_removed += served.intake.pauses if served.intake else 0
        self._count_capacity()
        await served.close()
        log_fields(log, logging.INFO, "model removed", model=ref)

    def set_model_errors(self, errors: Mapping[str, str]) -> None:
        """The model-versions that failed to load, with why (service `model_errors`)."""
        if dict(errors) != self._model_errors:
            self._model_errors = dict(errors)
            self._publish_metadata()

    async def _open(self, loaded: LoadedModel) -> None:
        served = ModelEndpoint(self.cfg, loaded, self.metrics, self._tracer)
        assert self.service is not None
        await served.open(self.service, functools.partial(self._on_frame, served))
        self._models[served.ref] = served
        self._count_capacity()
        log_fields(log, logging.INFO, "model served", model=served.ref,
                   subject=served.subject, queue=self.cfg.queue_group,
                   runtime=loaded.choice.runtime)

    def _count_capacity(self) -> None:
        """Frames the worker may hold: each model-version's room."""
        self.metrics.frames_capacity.set(sum(m.intake.capacity for m in self._models.values()
                                             if m.intake))

    def _service_metadata(self) -> dict[str, str]:
        metadata = service_metadata(self.cfg.name, self.cfg.batch_max, list(self._models),
                                    self._model_errors)
        metadata[contract.META_FRAMES_PER_MESSAGE] = str(self.cfg.message_frames)
        return metadata

    def _publish_metadata(self) -> None:
        if self.service is not None:
            set_metadata(self.service, self._service_metadata())

    def _serves_target(self, subject: str) -> bool:
        frame = contract.split_infer_subject(subject)
        return frame is not None and contract.model_ref(frame[0], frame[1]) in self._models

    def _model_of(self, subject: str) -> ModelEndpoint | None:
        frame = contract.split_infer_subject(subject)
        if frame is None:
            return None
        return self._models.get(contract.model_ref(frame[0], frame[1]))

    @property
    def full_count(self) -> int:
        """Times an endpoint left its queue group because it held all it may."""
        return self._pauses_of_removed + sum(m.intake.pauses for m in self._models.values()
                                             if m.intake)

    async def _drain_models(self) -> None:
        self.metrics.frames_capacity.set(0)  # a draining worker takes no more frames
        served, self._models = list(self._models.values()), {}
        await asyncio.gather(*[m.drain(self.service, DRAIN_TIMEOUT_S) for m in served])
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=DRAIN_TIMEOUT_S)
        for m in served:
            self._pauses_of_removed += m.intake.pauses if m.intake else 0
            await m.close()

    # --- NATS callbacks -------------------------------------------------------------

    async def _on_frame(self, served: ModelEndpoint, msg: Msg) -> None:
        self.received += 1
        target = None
        if msg.reply and msg.reply.startswith(contract.JS_ACK_PREFIX):
            # A replayed frame that reached the endpoint's subscription (see replay.py).
            target = await self._replays.target_for(msg.reply)
        self._take(msg, served, target)
        assert served.intake is not None
        served.intake.delivered()  # it spent credit (one message), taken or shed

    def _replay_handler(self, target: str) -> Callable[[Msg], Awaitable[None]]:
        async def on_replayed_frame(msg: Msg) -> None:
            self.received += 1
            served = self._model_of(target)
            if served is None:  # no longer served: left for a worker that serves it
                log_fields(log, logging.DEBUG, "replayed frame of a model not served",
                           subject=target)
                return
            self._take(msg, served, target)

        return on_replayed_frame

    async def take(self, msg: Msg, target: str | None = None) -> None:
        """Take one message (a frame or a batch) as an endpoint delivers it, with the
        model its subject (or `target`, a replay's) names (bench/worker/per_frame.py
        drives the worker with it). A frame of a model-version not served is not
        answered."""
        self.received += 1
        served = self._model_of(target or msg.subject)
        if served is not None:
            self._take(msg, served, target)

    def _take(self, msg: Msg, served: ModelEndpoint, target: str | None) -> None:
        """Take one message (`target`: the replay target of a replayed frame): a frame
        or a batch of frames, each answered later, in its session's order."""
        if frame_batch.frame_count(msg.headers) is not None:
            self._take_batch(msg, served, target)
            return
        meta = FrameMeta.parse(msg.subject, msg.headers, msg.reply, target)
        ack = _js_ack(msg.reply)
        self._take_frame(msg, meta, served, target, ack)

    def _take_batch(self, msg: Msg, served: ModelEndpoint, target: str | None) -> None:
        """Take each frame of a batch as if it had come alone (fairness, decode, model,
        its span, its results publish); one reply once all have their answers."""
        try:
            if target is not None:
                raise BadBatch("a replay carries single frames")
            frames = frame_batch.parse(msg.subject, msg.headers, msg.reply, msg.data,
                                       self.cfg.message_frames)
        except BadBatch as exc:
            self._refuse_batch(msg, served, str(exc))
            return
        self.received += len(frames) - 1  # the message was counted as one
        answers: list[bytes | None] = [None] * len(frames)  # None: expired
        tasks = []
        for i, frame in enumerate(frames):
            meta = frame.meta
            # The frame's own trace context: its span's parent, as a single frame's header.
            headers = {contract.HEADER_TRACEPARENT: meta.traceparent} if meta.traceparent else None
            alone = Msg(self._nc, subject=meta.subject, data=frame.image, headers=headers)
            tasks.append(self._take_frame(alone, meta, served, None, None,
                                          functools.partial(answers.__setitem__, i)))
        if is_plain_inbox(msg.reply):
            self._track(self._reply_batch(msg.reply, tasks, answers), served)

    async def _reply_batch(self, reply: str, frames: list[asyncio.Task[None]],
                           answers: list[bytes | None]) -> None:
        await asyncio.wait(frames)
        if self._nc.is_closed:
            return
        try:
            await self._nc.publish(reply, frame_batch.reply_body(answers),
                                   headers=frame_batch.reply_headers(len(answers)))
        except (nats.errors.Error, OSError) as exc:
            log_fields(log, logging.WARNING, "could not publish the batch reply",
                       frames=len(answers), error=str(exc))

    def _refuse_batch(self, msg: Msg, served: ModelEndpoint, why: str) -> None:
        """A batch the worker cannot read: one `bad_batch` error for the whole message
        (hostile or broken; the hub never sends one), counted as one refused frame."""
        self.errors += 1
        self.metrics.count("refused")
        served.outcomes["refused"] += 1
        log_fields(log, logging.INFO, "batch refused", subject=msg.subject,
                   code=contract.CODE_BAD_BATCH, reason=why, bytes=len(msg.data))
        meta = FrameMeta.parse(msg.subject, msg.headers, msg.reply)
        ack = _js_ack(msg.reply)

        async def answer() -> None:
            if meta.reply and not self._nc.is_closed:
                with contextlib.suppress(nats.errors.Error, OSError):
                    await self._nc.publish(meta.reply,
                                           error_json(meta, contract.CODE_BAD_BATCH, why),
                                           headers=meta.response_headers())
            if ack is not None:
                await self._ack(ack)

        self._track(answer(), served)

    def _track(self, work: Awaitable[None], served: ModelEndpoint) -> asyncio.Task[None]:
        """Run `work` as a task the worker waits for when it drains."""
        task = asyncio.get_running_loop().create_task(work)
        for tasks in (self._tasks, served.tasks):
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        return task

    def _take_frame(self, msg: Msg, meta: FrameMeta, served: ModelEndpoint,
                    target: str | None, ack: str | None,
                    keep: Keep | None = None) -> asyncio.Task[None]:
        """Take one frame (alone, or one of a batch with `keep` for its answer's body)."""
        # nats-py runs a subscription's callbacks one after another: hand each frame
        # to its own task so frames decode and batch together. Never wait here: the
        # frames behind this one would wait unseen (intake.py bounds what is held).
        # Replays are started by the operator, not a client: not rationed.
        reason, started = self._fair.admit(meta.session) if target is None else (None, False)
        answer: Answer
        intake = served.intake
        if reason is None:
            if intake is not None:
                intake.taken()  # only frames to decode count as held
            answer = functools.partial(self._answer_for, msg, meta, served, target is None)
        else:  # answered at once; its bytes are not kept
            answer = functools.partial(self._shed, meta, reason, started, len(msg.data))
        if keep is not None:
            answer = _keeping(answer, keep)
        loop = asyncio.get_running_loop()
        previous = self._last_answer.get(meta.results_subject)
        mine: asyncio.Future[None] = loop.create_future()
        self._last_answer[meta.results_subject] = mine
        task = self._track(self._handle_frame(answer, served, msg.headers, ack, meta,
                                              previous, mine), served)
        if reason is None and intake is not None:
            task.add_done_callback(lambda _: intake.done())
        return task

    def _endpoint_stats(self, endpoint: str) -> dict[str, int]:
        served = next((m for m in self._models.values() if m.name == endpoint), None)
        return served.stats() if served is not None else {}

    # --- one frame ------------------------------------------------------------------

    async def _handle_frame(self, answer: Answer, served: ModelEndpoint,
                            headers: dict[str, str] | None, ack: str | None,
                            meta: FrameMeta, previous: asyncio.Future[None] | None,
                            mine: asyncio.Future[None]) -> None:
        try:
            if not self._tracing:
                await self._frame(answer, served, ack, meta, previous, INVALID_SPAN)
                return
            # The hub's request span (traceparent) is the parent of the worker's frame span.
            with self._tracer.start_as_current_span(
                    SPAN_FRAME, context=extract(headers), kind=SpanKind.SERVER) as span:
                if span.is_recording():
                    span.set_attributes({ATTR_SESSION: meta.session, ATTR_SEQ: meta.seq,
                                         ATTR_WORKER: self.cfg.name,
                                         ATTR_DESTINATION: meta.subject})
                await self._frame(answer, served, ack, meta, previous, span)
        finally:
            if not mine.done():
                mine.set_result(None)
            if self._last_answer.get(meta.results_subject) is mine:
                del self._last_answer[meta.results_subject]

    async def _frame(self, answer: Answer, served: ModelEndpoint, ack: str | None,
                     meta: FrameMeta, previous: asyncio.Future[None] | None,
                     span: Span) -> None:
        body, outcome, code = await answer(span)
        self.metrics.count(outcome)
        served.outcomes[outcome] += 1
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

    async def _answer_for(self, msg: Msg, meta: FrameMeta, served: ModelEndpoint,
                          rationed: bool,
                          span: Span) -> tuple[bytes | None, Outcome, str | None]:
        """The answer's body, the frame's outcome and its error code (None for a result).

        A frame whose deadline passed has no answer (body None): the hub has answered
        it already and nobody waits, so it is neither decoded nor inferred (the decode
        thread and the batcher check again before the decode and the model).

        The frame crosses threads three times (in_flight.py): a decode thread takes it
        from the fair queue and hands the image to the model's batcher, whose thread
        builds the reply bytes; this coroutine only waits for them."""
        frame: InFlight | None = None
        try:
            if meta.expired(time.time()):
                raise Expired()
            frame = InFlight(asyncio.get_running_loop(), meta, served.replies, served.batcher,
                             meta.top_k or served.top_k,
                             span.get_span_context() if self._tracing else None,
                             self.metrics.decode)
            self._decoding.submit(meta.session, msg.data, meta.deadline, served.decoder,
                                  frame.to_model, frame.fail, frame.done.done)
            body, top1 = await frame.done
            decoded, out = frame.decoded, frame.out
            assert decoded is not None and out is not None
            log_fields(log, logging.DEBUG, "frame", subject=meta.subject, seq=meta.seq,
                       top1=top1, decode_ms=round(decoded.wall_ms, 2),
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
            if frame is not None and self._tracing:
                self._record_frame(frame)
            if rationed:
                self._fair.done(meta.session, frame.decode_cpu_ms if frame else 0.0)

    def _record(self, name: str, start_ns: int, end_ns: int,
                attributes: dict[str, int] | None = None) -> None:
        """A child span of the current frame span, for a stretch already timed."""
        self._tracer.start_span(name, start_time=start_ns,
                                attributes=attributes).end(end_time=end_ns)

    def _record_frame(self, frame: InFlight) -> None:
        """The spans of what the threads did for the frame (its decode; its queue wait
        and model call), as children of the frame's span."""
        decoded, out = frame.decoded, frame.out
        if decoded is not None and not isinstance(decoded.image, ImageError):
            self._record(SPAN_DECODE, decoded.started_ns, decoded.ended_ns)
        if out is not None:
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

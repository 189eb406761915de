"""The NATS side: queue-subscribe to every frame, answer each frame, answer pings."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from concurrent.futures import Executor
from typing import Awaitable, Callable

import nats
import numpy as np
from nats.aio.client import Client
from nats.aio.msg import Msg

from . import contract
from .backends.base import Backend
from .batcher import Batcher, Expired
from .config import Config
from .connection import DRAIN_TIMEOUT_S
from .decode import Decoder, ImageError
from .intake import Intake
from .log import log_fields
from .messages import FrameMeta, error_json, ping_json, result_json
from .predictions import top_k
from .replay import ReplayWatcher

log = logging.getLogger("inference_server.worker")


class Worker:
    """Answers frames and pings on a connected client. Its parts are made and closed
    by its owner; `async with worker:` subscribes, and on leaving stops taking frames
    and answers every frame already taken."""

    def __init__(self, cfg: Config, nc: Client, backend: Backend, batcher: Batcher,
                 decoder: Decoder, decode_pool: Executor) -> None:
        self.cfg = cfg
        self.backend = backend
        self._nc = nc
        self._batcher = batcher
        self._decoder = decoder
        self._decode_pool = decode_pool
        self._replays = ReplayWatcher(nc, self._replay_handler)
        self._subscriptions = contextlib.AsyncExitStack()
        self._tasks: set[asyncio.Task[None]] = set()
        # What the worker holds is bounded by leaving the queue group when full.
        self._intake = Intake(nc, contract.FRAMES_WILDCARD, cfg.queue_group, cfg.held_max,
                              self._on_frame, rejoin_below=cfg.rejoin_below)
        # Answers on one results subject leave in the order their frames arrived:
        # results subject -> future of the last frame's answer being sent.
        self._last_answer: dict[str, asyncio.Future[None]] = {}
        self.answered = 0
        self.errors = 0
        self.expired = 0  # frames not decoded nor inferred: the hub had given up on them

    async def __aenter__(self) -> "Worker":
        async with contextlib.AsyncExitStack() as stack:
            await self._intake.start()
            stack.push_async_callback(self._drain_frames)
            await self._nc.subscribe(contract.WORKERS_PING_SUBJECT, cb=self._on_ping)
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

    async def _drain_frames(self) -> None:
        await self._intake.close(DRAIN_TIMEOUT_S)
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=DRAIN_TIMEOUT_S)

    # --- NATS callbacks -------------------------------------------------------------

    async def _on_frame(self, msg: Msg) -> None:
        target = None
        if msg.reply and msg.reply.startswith(contract.JS_ACK_PREFIX):
            # A replayed frame that reached the wildcard subscription (see replay.py).
            target = await self._replays.target_for(msg.reply)
        await self._take(msg, target)

    def _replay_handler(self, target: str) -> Callable[[Msg], Awaitable[None]]:
        async def on_replayed_frame(msg: Msg) -> None:
            await self._take(msg, target)

        return on_replayed_frame

    async def _take(self, msg: Msg, target: str | None) -> None:
        # nats-py runs a subscription's callbacks one after another: hand each frame
        # to its own task so frames decode and batch together. Never wait here: the
        # frames behind this one would wait unseen (intake.py bounds what is held).
        self._intake.taken()
        meta = FrameMeta.parse(msg.subject, msg.headers, msg.reply, target)
        loop = asyncio.get_running_loop()
        previous = self._last_answer.get(meta.results_subject)
        mine: asyncio.Future[None] = loop.create_future()
        self._last_answer[meta.results_subject] = mine
        task = loop.create_task(self._handle_frame(msg, meta, previous, mine))
        self._tasks.add(task)
        task.add_done_callback(self._frame_done)

    def _frame_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._intake.done()

    async def _on_ping(self, msg: Msg) -> None:
        if not msg.reply:
            return
        body = ping_json(self.cfg.name, self.backend.kind, self.cfg.batch_max)
        with contextlib.suppress(nats.errors.Error):
            await self._nc.publish(msg.reply, body)

    # --- one frame ------------------------------------------------------------------

    async def _handle_frame(self, msg: Msg, meta: FrameMeta,
                            previous: asyncio.Future[None] | None,
                            mine: asyncio.Future[None]) -> None:
        try:
            body = await self._answer_for(msg, meta)
            if previous is not None:
                await asyncio.shield(previous)  # keep answers on a subject in order
            if body is not None:
                await self._answer(meta, body)
            if msg.reply and msg.reply.startswith(contract.JS_ACK_PREFIX):
                await self._ack(msg.reply)  # a replayed frame: tell JetStream it is done
        finally:
            if not mine.done():
                mine.set_result(None)
            if self._last_answer.get(meta.results_subject) is mine:
                del self._last_answer[meta.results_subject]

    async def _answer_for(self, msg: Msg, meta: FrameMeta) -> bytes | None:
        """The answer to a frame, or None for a frame whose deadline passed: the hub
        has answered it already and nobody waits, so it is neither decoded nor
        inferred (the batcher checks again before the model), and not answered."""
        loop = asyncio.get_running_loop()
        try:
            if meta.expired(time.time()):
                raise Expired()
            image, decode_ms = await loop.run_in_executor(self._decode_pool, self._decode,
                                                          msg.data)
            out = await self._batcher.submit(image, meta.deadline)
            preds = top_k(out.probs, self.backend.labels, meta.top_k or self.cfg.top_k)
            body = result_json(meta, preds, decode_ms, out.infer_ms, out.batch, self.cfg.name)
            log_fields(log, logging.DEBUG, "frame", subject=meta.subject, seq=meta.seq,
                       top1=preds[0]["label"], decode_ms=round(decode_ms, 2),
                       infer_ms=round(out.infer_ms, 2), batch=out.batch,
                       traceparent=meta.traceparent)
        except Expired:
            self.expired += 1
            log_fields(log, logging.DEBUG, "frame expired", subject=meta.subject, seq=meta.seq)
            return None
        except ImageError as exc:
            self.errors += 1
            body = error_json(meta, exc.code, exc.message)
            log_fields(log, logging.INFO, "frame refused", subject=meta.subject, seq=meta.seq,
                       code=exc.code, reason=exc.message, bytes=len(msg.data),
                       content_type=meta.content_type)
        except Exception:  # a bug or a model failure: answer "internal", keep serving
            self.errors += 1
            body = error_json(meta, contract.CODE_INTERNAL, "inference failed")
            log_fields(log, logging.ERROR, "frame failed", exc_info=True,
                       subject=meta.subject, seq=meta.seq)
        return body

    async def _ack(self, ack_subject: str) -> None:
        if not self._nc.is_closed:
            with contextlib.suppress(nats.errors.Error):
                await self._nc.publish(ack_subject, contract.JS_ACK)

    def _decode(self, data: bytes) -> tuple[np.ndarray, float]:
        """Runs in the decode pool; times the decode itself, not the wait for a thread."""
        start = time.perf_counter()
        image = self._decoder.decode(data)
        return image, (time.perf_counter() - start) * 1000.0

    async def _answer(self, meta: FrameMeta, body: bytes) -> None:
        if self._nc.is_closed:
            return
        headers = meta.response_headers()
        try:
            await self._nc.publish(meta.results_subject, body, headers=headers)
            if meta.reply:
                await self._nc.publish(meta.reply, body, headers=headers)
            self.answered += 1
        except (nats.errors.Error, OSError) as exc:
            log_fields(log, logging.WARNING, "could not publish the answer",
                       subject=meta.subject, error=str(exc))

"""The NATS side: queue-subscribe to frames.>, answer each frame, answer pings."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Awaitable, Callable

import nats
import numpy as np
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from .backends.base import Backend
from .batcher import Batcher
from .config import Config
from .decode import Decoder, ImageError
from .messages import FrameMeta, error_json, ping_json, result_json
from .predictions import top_k
from .replay import ReplayWatcher

log = logging.getLogger("inference_server.worker")

FRAMES_SUBJECT = "frames.>"
PING_SUBJECT = "workers.ping"
DRAIN_TIMEOUT_S = 30.0


class Worker:
    def __init__(self, cfg: Config, backend: Backend) -> None:
        self.cfg = cfg
        self.backend = backend
        self.decoder = Decoder(size=backend.input_size, max_bytes=cfg.max_image_bytes,
                               max_pixels=cfg.max_pixels)
        self.failed = False  # set when the connection closed without being asked to
        self._stopping = False
        self._tasks: set[asyncio.Task[None]] = set()
        # Bounds frames held in memory at once; beyond it NATS keeps them pending.
        self._slots = asyncio.Semaphore(max(16, cfg.batch_max * 4))
        self._decode_pool: ThreadPoolExecutor | None = None
        self._batcher: Batcher | None = None
        self._nc: Client | None = None
        self._stop: asyncio.Event | None = None
        self._replays: ReplayWatcher | None = None
        # Answers on one results subject leave in the order their frames arrived:
        # results subject -> future of the last frame's answer being sent.
        self._last_answer: dict[str, asyncio.Future[None]] = {}
        self.answered = 0
        self.errors = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set, then drain: answer every frame already received."""
        self._stop = stop
        async with contextlib.AsyncExitStack() as stack:
            self._decode_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="decode")
            stack.callback(self._decode_pool.shutdown, wait=True)
            self._batcher = await stack.enter_async_context(
                Batcher(self.backend.predict, self.cfg.batch_max, self.cfg.batch_wait_ms))
            nc = await self._connect(stop)
            if nc is None:
                return
            self._nc = nc
            stack.push_async_callback(self._drain, nc)
            self._replays = ReplayWatcher(nc, self._replay_handler)
            frames = await nc.subscribe(FRAMES_SUBJECT, queue=self.cfg.queue_group,
                                        cb=self._on_frame)
            stack.push_async_callback(self._drain_frames, frames)
            await nc.subscribe(PING_SUBJECT, cb=self._on_ping)
            await self._replays.start()
            stack.push_async_callback(self._replays.drain)
            await nc.flush()
            log.info("ready", extra={"fields": {
                "subject": FRAMES_SUBJECT, "queue": self.cfg.queue_group,
                "backend": self.backend.kind, "batch_max": self.cfg.batch_max,
                "server": _server(nc)}})
            await stop.wait()
            self._stopping = True
            log.info("stopping: draining")
        log.info("stopped", extra={"fields": {"answered": self.answered, "errors": self.errors,
                                              "batches": self._batcher.batches}})

    async def _connect(self, stop: asyncio.Event) -> Client | None:
        """Connect, retrying until the server is there, unless asked to stop first."""
        servers = [u.strip() for u in self.cfg.nats_url.split(",") if u.strip()]
        connecting = asyncio.ensure_future(nats.connect(
            servers=servers,
            name=f"inference-worker {self.cfg.name}",
            max_reconnect_attempts=-1,
            reconnect_time_wait=1,
            error_cb=self._on_error,
            disconnected_cb=self._on_disconnected,
            reconnected_cb=self._on_reconnected,
            closed_cb=self._on_closed,
            drain_timeout=int(DRAIN_TIMEOUT_S),
        ))
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait({connecting, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if connecting.done():
            try:
                return connecting.result()
            except (nats.errors.Error, OSError, ValueError) as exc:
                log.error("cannot connect to NATS", extra={"fields": {"error": str(exc)}})
                self.failed = True
                return None
        connecting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await connecting
        log.info("stopped before connecting to NATS")
        return None

    async def _drain_frames(self, sub: Subscription) -> None:
        """Stop taking frames, then finish every frame already taken."""
        with contextlib.suppress(nats.errors.Error, TimeoutError):
            await asyncio.wait_for(sub.drain(), DRAIN_TIMEOUT_S)
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=DRAIN_TIMEOUT_S)

    async def _drain(self, nc: Client) -> None:
        if nc.is_closed:
            return
        try:
            await nc.drain()  # pings sub; flushes what we published; closes
        except (nats.errors.Error, OSError) as exc:
            log.warning("drain failed", extra={"fields": {"error": str(exc)}})
            await nc.close()

    # --- NATS callbacks -------------------------------------------------------------

    async def _on_frame(self, msg: Msg) -> None:
        target = None
        if msg.reply and msg.reply.startswith("$JS.ACK.") and self._replays is not None:
            # A replayed frame that reached the frames.> subscription (see replay.py).
            target = await self._replays.target_for(msg.reply)
        await self._take(msg, target)

    def _replay_handler(self, target: str) -> Callable[[Msg], Awaitable[None]]:
        async def on_replayed_frame(msg: Msg) -> None:
            await self._take(msg, target)

        return on_replayed_frame

    async def _take(self, msg: Msg, target: str | None) -> None:
        # nats-py runs a subscription's callbacks one after another: hand each frame
        # to its own task so frames decode and batch together.
        await self._slots.acquire()
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
        self._slots.release()

    async def _on_ping(self, msg: Msg) -> None:
        if not msg.reply or self._nc is None:
            return
        body = ping_json(self.cfg.name, self.backend.kind, self.cfg.batch_max)
        with contextlib.suppress(nats.errors.Error):
            await self._nc.publish(msg.reply, body)

    async def _on_error(self, exc: Exception) -> None:
        log.warning("nats error", extra={"fields": {"error": str(exc) or type(exc).__name__}})

    async def _on_disconnected(self) -> None:
        if not self._stopping:
            log.warning("disconnected from NATS; reconnecting")

    async def _on_reconnected(self) -> None:
        log.info("reconnected to NATS", extra={"fields": {"server": _server(self._nc)}})

    async def _on_closed(self) -> None:
        if not self._stopping and self._stop is not None and not self._stop.is_set():
            log.error("NATS connection closed")
            self.failed = True
            self._stop.set()

    # --- one frame ------------------------------------------------------------------

    async def _handle_frame(self, msg: Msg, meta: FrameMeta,
                            previous: asyncio.Future[None] | None,
                            mine: asyncio.Future[None]) -> None:
        try:
            body = await self._answer_for(msg, meta)
            if previous is not None:
                await asyncio.shield(previous)  # keep answers on a subject in order
            await self._answer(meta, body)
            if msg.reply and msg.reply.startswith("$JS.ACK."):
                await self._ack(msg.reply)  # a replayed frame: tell JetStream it is done
        finally:
            if not mine.done():
                mine.set_result(None)
            if self._last_answer.get(meta.results_subject) is mine:
                del self._last_answer[meta.results_subject]

    async def _answer_for(self, msg: Msg, meta: FrameMeta) -> bytes:
        loop = asyncio.get_running_loop()
        assert self._batcher is not None and self._decode_pool is not None
        try:
            image, decode_ms = await loop.run_in_executor(self._decode_pool, self._decode,
                                                          msg.data)
            out = await self._batcher.submit(image)
            preds = top_k(out.probs, self.backend.labels, meta.top_k or self.cfg.top_k)
            body = result_json(meta, preds, decode_ms, out.infer_ms, out.batch, self.cfg.name)
            log.debug("frame", extra={"fields": {
                "subject": meta.subject, "seq": meta.seq, "top1": preds[0]["label"],
                "decode_ms": round(decode_ms, 2), "infer_ms": round(out.infer_ms, 2),
                "batch": out.batch, "traceparent": meta.traceparent}})
        except ImageError as exc:
            self.errors += 1
            body = error_json(meta, exc.code, exc.message)
            log.info("frame refused", extra={"fields": {
                "subject": meta.subject, "seq": meta.seq, "code": exc.code,
                "reason": exc.message, "bytes": len(msg.data),
                "content_type": meta.content_type}})
        except Exception:  # a bug or a model failure: answer "internal", keep serving
            self.errors += 1
            body = error_json(meta, "internal", "inference failed")
            log.exception("frame failed", extra={"fields": {"subject": meta.subject,
                                                            "seq": meta.seq}})
        return body

    async def _ack(self, ack_subject: str) -> None:
        if self._nc is not None and not self._nc.is_closed:
            with contextlib.suppress(nats.errors.Error):
                await self._nc.publish(ack_subject, b"+ACK")

    def _decode(self, data: bytes) -> tuple[np.ndarray, float]:
        """Runs in the decode pool; times the decode itself, not the wait for a thread."""
        start = time.perf_counter()
        image = self.decoder.decode(data)
        return image, (time.perf_counter() - start) * 1000.0

    async def _answer(self, meta: FrameMeta, body: bytes) -> None:
        nc = self._nc
        if nc is None or nc.is_closed:
            return
        headers = meta.response_headers()
        try:
            await nc.publish(meta.results_subject, body, headers=headers)
            if meta.reply:
                await nc.publish(meta.reply, body, headers=headers)
            self.answered += 1
        except (nats.errors.Error, OSError) as exc:
            log.warning("could not publish the answer",
                        extra={"fields": {"subject": meta.subject, "error": str(exc)}})


def _server(nc: Client | None) -> str | None:
    url = nc.connected_url if nc is not None else None
    return f"{url.hostname}:{url.port}" if url is not None else None

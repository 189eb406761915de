"""One frame on its way through the worker's threads: the event loop queues it for a
decode thread, which hands the decoded image straight to its model's batcher; the
model thread runs the batch and builds the frame's reply bytes (top-k + JSON) there;
the batch's answers go back to the event loop in one call (handoff.py), which only
publishes them. Loop → decode thread → model thread → loop: two hand-offs between
threads fewer than a trip back to the loop after each.

What the threads learned (the decode's timing and CPU, the batch's timing) is kept
here for the loop to record (spans, the session's decode budget) once it is answered."""

from __future__ import annotations

import asyncio

from opentelemetry.trace import SpanContext
from prometheus_client import Histogram

from ..imaging.decoder import ImageError
from ..imaging.pool import Decoded
from ..wire.frame_meta import FrameMeta
from ..wire.replies import Replies
from .batcher import Batcher, BatchOutput
from .handoff import hand_back


class InFlight:
    """`done` gets (reply body, top-1 label), or the error: ImageError (refused),
    batcher.Expired (its deadline passed before its decode or its model call), or what
    failed (the model, the batcher closed)."""

    __slots__ = ("done", "decoded", "out", "_loop", "_meta", "_replies", "_batcher", "_k",
                 "_link", "_decode_seconds")

    def __init__(self, loop: asyncio.AbstractEventLoop, meta: FrameMeta, replies: Replies,
                 batcher: Batcher, k: int, link: SpanContext | None,
                 decode_seconds: Histogram) -> None:
        self.done: asyncio.Future[tuple[bytes, str]] = loop.create_future()
        self.decoded: Decoded | None = None  # set on the decode thread
        self.out: BatchOutput | None = None  # set on the model thread
        self._loop = loop
        self._meta = meta
        self._replies = replies
        self._batcher = batcher
        self._k = k
        self._link = link
        self._decode_seconds = decode_seconds

    @property
    def decode_cpu_ms(self) -> float:
        """What its decode cost (0 when it was not decoded): its session is charged it."""
        return self.decoded.cpu_ms if self.decoded is not None else 0.0

    def to_model(self, decoded: Decoded) -> None:
        """On the decode thread: a refused frame is answered, a decoded one queued for
        its model (the metrics are thread-safe)."""
        self.decoded = decoded
        if isinstance(decoded.image, ImageError):
            self.fail(decoded.image)
            return
        self._decode_seconds.observe(decoded.wall_ms / 1000.0)
        self._batcher.put(decoded.image, self.done, self._link, self._meta.deadline,
                          self.reply)

    def reply(self, out: BatchOutput) -> tuple[bytes, str]:
        """On the model thread: the reply's bytes and the top-1 label."""
        self.out = out
        assert self.decoded is not None  # set before the image reached the batcher
        return self._replies.result(self._meta, out.probs, self._k, self.decoded.wall_ms,
                                    self.decoded.cpu_ms, out.infer_ms, out.batch)

    def fail(self, error: BaseException) -> None:
        """From any thread: the frame is answered with `error`."""
        hand_back(self._loop, [(self.done, None, error)])

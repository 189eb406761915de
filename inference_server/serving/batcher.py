"""Micro-batching: frames that arrive together go through the model in one call."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import numpy as np
from opentelemetry.context import Context
from opentelemetry.trace import INVALID_SPAN, Link, NoOpTracer, Span, SpanContext, Tracer

from ..ops.metrics import WorkerMetrics
from .handoff import Settled, hand_back

Predict = Callable[[np.ndarray], np.ndarray]

SPAN_BATCH = "batch"
ATTR_BATCH_SIZE = "batch.size"


class Expired(Exception):
    """The frame's deadline passed before its batch ran: it was not inferred."""


@dataclass(frozen=True)
class BatchOutput:
    probs: np.ndarray  # this frame's row of class probabilities
    infer_ms: float  # wall time of the model call that included this frame
    batch: int  # how many frames that call had
    # Wall-clock ns (time.time_ns, what trace spans use): when the frame was
    # submitted, and when its model call started and ended.
    submitted_ns: int = 0
    started_ns: int = 0
    ended_ns: int = 0

    @property
    def queue_wait_s(self) -> float:
        return max(0, self.started_ns - self.submitted_ns) / 1e9


class BatchBuffers:
    """Batch arrays made once and reused: `with buffers.batch(images) as x:` copies the
    images into the first rows of a free array (a new one only when every array of
    their shape is in use) and gives it back on leaving. A batch never shares its
    array with another batch running at the same time; whatever reads `x` must be
    done with it on leaving (the batcher copies a model output that is a view of it)."""

    def __init__(self, rows: int = 1) -> None:
        self.rows = rows  # rows of each array: the largest batch
        self._free: dict[tuple[tuple[int, ...], np.dtype], list[np.ndarray]] = {}
        self._lock = threading.Lock()  # batches may be assembled on several threads
        self.made = 0

    @contextlib.contextmanager
    def batch(self, images: Sequence[np.ndarray]) -> Iterator[np.ndarray]:
        first = images[0]
        key = (first.shape, first.dtype)
        with self._lock:
            free = self._free.setdefault(key, [])
            array = free.pop() if free and len(free[-1]) >= len(images) else None
        if array is None:
            array = np.empty((max(self.rows, len(images)), *first.shape), first.dtype)
            self.made += 1
        try:
            for i, image in enumerate(images):
                if image.shape != first.shape or image.dtype != first.dtype:
                    raise ValueError(f"images of a batch differ: {image.shape} {image.dtype} "
                                     f"and {first.shape} {first.dtype}")
                array[i] = image
            yield array[:len(images)]
        finally:
            with self._lock:
                self._free[key].append(array)


# On the model thread, with a frame's output: what its caller gets instead (its reply,
# built there rather than on the event loop).
Finish = Callable[[BatchOutput], Any]


@dataclass
class _Item:
    """One waiting frame."""
    image: np.ndarray
    deadline: float | None  # Unix seconds; None: it never expires
    future: "asyncio.Future[Any]"  # on the batcher's event loop
    submitted_ns: int
    link: SpanContext | None  # the frame's span, linked from the batch span
    finish: Finish | None  # None: the caller gets the BatchOutput


class Batcher:
    """Runs `predict` on its own thread (the model is never used from two threads) on
    the frames waiting when the model is free, up to `batch_max` of them, and hands
    each caller its own row. With nothing queued a frame goes straight to the model;
    while a batch runs the next one collects, so under load batches grow by
    themselves. `wait_ms` > 0 makes a batch wait that long for more frames (more
    throughput for models that gain from batching, at that much latency).

    Frames come in from any thread (`put`: a decode thread hands its image straight
    on) or from the event loop (`submit`). The model thread collects a batch, runs the
    model, makes each frame's answer there (`finish`) and hands the batch's answers
    back to the event loop in one call (handoff.py).

    A frame whose deadline has passed when its batch is formed is not inferred: its
    caller gets `Expired`, and `expired` counts it.

    Each model call is a `batch` span (its own trace, linked to the span of each
    frame in it) and is counted in `metrics` (batch size, inference time, each frame's
    queue wait)."""

    def __init__(self, predict: Predict, batch_max: int, wait_ms: float,
                 metrics: WorkerMetrics | None = None, tracer: Tracer | None = None) -> None:
        if batch_max < 1:
            raise ValueError("batch_max must be >= 1")
        self._predict = predict
        self.batch_max = batch_max
        self._wait_s = max(0.0, wait_ms) / 1000.0
        self._metrics = metrics or WorkerMetrics()
        self._tracer = tracer or NoOpTracer()
        self._tracing = not isinstance(self._tracer, NoOpTracer)
        self._queue: deque[_Item] = deque()
        self._ready = threading.Condition(threading.Lock())  # guards _queue and _closed
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._buffers = BatchBuffers(batch_max)
        self._running: list[_Item] = []
        self.batches = 0
        self.frames = 0
        self.expired = 0

    async def __aenter__(self) -> "Batcher":
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def start(self) -> None:
        """Start the model thread; answers go to the running event loop."""
        if self._thread is None:
            self._loop = asyncio.get_running_loop()
            self._thread = threading.Thread(target=self._run, name="infer", daemon=True)
            self._thread.start()

    def put(self, image: np.ndarray, future: "asyncio.Future[Any]",
            link: SpanContext | None = None, deadline: float | None = None,
            finish: Finish | None = None) -> None:
        """From any thread: classify one preprocessed image; `future` (of the batcher's
        event loop) gets finish(its BatchOutput), or the BatchOutput itself, or the
        error (`Expired` when `deadline` passes before its batch runs, the model's
        error, or what finish raised). `link`: the frame's span, which the batch span
        links to. Raises RuntimeError when the batcher is not running."""
        item = _Item(image, deadline, future, time.time_ns(), link, finish)
        with self._ready:
            if self._thread is None or self._closed:
                raise RuntimeError("batcher is not running")
            self._queue.append(item)
            self._ready.notify()

    async def submit(self, image: np.ndarray, link: SpanContext | None = None,
                     deadline: float | None = None) -> BatchOutput:
        """Classify one preprocessed image; returns when its batch is done. `link`: the
        frame's span, which the batch span links to. Raises `Expired` when `deadline`
        (Unix seconds) passes before its batch runs."""
        fut: asyncio.Future[BatchOutput] = asyncio.get_running_loop().create_future()
        self.put(image, fut, link, deadline)
        return await fut

    async def close(self) -> None:
        """Fail the frames waiting and the batch running ("batcher closed"), and wait
        for a model call still running, without blocking the event loop."""
        with self._ready:
            self._closed = True
            left, self._queue = list(self._queue), deque()
            self._ready.notify_all()
        for item in left:
            if not item.future.done():
                item.future.set_exception(RuntimeError("batcher closed"))
        thread, self._thread = self._thread, None
        if thread is not None:
            await asyncio.to_thread(thread.join)

    def _collect(self) -> list[_Item] | None:
        """The next batch, waiting for its first frame; None once closed."""
        with self._ready:
            while not self._queue:
                if self._closed:
                    return None
                self._ready.wait()
            items = [self._queue.popleft()]
            self._running = items  # (a test watches it to see a batch collected)
            until = time.monotonic() + self._wait_s
            while len(items) < self.batch_max:
                if self._queue:
                    items.append(self._queue.popleft())
                    continue
                if self._wait_s <= 0 or self._closed:
                    break  # nothing else waiting: go now
                remaining = until - time.monotonic()
                if remaining <= 0:
                    break
                self._ready.wait(remaining)
            return items

    def _batch_span(self, items: list[_Item]) -> Span:
        """A trace of its own (an empty parent context), linked to its frames' spans;
        the no-op span when tracing is off."""
        if not self._tracing:
            return INVALID_SPAN
        links = [Link(item.link) for item in items if item.link is not None]
        return self._tracer.start_span(SPAN_BATCH, context=Context(), links=links,
                                       attributes={ATTR_BATCH_SIZE: len(items)})

    def _live(self, items: list[_Item], answers: list[Settled]) -> list[_Item]:
        """The items still worth a model call: not given up, not expired (those are
        answered `Expired` in `answers`)."""
        now = time.time()
        live = []
        for item in items:
            if item.future.done():
                continue  # the caller gave up (cancelled)
            if item.deadline is not None and now >= item.deadline:
                self.expired += 1
                answers.append((item.future, None, Expired()))
                continue
            live.append(item)
        return live

    def _infer(self, images: list[np.ndarray]) -> np.ndarray:
        """The batch assembled on the model's thread (not on the event loop) in a reused
        array, then the model. A lone frame goes in as it is, without a copy."""
        if len(images) == 1:
            return self._predict(images[0][None])
        with self._buffers.batch(images) as batch:
            probs = self._predict(batch)
            if np.may_share_memory(probs, batch):  # a view of the array reused next
                probs = np.array(probs)
        return probs

    def _run(self) -> None:
        """The model thread: batch after batch until closed."""
        assert self._loop is not None
        loop = self._loop
        while (items := self._collect()) is not None:
            answers: list[Settled] = []
            try:
                live = self._live(items, answers)
                if live:
                    self._batch(live, answers)
            except Exception as exc:  # a bug here must not stop the model thread
                answers.extend((item.future, None, exc) for item in items)
            self._running = []
            if answers:
                hand_back(loop, answers)

    def _batch(self, items: list[_Item], answers: list[Settled]) -> None:
        """One model call; each item's answer (or the error) goes into `answers`."""
        span = self._batch_span(items)
        started_ns = time.time_ns()
        start = time.perf_counter()
        try:
            probs = self._infer([item.image for item in items])
        except Exception as exc:  # handed to every caller of this batch
            span.record_exception(exc)
            span.end()
            answers.extend((item.future, None, exc) for item in items)
            return
        infer_s = time.perf_counter() - start
        ended_ns = started_ns + int(infer_s * 1e9)
        span.end(end_time=ended_ns)
        if self._closed:  # closed while the model ran: its callers were told to give up
            closed = RuntimeError("batcher closed")
            answers.extend((item.future, None, closed) for item in items)
            return
        self.batches += 1
        self.frames += len(items)
        self._metrics.batch_size.observe(len(items))
        self._metrics.inference.observe(infer_s)
        infer_ms = infer_s * 1000.0
        for i, item in enumerate(items):
            out = BatchOutput(probs[i], infer_ms, len(items), item.submitted_ns, started_ns,
                              ended_ns)
            self._metrics.queue_wait.observe(out.queue_wait_s)
            if item.finish is None:
                answers.append((item.future, out, None))
                continue
            try:
                answers.append((item.future, item.finish(out), None))
            except Exception as exc:  # this frame's answer failed; the others stand
                answers.append((item.future, None, exc))

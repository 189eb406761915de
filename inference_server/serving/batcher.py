"""Micro-batching: frames that arrive together go through the model in one call."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np
from opentelemetry.context import Context
from opentelemetry.trace import INVALID_SPAN, Link, NoOpTracer, Span, SpanContext, Tracer

from ..ops.metrics import WorkerMetrics

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


@dataclass
class _Item:
    """One waiting frame."""
    image: np.ndarray
    deadline: float | None  # Unix seconds; None: it never expires
    future: "asyncio.Future[BatchOutput]"
    submitted_ns: int
    link: SpanContext | None  # the frame's span, linked from the batch span


class Batcher:
    """Runs `predict` in a single-thread executor (the model is never used from two
    threads) on the frames waiting when the model is free, up to `batch_max` of them,
    and hands each caller its own row. With nothing queued a frame goes straight to
    the model; while a batch runs the next one collects, so under load batches grow
    by themselves. `wait_ms` > 0 makes a batch wait that long for more frames (more
    throughput for models that gain from batching, at that much latency).

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
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="infer")
        self._buffers = BatchBuffers(batch_max)
        self._task: asyncio.Task[None] | None = None
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
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="batcher")

    async def submit(self, image: np.ndarray, link: SpanContext | None = None,
                     deadline: float | None = None) -> BatchOutput:
        """Classify one preprocessed image; returns when its batch is done. `link`: the
        frame's span, which the batch span links to. Raises `Expired` when `deadline`
        (Unix seconds) passes before its batch runs."""
        if self._task is None or self._task.done():
            raise RuntimeError("batcher is not running")
        fut: asyncio.Future[BatchOutput] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Item(image, deadline, fut, time.time_ns(), link))
        return await fut

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        left = list(self._running)
        while not self._queue.empty():
            left.append(self._queue.get_nowait())
        for item in left:
            if not item.future.done():
                item.future.set_exception(RuntimeError("batcher closed"))
        # Wait for a model call still running, without blocking the event loop.
        await asyncio.to_thread(self._executor.shutdown, wait=True)

    async def _collect(self) -> list[_Item]:
        loop = asyncio.get_running_loop()
        items = [await self._queue.get()]
        self._running = items  # visible to close() while still collecting
        deadline = loop.time() + self._wait_s
        while len(items) < self.batch_max:
            if not self._queue.empty():
                items.append(self._queue.get_nowait())
                continue
            if self._wait_s <= 0:
                break  # nothing else waiting: go now
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                items.append(await asyncio.wait_for(self._queue.get(), remaining))
            except TimeoutError:
                break
        return items

    def _batch_span(self, items: list[_Item]) -> Span:
        """A trace of its own (an empty parent context), linked to its frames' spans;
        the no-op span when tracing is off."""
        if isinstance(self._tracer, NoOpTracer):
            return INVALID_SPAN
        links = [Link(item.link) for item in items if item.link is not None]
        return self._tracer.start_span(SPAN_BATCH, context=Context(), links=links,
                                       attributes={ATTR_BATCH_SIZE: len(items)})

    def _live(self, items: list[_Item]) -> list[_Item]:
        """The items still worth a model call: not cancelled, not expired."""
        now = time.time()
        live = []
        for item in items:
            if item.future.done():
                continue  # the caller gave up (cancelled)
            if item.deadline is not None and now >= item.deadline:
                self.expired += 1
                item.future.set_exception(Expired())
                continue
            live.append(item)
        return live

    def _infer(self, images: list[np.ndarray]) -> np.ndarray:
        """On the model's thread: the batch assembled there (not on the event loop) in a
        reused array, then the model. A lone frame goes in as it is, without a copy."""
        if len(images) == 1:
            return self._predict(images[0][None])
        with self._buffers.batch(images) as batch:
            probs = self._predict(batch)
            if np.may_share_memory(probs, batch):  # a view of the array reused next
                probs = np.array(probs)
        return probs

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            items = self._live(await self._collect())
            if not items:
                continue  # every caller gave up or expired while waiting
            images = [item.image for item in items]
            span = self._batch_span(items)
            started_ns = time.time_ns()
            start = time.perf_counter()
            self._running = items
            try:
                probs = await loop.run_in_executor(self._executor, self._infer, images)
            except Exception as exc:  # handed to every caller of this batch
                self._running = []
                span.record_exception(exc)
                span.end()
                for item in items:
                    if not item.future.done():
                        item.future.set_exception(exc)
                continue
            except asyncio.CancelledError:
                span.end()
                raise
            self._running = []  # (left set when cancelled: close() fails those callers)
            infer_s = time.perf_counter() - start
            ended_ns = started_ns + int(infer_s * 1e9)
            span.end(end_time=ended_ns)
            self.batches += 1
            self.frames += len(items)
            self._metrics.batch_size.observe(len(items))
            self._metrics.inference.observe(infer_s)
            for i, item in enumerate(items):
                out = BatchOutput(probs[i], infer_s * 1000.0, len(items), item.submitted_ns,
                                  started_ns, ended_ns)
                self._metrics.queue_wait.observe(out.queue_wait_s)
                if not item.future.done():
                    item.future.set_result(out)

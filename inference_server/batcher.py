"""Micro-batching: frames that arrive together go through the model in one call."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import numpy as np

Predict = Callable[[np.ndarray], np.ndarray]


class Expired(Exception):
    """The frame's deadline passed before its batch ran: it was not inferred."""


# One waiting frame: its image, its deadline (Unix seconds, None: never) and its caller.
_Item = tuple[np.ndarray, float | None, "asyncio.Future[BatchOutput]"]


@dataclass(frozen=True)
class BatchOutput:
    probs: np.ndarray  # this frame's row of class probabilities
    infer_ms: float  # wall time of the model call that included this frame
    batch: int  # how many frames that call had


class Batcher:
    """Runs `predict` in a single-thread executor (the model is never used from two
    threads) on the frames waiting when the model is free, up to `batch_max` of them,
    and hands each caller its own row. With nothing queued a frame goes straight to
    the model; while a batch runs the next one collects, so under load batches grow
    by themselves. `wait_ms` > 0 makes a batch wait that long for more frames (more
    throughput for models that gain from batching, at that much latency).

    A frame whose deadline has passed when its batch is formed is not inferred: its
    caller gets `Expired`, and `expired` counts it."""

    def __init__(self, predict: Predict, batch_max: int, wait_ms: float) -> None:
        if batch_max < 1:
            raise ValueError("batch_max must be >= 1")
        self._predict = predict
        self.batch_max = batch_max
        self._wait_s = max(0.0, wait_ms) / 1000.0
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="infer")
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

    async def submit(self, image: np.ndarray, deadline: float | None = None) -> BatchOutput:
        """Classify one preprocessed image; returns when its batch is done. Raises
        `Expired` when `deadline` (Unix seconds) passes before its batch runs."""
        if self._task is None or self._task.done():
            raise RuntimeError("batcher is not running")
        fut: asyncio.Future[BatchOutput] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((image, deadline, fut))
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
        for _, _, fut in left:
            if not fut.done():
                fut.set_exception(RuntimeError("batcher closed"))
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

    def _live(self, items: list[_Item]) -> list[_Item]:
        """The items still worth a model call: not cancelled, not expired."""
        now = time.time()
        live = []
        for item in items:
            _, deadline, fut = item
            if fut.done():
                continue  # the caller gave up (cancelled)
            if deadline is not None and now >= deadline:
                self.expired += 1
                fut.set_exception(Expired())
                continue
            live.append(item)
        return live

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            items = self._live(await self._collect())
            if not items:
                continue  # every caller gave up or expired while waiting
            batch = items[0][0][None] if len(items) == 1 else np.stack([x for x, _, _ in items])
            start = time.perf_counter()
            self._running = items
            try:
                probs = await loop.run_in_executor(self._executor, self._predict, batch)
            except Exception as exc:  # handed to every caller of this batch
                self._running = []
                for _, _, fut in items:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            self._running = []  # (left set when cancelled: close() fails those callers)
            infer_ms = (time.perf_counter() - start) * 1000.0
            self.batches += 1
            self.frames += len(items)
            for i, (_, _, fut) in enumerate(items):
                if not fut.done():
                    fut.set_result(BatchOutput(probs[i], infer_ms, len(items)))

"""Decoding frames on a few threads, fairly: waiting frames are taken round-robin by
session (fairness.FairQueue), so a session that sends many costly images makes the
others wait for one of its frames at a time, not for all of them."""

from __future__ import annotations

import asyncio
import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..serving.batcher import Expired
from .decoder import Decoder, ImageError
from .fairness import FairQueue


@dataclass(frozen=True)
class Decoded:
    image: np.ndarray | ImageError  # the frame, or why it cannot be classified
    started_ns: int  # the decode itself (wall clock, as spans want), not the wait
    ended_ns: int  # for a thread
    cpu_ms: float  # CPU time of the decoding thread: what the session is charged

    @property
    def wall_ms(self) -> float:
        return (self.ended_ns - self.started_ns) / 1e6


@dataclass(frozen=True)
class _Job:
    data: bytes
    deadline: float | None  # Unix seconds: past it, nobody waits for the frame
    done: asyncio.Future[Decoded]
    decoder: Decoder


class DecodeService:
    """`async with DecodeService(decoder, threads) as d: await d.decode(session, data)`.
    Leaving it finishes the frames already queued, then stops the threads."""

    def __init__(self, decoder: Decoder, threads: int) -> None:
        self.decoder = decoder
        self.threads = threads
        self._queue: FairQueue[_Job] = FairQueue()
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="decode")
        self._runners: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> "DecodeService":
        loop = asyncio.get_running_loop()
        self._runners = [loop.create_task(self._run(), name=f"decode-{i}")
                         for i in range(self.threads)]
        return self

    async def __aexit__(self, *exc: object) -> None:
        while len(self._queue):  # callers still wait for these (the worker drained)
            await asyncio.sleep(0.01)
        for runner in self._runners:
            runner.cancel()
        for runner in self._runners:
            with contextlib.suppress(asyncio.CancelledError):
                await runner
        await asyncio.to_thread(self._pool.shutdown, wait=True)

    async def decode(self, session: str, data: bytes, deadline: float | None = None,
                     decoder: Decoder | None = None) -> Decoded:
        """Raises batcher.Expired when `deadline` passes while the frame waits.
        `decoder`: the one of the frame's model (its input size), else the service's."""
        done: asyncio.Future[Decoded] = asyncio.get_running_loop().create_future()
        self._queue.put(session, _Job(data, deadline, done, decoder or self.decoder))
        return await done

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            job = await self._queue.get()
            if job.done.done():  # its caller gave up
                continue
            if job.deadline is not None and time.time() >= job.deadline:
                job.done.set_exception(Expired())  # the hub answered it already
                continue
            try:
                result = await loop.run_in_executor(self._pool, self._decode, job.decoder,
                                                    job.data)
            except Exception as exc:  # handed to the caller, as the pool would
                if not job.done.done():
                    job.done.set_exception(exc)
                continue
            if not job.done.done():
                job.done.set_result(result)

    @staticmethod
    def _decode(decoder: Decoder, data: bytes) -> Decoded:
        start, start_cpu = time.time_ns(), time.thread_time()
        image: np.ndarray | ImageError
        try:
            image = decoder.decode(data)
        except ImageError as exc:
            image = exc
        return Decoded(image, start, time.time_ns(), (time.thread_time() - start_cpu) * 1000.0)

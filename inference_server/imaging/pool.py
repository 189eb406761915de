"""Decoding frames on a few threads, fairly: waiting frames are taken round-robin by
session (fairness.FairQueue), so a session that sends many costly images makes the
others wait for one of its frames at a time, not for all of them.

The decode threads take the frames from the queue themselves and hand each decoded
image on from there (to its model's batcher, serving/worker.py): a frame does not go
back to the event loop between its decode and its model call."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from typing import Callable

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


# Run on the decode thread: `then` with the frame decoded (or refused: Decoded.image is
# the ImageError), `fail` instead with why it was not decoded (batcher.Expired when its
# deadline passed while it waited) or with what `then` raised.
Then = Callable[[Decoded], None]
Fail = Callable[[BaseException], None]
GivenUp = Callable[[], bool]  # True once nobody waits for the frame (its caller cancelled)


@dataclass(frozen=True)
class _Job:
    data: bytes
    deadline: float | None  # Unix seconds: past it, nobody waits for the frame
    decoder: Decoder
    then: Then
    fail: Fail
    given_up: GivenUp | None


class DecodeService:
    """`async with DecodeService(decoder, threads) as d: d.submit(session, data, …)`.
    Leaving it finishes the frames already queued, then stops the threads."""

    def __init__(self, decoder: Decoder, threads: int) -> None:
        self.decoder = decoder
        self.threads = threads
        self._queue: FairQueue[_Job] = FairQueue()
        self._threads: list[threading.Thread] = []

    async def __aenter__(self) -> "DecodeService":
        self._threads = [threading.Thread(target=self._run, name=f"decode-{i}", daemon=True)
                         for i in range(self.threads)]
        for thread in self._threads:
            thread.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._queue.close()  # the threads decode what is queued (callers wait), then stop
        await asyncio.to_thread(self._join)

    def _join(self) -> None:
        for thread in self._threads:
            thread.join()

    def submit(self, session: str, data: bytes, deadline: float | None, decoder: Decoder | None,
               then: Then, fail: Fail, given_up: GivenUp | None = None) -> None:
        """Queue a frame of `session` for decoding, by `decoder` (the one of the frame's
        model: its input size; None: the service's). `then` or `fail` is called once, on
        a decode thread, unless `given_up()` says nobody waits any more. Raises
        RuntimeError once the service is left."""
        self._queue.put(session, _Job(data, deadline, decoder or self.decoder, then, fail,
                                      given_up))

    def _run(self) -> None:
        while (job := self._queue.get()) is not None:
            if job.given_up is not None and job.given_up():
                continue
            if job.deadline is not None and time.time() >= job.deadline:
                job.fail(Expired())  # the hub answered it already
                continue
            try:
                job.then(self._decode(job.decoder, job.data))
            except Exception as exc:  # a decoder bug, or `then` failed: the caller hears it
                job.fail(exc)

    @staticmethod
    def _decode(decoder: Decoder, data: bytes) -> Decoded:
        start, start_cpu = time.time_ns(), time.thread_time()
        image: np.ndarray | ImageError
        try:
            image = decoder.decode(data)
        except ImageError as exc:
            image = exc
        return Decoded(image, start, time.time_ns(), (time.thread_time() - start_cpu) * 1000.0)

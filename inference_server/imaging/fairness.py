"""Fair shares of the worker between sessions: one that keeps sending costly images
spends its own budget, not the decode threads of the others.

Each session has a token bucket of decode time: a frame is taken only while the bucket
is not empty and the session has fewer than a few frames in the worker; its decode's
CPU time is then charged to the bucket. Frames over the budget are answered at once
with `rate_limited`, without decoding (the hub tells its client to slow down). A
webcam at 30 frames/s of 640x480 JPEG spends about 60 ms a second; the issue's attack,
images at the decode caps 10 times a second, about 450.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Callable, Generic, TypeVar

# The defaults of --session-decode-ms and --session-frames (config.py):
# Decode CPU a session may spend, on average, per second of wall time: a tenth of a
# core, about twice what a 30 frames/s webcam of 640x480 JPEGs needs.
DECODE_MS_PER_S = 100.0
# Frames of one session in the worker at once (decoding, waiting for the model). The
# hub sends at most 2 per session (HUB_FRAMES_IN_FLIGHT); more come from clients that
# talk to NATS directly and do not wait for answers.
FRAMES_PER_SESSION = 4
# What a session may spend at once after a quiet spell (a burst of large photo
# uploads): this many seconds of its rate.
BURST_SECONDS = 3.0
# Sessions remembered. Beyond it the least recently seen idle session is forgotten:
# coming back it starts with a full bucket, as a new session does.
MAX_SESSIONS = 10_000
_FORGET_LOOKAHEAD = 16  # sessions past the excess looked at when some are busy


@dataclass
class _Bucket:
    tokens: float  # decode ms it may still spend (negative: in debt)
    stamp: float  # when tokens was last brought up to date
    held: int = 0  # frames of the session in the worker
    shedding: bool = False  # its last frame was refused


class FairShare:
    """Per-session decode budgets. Not thread-safe: used from the event loop only."""

    def __init__(self, rate_ms_per_s: float = DECODE_MS_PER_S,
                 burst_ms: float = DECODE_MS_PER_S * BURST_SECONDS,
                 frames_per_session: int = FRAMES_PER_SESSION,
                 max_sessions: int = MAX_SESSIONS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate_ms_per_s
        self.burst = burst_ms
        self.frames_per_session = frames_per_session
        self.max_sessions = max_sessions
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self.shed = 0

    def admit(self, session: str) -> tuple[str | None, bool]:
        """(None, _) when a frame of `session` may be decoded (then call done() when it
        is); else (the reason, True when this session was not being shed before)."""
        bucket = self._bucket(session)
        reason = None
        if bucket.held >= self.frames_per_session:
            reason = f"more than {self.frames_per_session} frames of the session at once"
        elif self.rate > 0 and bucket.tokens <= 0:  # (rate 0: no decode budget)
            reason = (f"the session used its decode time ({self.rate:g} ms a second); "
                      "frames are refused until it has some again")
        if reason is None:
            bucket.held += 1
            bucket.shedding = False
            return None, False
        self.shed += 1
        started = not bucket.shedding
        bucket.shedding = True
        return reason, started

    def done(self, session: str, cost_ms: float) -> None:
        """An admitted frame left the worker after `cost_ms` of decode CPU."""
        bucket = self._buckets.get(session)
        if bucket is None:  # forgotten meanwhile (cannot happen while held > 0)
            return
        bucket.held = max(0, bucket.held - 1)
        bucket.tokens -= max(0.0, cost_ms)

    def _bucket(self, session: str) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.get(session)
        if bucket is None:
            bucket = _Bucket(tokens=self.burst, stamp=now)
            self._buckets[session] = bucket
            self._forget_idle()
        else:
            self._buckets.move_to_end(session)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
            bucket.stamp = now
        return bucket

    def _forget_idle(self) -> None:
        """Forget the least recently seen sessions without frames in the worker (looking
        at the oldest few only: O(1) per new session)."""
        excess = len(self._buckets) - self.max_sessions
        if excess <= 0:
            return
        oldest = list(itertools.islice(self._buckets, excess + _FORGET_LOOKAHEAD))
        for session in oldest:
            if excess <= 0:
                break
            if self._buckets[session].held == 0:
                del self._buckets[session]
                excess -= 1

    def __len__(self) -> int:
        return len(self._buckets)


T = TypeVar("T")


class FairQueue(Generic[T]):
    """Items waiting for the decode threads, taken round-robin by session: a frame
    waits behind at most one frame of each other session, however many those sent.
    Thread-safe: the event loop puts, the decode threads take (get blocks). Unbounded
    by itself; FairShare bounds the frames of each session."""

    def __init__(self) -> None:
        self._sessions: OrderedDict[str, deque[T]] = OrderedDict()
        self._ready = threading.Condition(threading.Lock())
        self._size = 0
        self._closed = False

    def put(self, session: str, item: T) -> None:
        """Raises RuntimeError once closed: no thread would take it."""
        with self._ready:
            if self._closed:
                raise RuntimeError("the decode queue is closed")
            self._sessions.setdefault(session, deque()).append(item)
            self._size += 1
            self._ready.notify()

    def get(self) -> T | None:
        """The next item in turn, waiting for one; None once closed and empty (the
        items put before close are still handed out)."""
        with self._ready:
            while not self._sessions:
                if self._closed:
                    return None
                self._ready.wait()
            session, items = next(iter(self._sessions.items()))
            item = items.popleft()
            self._size -= 1
            if items:
                self._sessions.move_to_end(session)  # its next frame waits for the others'
            else:
                del self._sessions[session]
            return item

    def close(self) -> None:
        """Take no more items; wake the getters, which empty the queue and stop."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()

    def __len__(self) -> int:
        return self._size

"""The worker's place in the queue group: a member only while it has room.

A NATS queue group hands each frame to a random member. A member that takes frames
it cannot start soon hides a queue: the frame waits inside it while another worker
idles, and its deadline runs out there. So the worker holds at most `capacity` frames
(about one batch being computed plus one waiting) and leaves the queue group when it
is full; the server then routes frames only to workers with room, and when every
worker is full the hub's request gets "no responders" at once and can shed the frame
instead of letting it age (docs/dispatch.md).

A full worker rejoins once it holds fewer than `rejoin_below` (room for about half a
batch), so at saturation it leaves and rejoins once every few frames, not at each one.

Leaving is a drain (UNSUB, then a round trip), not an unsubscribe: frames the server
sent before it saw the UNSUB are still delivered and taken, so none is lost; the
worker holds at most a few more than `capacity` for that moment. The UNSUB must reach
the server before the round trip's PING, which nats-py's own drain does not ensure
(see `leave`): without that, frames were lost at every few hundred leaves.

The subscription is the `frames` endpoint of the worker's NATS micro service
(service.py): the intake takes the one the service made, and joins again through
`join`, which subscribes the endpoint anew (same subject, queue group and handler, so
the endpoint's stats go on counting). The service's ping and stats subscriptions stay
as they are: a worker that is merely full still answers the hub's readiness ping.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Awaitable, Callable

import nats
from nats.aio.subscription import Subscription

from .log import log_fields

log = logging.getLogger("inference_server.intake")

# Subscribes anew to the frames in the queue group; returns the subscription.
Join = Callable[[], Awaitable[Subscription]]


class Intake:
    """Leaves and joins the queue group as frames are taken and done.

    `taken()` and `done()` are called by the worker for every frame; one task at a
    time brings the subscription in line with the wanted state."""

    def __init__(self, join: Join, capacity: int, rejoin_below: int | None = None) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.rejoin_below = min(capacity, rejoin_below or capacity)
        self._join = join
        self.capacity = capacity
        self.held = 0  # frames taken and not yet answered
        self.pauses = 0  # times the worker left the queue group because it was full
        self._sub: Subscription | None = None
        self._started = False  # frames taken before start() are counted, not acted on
        self._closed = False
        self._sync: asyncio.Task[None] | None = None
        self._draining: set[asyncio.Task[None]] = set()

    def start(self, sub: Subscription) -> None:
        """Take charge of `sub`, the queue subscription already taking frames."""
        self._sub = sub
        self._started = True
        self._reconcile()  # it may be full already

    @property
    def open(self) -> bool:
        return self._sub is not None

    def taken(self) -> None:
        self.held += 1
        self._reconcile()

    def done(self) -> None:
        self.held -= 1
        self._reconcile()

    def _want_open(self) -> bool:
        if self._closed:
            return False
        return self.held < (self.capacity if self.open else self.rejoin_below)

    def _reconcile(self) -> None:
        if not self._started or self._closed or self._want_open() == self.open:
            return
        if self._sync is None or self._sync.done():
            self._sync = asyncio.get_running_loop().create_task(self._bring_in_line(),
                                                                name="intake")

    async def _bring_in_line(self) -> None:
        while not self._closed and self._want_open() != self.open:
            try:
                if self._want_open():
                    self._sub = await self._join()
                else:
                    sub, self._sub = self._sub, None
                    self.pauses += 1
                    if sub is not None:
                        self._drain_later(sub)
            except nats.errors.Error as exc:  # closed or draining: nothing to do now
                log_fields(log, logging.DEBUG, "intake not changed", error=str(exc))
                return

    def _drain_later(self, sub: Subscription) -> None:
        """Drain without waiting: the frames it still delivers are taken as usual, and
        the worker may join again before the drain's round trip is back."""
        task = asyncio.get_running_loop().create_task(self._drain_one(sub))
        self._draining.add(task)
        task.add_done_callback(self._draining.discard)

    async def _drain_one(self, sub: Subscription) -> None:
        with contextlib.suppress(nats.errors.Error, asyncio.TimeoutError):
            await leave(sub)

    async def close(self, timeout_s: float) -> None:
        """Stop taking frames; deliver those already sent to us (the caller then
        finishes them)."""
        self._closed = True
        if self._sync is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._sync
        sub, self._sub = self._sub, None
        if sub is not None:
            self._drain_later(sub)
        if self._draining:
            await asyncio.wait(set(self._draining), timeout=timeout_s)


async def leave(sub: Subscription) -> None:
    """Drain `sub` with its UNSUB on the wire before the drain's PING.

    nats-py 2.16's `Subscription.drain()` sends UNSUB, then PING, and once the PONG is
    back it waits for the messages already received and forgets the subscription; a
    message that arrives for it after that is dropped without a word (no error, no
    slow-consumer count). The order matters and is not kept: the UNSUB goes into the
    client's write buffer, which its flusher task writes later, while the PING is
    written to the socket at once. So the PING can reach the server first, the PONG
    comes back before the server has read the UNSUB, and every frame the server routes
    to the subscription in between is thrown away by the client: the hub's request
    gets neither an answer nor "no responders" and is answered `timeout` after
    HUB_FRAME_TIMEOUT (docs/dispatch.md, "Frames lost in the leave"). Here the UNSUB is
    written out first (the client's private calls: the public API has no way to).

    The drain sends its own UNSUB again (the server ignores one for a subscription it
    no longer has), and one more goes after it: a reconnect during the drain replays
    the subscriptions the client still has, this one included, and the server would
    go on routing frames to a subscription the client then forgets."""
    conn, sid = sub._conn, sub._id
    await conn._send_unsubscribe(sid)
    await conn._flush_pending(force_flush=True)  # written before the PING below
    await sub.drain()
    if conn.is_connected:
        await conn._send_unsubscribe(sid)

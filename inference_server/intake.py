"""The worker's place in the queue group: a member only while it has room.

A NATS queue group hands each frame to a random member. A member that takes frames
it cannot start soon hides a queue: the frame waits inside it while another worker
idles, and its deadline runs out there. So the worker holds at most `capacity` frames
(about one batch being computed plus one waiting), and the NATS server itself keeps
it to that: the worker joins the queue group with a credit, a subscription that ends
by itself after as many frames as the worker has room for (`UNSUB <sid> <max>`, the
server's auto-unsubscribe). The server counts the frames it delivers to the
subscription and, at the last one, removes it in the same step; a frame that finds
every member out of credit is handed to none, and the hub's request gets "no
responders" at once and can shed the frame instead of letting it age
(docs/dispatch.md). A worker whose loop stalls (a busy machine) gets no more than its
credit meanwhile, and nothing is lost in a leave: there is no leave to race with.

A worker whose credit is spent joins again once it holds fewer than `rejoin_below`
(room for about half a batch), with a credit of all the room it has then; so at
saturation it rejoins once every few frames, not at each one.

The subscription is the `frames` endpoint of the worker's NATS micro service
(service.py): the intake drains the one the service made (its frames are taken as
usual) and joins through `join`, which subscribes the endpoint anew (same subject,
queue group and handler, so the endpoint's stats go on counting). The service's ping
and stats subscriptions stay as they are: a worker that is merely full still answers
the hub's readiness ping.
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
    """Joins the queue group with a credit of the room the worker has.

    `taken()` and `done()` are called by the worker for every frame it holds, and
    `delivered()` for every frame the subscription delivers (held or answered at once:
    each one spends credit); one task at a time brings the subscription in line."""

    def __init__(self, join: Join, capacity: int, rejoin_below: int | None = None) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.rejoin_below = min(capacity, rejoin_below or capacity)
        self._join = join
        self.capacity = capacity
        self.held = 0  # frames taken and not yet answered
        self.pauses = 0  # credits spent: times the worker was out of the group, full
        self._sub: Subscription | None = None
        self._credit = 0  # frames the server may deliver to _sub in all
        self._started = False  # frames taken before start() are counted, not acted on
        self._closed = False
        self._sync: asyncio.Task[None] | None = None
        self._draining: set[asyncio.Task[None]] = set()

    def start(self, sub: Subscription) -> None:
        """Take charge of `sub`, the queue subscription the service made (no credit):
        drain it, and join again with a credit."""
        self._started = True
        self._drain_later(sub)
        self._reconcile()

    @property
    def open(self) -> bool:
        """In the queue group: a subscription with credit left."""
        return self._sub is not None and self._sub.delivered < self._credit

    def taken(self) -> None:
        self.held += 1
        self._reconcile()

    def done(self) -> None:
        self.held -= 1
        self._reconcile()

    def delivered(self) -> None:
        """A frame came on the subscription: when it was the last of the credit, the
        server has taken the worker out of the group."""
        self._reconcile()

    def _want_join(self) -> bool:
        return not self._closed and not self.open and self.held < self.rejoin_below

    def _reconcile(self) -> None:
        if not self._started or not self._want_join():
            return
        if self._sync is None or self._sync.done():
            self._sync = asyncio.get_running_loop().create_task(self._bring_in_line(),
                                                                name="intake")

    async def _bring_in_line(self) -> None:
        while self._want_join():
            if self._sub is not None:
                self.pauses += 1  # its credit is spent; the server has removed it
                self._sub = None
            room = self.capacity - self.held
            try:
                sub = await self._join()
                # Nothing is awaited between the SUB and this UNSUB: the client
                # writes both at once, and the server counts every frame it
                # delivers to the subscription against the credit anyway.
                await sub.unsubscribe(limit=room)
            except nats.errors.Error as exc:  # closed or draining: nothing to do now
                log_fields(log, logging.DEBUG, "intake not changed", error=str(exc))
                return
            _finish_stopped_early(sub)
            self._sub, self._credit = sub, room

    def _drain_later(self, sub: Subscription) -> None:
        """Drain without waiting: the frames it still delivers are taken as usual."""
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
        if sub is not None and sub.delivered < self._credit:
            self._drain_later(sub)
        if self._draining:
            await asyncio.wait(set(self._draining), timeout=timeout_s)


def _finish_stopped_early(sub: Subscription) -> None:
    """Hand on the frames nats-py leaves behind when a subscription's credit ends.

    nats-py 2.16 stops a callback subscription's task once it has *received* its
    last message, checked after each callback, though messages received with it may
    still wait in its queue (it tests `_pending_queue.empty`, the method, not its
    result): those would never reach the handler. The task stops at its next wait,
    which with a handler that does not wait is when the queue is empty; should it stop
    earlier, the frames still queued are handed to the handler here (the client's
    private attributes: the public API has no way to)."""
    task = sub._wait_for_msgs_task
    if task is None:
        return

    def finish(_: asyncio.Task[None]) -> None:
        queue = sub._pending_queue
        while not queue.empty():
            msg = queue.get_nowait()
            queue.task_done()
            asyncio.get_running_loop().create_task(sub._cb(msg))

    task.add_done_callback(finish)


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

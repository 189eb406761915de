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
credit meanwhile (give or take the frame or two the server may route to a new
subscription before it reads its credit). A spent subscription is drained (`leave`),
so every frame the server sent it is taken.

Credit is granted once at least half a batch of room is free (neither held nor
promised: fewer than `rejoin_below` frames), or any room once the worker holds
nothing, all of that room at once, as one more subscription: so at saturation the
worker subscribes once every few frames, not at each one, and a worker that has room
again is promised all of it.

Credit is counted in messages (the server's), room in frames. A message may be a
batch of up to `frames_per_message` frames (wire/frame_batch.py): the worker counts
each of its frames as held (`taken(n)`) and it spends one message of credit. So one
batch can leave the worker holding up to `frames_per_message - 1` frames more than a
single frame would, and its credit still promising frames it has no room for: then the
intake lowers the credit of its subscriptions to the room now left (`UNSUB <sid>
<max>` again, with a smaller max: the server keeps the smaller limit, or removes the
subscription at once when it has delivered that many already, and the intake drains
it as a spent one). The bound is, as the intake counts (give or take what the server
had already routed before it read the new limit):

    frames held + messages promised <= capacity + frames_per_message - 1

(a message promised is at least one frame). With single frames only it is the bound
above, `capacity`.

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

from ..ops.log import log_fields

log = logging.getLogger("inference_server.serving.intake")

# Subscribes anew to the frames in the queue group; returns the subscription.
Join = Callable[[], Awaitable[Subscription]]


class Intake:
    """Keeps the worker's credit in the queue group at the room it has.

    The credit promised is the messages the worker's subscriptions may still be sent;
    held frames plus that never exceed `capacity`, or `capacity + frames_per_message -
    1` just after a batch message (then the credit is lowered to the room left). When
    the room neither held nor promised reaches `capacity - rejoin_below + 1` frames,
    it is granted as a new subscription with that credit (beside any whose credit is
    not spent yet: the server picks among all of them). `taken()` and `done()` are
    called by the worker for every frame it holds, and `delivered()` for every message
    a subscription delivers (a frame or a batch, held or answered at once: each one
    spends credit); one task at a time grants and takes back credit."""

    def __init__(self, join: Join, capacity: int, rejoin_below: int | None = None) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.rejoin_below = min(capacity, rejoin_below or capacity)
        self._join = join
        self.capacity = capacity
        self.held = 0  # frames taken and not yet answered
        self.pauses = 0  # times every credit was spent: the worker was out of the group
        self._subs: list[tuple[Subscription, int]] = []  # with the credit each was given
        self._started = False  # frames taken before start() are counted, not acted on
        self._closed = False
        self._sync: asyncio.Task[None] | None = None
        self._draining: set[asyncio.Task[None]] = set()

    def start(self, sub: Subscription) -> None:
        """Take charge of `sub`, the queue subscription the service made (no credit):
        join again with a credit, then drain it (in that order: the worker is never
        out of the group in between)."""
        self._started = True
        self._reconcile()
        self._drain_later(sub)

    @property
    def promised(self) -> int:
        """Frames the subscriptions may still be sent."""
        return sum(max(0, credit - sub.delivered) for sub, credit in self._subs)

    @property
    def open(self) -> bool:
        """In the queue group: some credit is left."""
        return self.promised > 0

    def taken(self, frames: int = 1) -> None:
        """`frames` more held (a batch message: all of its frames to decode)."""
        self.held += frames
        self._reconcile()

    def done(self) -> None:
        self.held -= 1
        self._reconcile()

    def delivered(self) -> None:
        """A message came on a subscription: when it was the last of its credit, the
        server has removed the subscription."""
        self._reconcile()

    def _room(self) -> int:
        """Room to grant now (0: not enough for a grant)."""
        if self._closed:
            return 0
        room = max(0, self.capacity - self.held - self.promised)
        # At least half a batch at a time, or whatever room an idle worker has: then
        # a burst finds all of it.
        return room if room > self.capacity - self.rejoin_below or self.held == 0 else 0

    def _excess(self) -> int:
        """Messages promised beyond the room left (after a batch): to take back."""
        if self._closed:
            return 0
        return self.promised - max(0, self.capacity - self.held)

    def _reconcile(self) -> None:
        if not self._started:
            return
        self._forget_spent()
        if (self._room() or self._excess() > 0) and (self._sync is None or self._sync.done()):
            self._sync = asyncio.get_running_loop().create_task(self._grant(),
                                                                name="intake")

    def _forget_spent(self) -> None:
        spent = [sub for sub, credit in self._subs if sub.delivered >= credit]
        if spent:
            # The server has removed them; the drain takes any frame it sent
            # before it read the credit, and then forgets them here too.
            self._subs = [(sub, credit) for sub, credit in self._subs if sub not in spent]
            for sub in spent:
                self._drain_later(sub)
            if not self._subs:
                self.pauses += 1  # every credit spent: the worker is out of the group

    async def _grant(self) -> None:
        while True:
            try:
                if self._excess() > 0:
                    await self._take_back()
                elif room := self._room():
                    sub = await self._join()
                    await _limit(sub, room)
                    self._subs.append((sub, room))
                else:
                    return
            except nats.errors.Error as exc:  # closed or draining: nothing to do now
                log_fields(log, logging.DEBUG, "intake not changed", error=str(exc))
                return

    async def _take_back(self) -> None:
        """Lower the credit of the newest subscriptions until none is promised beyond
        the room left: the server keeps the lower limit, or removes a subscription that
        has had as many already (then drained here as a spent one). Counted here before
        the server is told, and looked at again after each await (frames come and go)."""
        while (excess := self._excess()) > 0:
            sub, credit = [(s, c) for s, c in self._subs if c > s.delivered][-1]
            lowered = credit - min(excess, credit - sub.delivered)
            self._subs = [(s, lowered if s is sub else c) for s, c in self._subs]
            await _limit(sub, lowered)
            self._forget_spent()

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
        subs, self._subs = self._subs, []
        for sub, credit in subs:
            if sub.delivered < credit:
                self._drain_later(sub)
        if self._draining:
            await asyncio.wait(set(self._draining), timeout=timeout_s)


async def _limit(sub: Subscription, credit: int) -> None:
    """`UNSUB <sid> <credit>`: the server delivers `credit` messages to `sub` in all,
    then removes it (at once when it has delivered that many already; 0: a plain
    UNSUB). Not `sub.unsubscribe(limit=credit)`, which also has the client forget
    the subscription at its `credit`-th frame and drop any frame after it: the server
    may route a frame or two to the new subscription before it reads this UNSUB (the
    SUB came first), and counts them against the credit, so the server may deliver
    more than `credit` and none of them may be lost. Nor does nats-py 2.16 hand every
    queued message to the handler once that limit is reached (it tests
    `_pending_queue.empty`, the method, not its result). So the client's private call;
    the intake drains the subscription itself once the credit is spent. (A reconnect
    replays the subscription without the limit: it is then drained when its credit is
    spent, as the worker used to leave the group.)"""
    await sub._conn._send_unsubscribe(sub._id, limit=credit)


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

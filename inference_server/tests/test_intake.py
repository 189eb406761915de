"""Leaving and joining the queue group loses no frame: on a real nats-server, a member
that leaves and rejoins at nearly every request (capacity 2) while requests flow gets
every request the server routed to it, so each request is answered or told "no
responders" at once; none waits for its timeout."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from inference_server.serving.intake import Intake, leave

from .procs import NatsServer

SUBJECT = "frames.live.flap"
FLOOD_S = 3.0
REQUESTERS = 40
# Far longer than an answer takes here (a few ms): a request that waits this long
# was never handed to the member.
REQUEST_TIMEOUT_S = 2.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    srv = NatsServer(tmp_path_factory.mktemp("nats"))
    yield srv
    srv.stop()


async def test_no_frame_is_lost_while_a_full_member_leaves_and_rejoins(
        server: NatsServer) -> None:
    member = await nats.connect(server.url)
    client = await nats.connect(server.url)
    taken = 0
    tasks: set[asyncio.Task[None]] = set()

    async def answer(msg: Msg) -> None:
        await asyncio.sleep(0.002)  # the model's call
        await msg.respond(b"result")
        intake.done()

    async def on_frame(msg: Msg) -> None:
        nonlocal taken
        taken += 1
        intake.taken()
        task = asyncio.get_running_loop().create_task(answer(msg))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        intake.delivered()

    async def join() -> Subscription:
        return await member.subscribe(SUBJECT, queue="inference", cb=on_frame)

    intake = Intake(join, capacity=2, rejoin_below=1)
    intake.start(await join())
    answers: Counter[str] = Counter()
    end = time.monotonic() + FLOOD_S

    async def requester(i: int) -> None:
        while time.monotonic() < end:
            try:
                await client.request(SUBJECT, b"x" * 8000, timeout=REQUEST_TIMEOUT_S,
                                     headers={"Frame-Seq": str(i)})
                answers["result"] += 1
            except nats.errors.NoRespondersError:
                answers["no responders"] += 1
                await asyncio.sleep(0.001)
            except nats.errors.TimeoutError:
                answers["timeout"] += 1

    try:
        await asyncio.gather(*(requester(i) for i in range(REQUESTERS)))
        await intake.close(5)
        if tasks:
            await asyncio.wait(set(tasks), timeout=5)
    finally:
        with contextlib.suppress(nats.errors.Error):
            await member.close()
        await client.close()
    assert intake.pauses > 100, f"the member left the group only {intake.pauses} times"
    assert answers["result"] > 0 and answers["no responders"] > 0, answers
    # Every frame the server sent the member reached its handler (none thrown away
    # by the client library), and none of the requests waited for its timeout.
    assert member.stats["in_msgs"] == taken, (member.stats["in_msgs"], taken, answers)
    assert answers["timeout"] == 0, answers


async def test_leave_loses_no_message_the_server_sent(server: NatsServer) -> None:
    """`leave` (a drain with its UNSUB written before the PING; the worker's start and
    stop) while requests flow: every message the server sent reaches the handler."""
    member = await nats.connect(server.url)
    client = await nats.connect(server.url)
    handled = 0

    async def on_msg(msg: Msg) -> None:
        nonlocal handled
        handled += 1
        await msg.respond(b"ok")

    answers: Counter[str] = Counter()
    end = time.monotonic() + FLOOD_S

    async def requester() -> None:
        while time.monotonic() < end:
            try:
                await client.request(SUBJECT, b"x" * 8000, timeout=REQUEST_TIMEOUT_S,
                                     headers={"a": "b"})
                answers["result"] += 1
            except nats.errors.NoRespondersError:
                answers["no responders"] += 1
                await asyncio.sleep(0.001)
            except nats.errors.TimeoutError:
                answers["timeout"] += 1

    async def flap() -> int:
        leaves: set[asyncio.Task[None]] = set()
        n = 0
        while time.monotonic() < end:
            sub = await member.subscribe(SUBJECT, queue="inference", cb=on_msg)
            await asyncio.sleep(0.002)
            task = asyncio.get_running_loop().create_task(leave(sub))
            leaves.add(task)
            task.add_done_callback(leaves.discard)
            n += 1
            await asyncio.sleep(0.001)
        if leaves:
            await asyncio.wait(set(leaves), timeout=5)
        return n

    try:
        flaps, *_ = await asyncio.gather(flap(), *(requester() for _ in range(REQUESTERS)))
    finally:
        await member.close()
        await client.close()
    assert flaps > 100 and answers["result"] > 0, (flaps, answers)
    assert member.stats["in_msgs"] == handled, (member.stats["in_msgs"], handled, answers)
    assert answers["timeout"] == 0, answers


class FakeConn:
    """What the intake sends for a subscription: its UNSUBs (sid, max; 0: none)."""

    def __init__(self) -> None:
        self.unsubs: list[tuple[int, int]] = []
        self.is_connected = True

    async def _send_unsubscribe(self, sid: int, limit: int = 0) -> None:
        self.unsubs.append((sid, limit))

    async def _flush_pending(self, force_flush: bool = False) -> None:
        pass


class FakeSub:
    def __init__(self, conn: FakeConn, sid: int) -> None:
        self._conn, self._id = conn, sid
        self.delivered = 0
        self.drained = False

    async def drain(self) -> None:
        self.drained = True


async def settle(intake: Intake) -> None:
    """Let the intake's tasks (grant, take back, drains) run."""
    for _ in range(20):
        await asyncio.sleep(0)


async def test_a_batch_counts_its_frames_and_takes_back_the_credit_it_has_no_room_for() -> None:
    """Credit is in messages, room in frames: a batch of n frames spends one message of
    credit and holds n, and the credit beyond the room left is taken back (a lower
    UNSUB max), so held + promised <= capacity + frames_per_message - 1."""
    conn = FakeConn()
    subs: list[FakeSub] = []

    async def join() -> Subscription:
        subs.append(FakeSub(conn, len(subs) + 1))
        return subs[-1]  # type: ignore[return-value]

    capacity, per_message = 8, 4
    intake = Intake(join, capacity=capacity, rejoin_below=4)
    intake.start(await join())  # the service's subscription: drained, a new one joins
    await settle(intake)
    sub = subs[1]
    assert (conn.unsubs[0], intake.promised) == ((sub._id, capacity), capacity)

    def batch() -> None:  # what the worker does for a batch message of `per_message` frames
        sub.delivered += 1
        intake.taken(per_message)
        intake.delivered()
        assert intake.held + intake.promised <= capacity + per_message - 1

    batch()
    await settle(intake)
    # 4 held: room for 4 more messages, not the 7 the credit still promised.
    assert (intake.held, intake.promised) == (4, 4)
    assert conn.unsubs[-1] == (sub._id, 1 + 4)  # one delivered + four more
    batch()
    await settle(intake)
    # Full: the credit is taken back to what was delivered, the subscription drained.
    assert (intake.held, intake.promised, intake.open) == (8, 0, False)
    assert conn.unsubs[-1][0] == sub._id and sub.drained
    assert intake.pauses == 1
    for _ in range(8):
        intake.done()
    await settle(intake)
    assert (intake.held, intake.promised, len(subs)) == (0, capacity, 3)  # joined again


async def test_single_frames_keep_the_bound_at_capacity() -> None:
    """Without batches nothing is taken back: held + promised stays <= capacity."""
    conn = FakeConn()
    subs: list[FakeSub] = []

    async def join() -> Subscription:
        subs.append(FakeSub(conn, len(subs) + 1))
        return subs[-1]  # type: ignore[return-value]

    intake = Intake(join, capacity=4, rejoin_below=2)
    intake.start(await join())
    await settle(intake)
    for _ in range(4):
        subs[-1].delivered += 1
        intake.taken()
        intake.delivered()
        assert intake.held + intake.promised <= 4
    await settle(intake)
    assert conn.unsubs[:1] == [(2, 4)]
    assert all(limit in (0, 4) for _, limit in conn.unsubs)  # no credit lowered
    assert (intake.held, intake.open) == (4, False)


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait for `condition`; fail (not hang) when it never comes."""
    end = time.monotonic() + REQUEST_TIMEOUT_S * 5
    while not condition():
        if time.monotonic() > end:
            pytest.fail(f"never {what}")
        await asyncio.sleep(0.01)


async def test_a_member_full_after_one_batch_leaves_the_group_on_a_real_server(
        server: NatsServer) -> None:
    """Capacity 4, credit 4 messages: one batch message of 4 frames fills the member, so
    the intake takes back the 3 messages of credit left and the next request finds no
    responder at once (counting messages, the member would have taken it and held it
    past its timeout); once the frames are done it joins again and is sent frames."""
    member = await nats.connect(server.url)
    client = await nats.connect(server.url)
    subject = "frames.live.batches"
    held: list[Msg] = []
    got_batch = asyncio.Event()

    async def on_message(msg: Msg) -> None:
        frames = int((msg.headers or {}).get("Frame-Count", "1"))
        held.append(msg)
        intake.taken(frames)
        intake.delivered()
        got_batch.set()

    async def join() -> Subscription:
        return await member.subscribe(subject, queue="inference", cb=on_message)

    intake = Intake(join, capacity=4, rejoin_below=2)
    try:
        intake.start(await join())
        await until(lambda: intake.open, "joined")
        first = asyncio.ensure_future(client.request(
            subject, b"4 frames", timeout=REQUEST_TIMEOUT_S, headers={"Frame-Count": "4"}))
        await got_batch.wait()
        # The credit taken back, the leave done.
        await until(lambda: not intake.open and not intake._draining, "left")
        assert (intake.held, intake.promised) == (4, 0)
        with pytest.raises(nats.errors.NoRespondersError):
            await client.request(subject, b"one more", timeout=REQUEST_TIMEOUT_S)
        for msg in held:
            await msg.respond(b"answers")
        assert (await first).data == b"answers"
        for _ in range(4):
            intake.done()
        await until(lambda: intake.open, "joined again")
        later = asyncio.ensure_future(client.request(subject, b"again",
                                                     timeout=REQUEST_TIMEOUT_S))
        await until(lambda: len(held) == 2, "sent a frame")
        await held[1].respond(b"answered")
        assert (await later).data == b"answered"
        await intake.close(5)
    finally:
        await member.close()
        await client.close()


async def test_credit_is_taken_back_from_every_subscription_newest_first() -> None:
    """Two subscriptions with credit left; a batch that fills the worker takes all of
    it back: the newest one's first, then the older one's."""
    conn = FakeConn()
    subs: list[FakeSub] = []

    async def join() -> Subscription:
        subs.append(FakeSub(conn, len(subs) + 1))
        return subs[-1]  # type: ignore[return-value]

    intake = Intake(join, capacity=8, rejoin_below=8)  # any room is granted at once
    intake.start(await join())
    await settle(intake)
    older = subs[1]
    older.delivered += 1  # a single frame, answered: its room granted again
    intake.taken()
    intake.delivered()
    intake.done()
    await settle(intake)
    newer = subs[2]
    assert conn.unsubs[-1] == (newer._id, 1) and intake.promised == 8
    older.delivered += 1  # a batch of 8 frames on the older subscription
    intake.taken(8)
    intake.delivered()
    await settle(intake)
    assert (intake.held, intake.promised, intake.open) == (8, 0, False)
    granted = conn.unsubs.index((newer._id, 1))
    # Taken back: the newer one's credit to none (a plain UNSUB), the older one's to
    # the 2 it had delivered; then each drained (its leave's UNSUBs).
    assert conn.unsubs[granted + 1:granted + 3] == [(newer._id, 0), (older._id, 2)]
    assert newer.drained and older.drained

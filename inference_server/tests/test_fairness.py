"""Per-session decode budgets (FairShare), with a hand-moved clock, and the round-robin
decode queue (FairQueue) the decode threads take from."""

from __future__ import annotations

import threading
import time

import pytest

from inference_server.imaging.fairness import FairQueue, FairShare


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def share(clock: Clock, **kw: float) -> FairShare:
    return FairShare(rate_ms_per_s=kw.get("rate", 100.0), burst_ms=kw.get("burst", 300.0),
                     frames_per_session=int(kw.get("frames", 4)),
                     max_sessions=int(kw.get("sessions", 100)), clock=clock)


def test_a_session_within_its_budget_is_never_refused() -> None:
    clock = Clock()
    fair = share(clock)
    for _ in range(300):  # 30 frames/s of 2 ms each for 10 s: 60 ms/s < 100 ms/s
        assert fair.admit("webcam") == (None, False)
        fair.done("webcam", 2.0)
        clock.now += 1 / 30
    assert fair.shed == 0


def test_a_costly_session_is_refused_until_its_bucket_refills() -> None:
    clock = Clock()
    fair = share(clock)
    for _ in range(7):  # 7 x 45 ms: the 300 ms burst is spent
        assert fair.admit("hog")[0] is None
        fair.done("hog", 45.0)
    reason, started = fair.admit("hog")
    assert reason is not None and "decode time" in reason and started
    reason, started = fair.admit("hog")
    assert reason is not None and not started  # logged once, when shedding starts
    assert fair.admit("polite") == (None, False)  # others keep their own budget
    clock.now += 0.2  # refilled 20 ms: out of debt (315 - 300 = 15 ms owed before)
    assert fair.admit("hog")[0] is None
    assert fair.shed == 2


def test_refused_frames_cost_nothing_and_the_bucket_caps_at_the_burst() -> None:
    clock = Clock()
    fair = share(clock, burst=100.0)
    clock.now += 3600  # a long quiet spell refills to the burst, not beyond
    for _ in range(2):
        assert fair.admit("s")[0] is None
        fair.done("s", 50.0)
    assert fair.admit("s")[0] is not None
    clock.now += 0.01  # 1 ms back: admitted again, refusals were not charged
    assert fair.admit("s")[0] is None


def test_frames_of_one_session_at_once_are_capped() -> None:
    fair = share(Clock(), frames=2)
    assert fair.admit("s")[0] is None
    assert fair.admit("s")[0] is None
    reason, _ = fair.admit("s")
    assert reason is not None and "2 frames" in reason
    fair.done("s", 1.0)
    assert fair.admit("s")[0] is None


def test_idle_sessions_are_forgotten_beyond_the_limit_busy_ones_kept() -> None:
    clock = Clock()
    fair = share(clock, sessions=3)
    assert fair.admit("busy")[0] is None  # held: not forgotten
    for name in ("a", "b", "c", "d"):
        assert fair.admit(name)[0] is None
        fair.done(name, 1.0)
    assert len(fair) == 3
    fair.done("busy", 1.0)  # still known: its frame is accounted for


def test_fair_queue_takes_sessions_in_turn() -> None:
    q: FairQueue[str] = FairQueue()
    for item in ("a1", "a2", "a3", "a4"):
        q.put("a", item)
    q.put("b", "b1")
    q.put("c", "c1")
    q.put("b", "b2")
    assert [q.get() for _ in range(len(q))] == ["a1", "b1", "c1", "a2", "b2", "a3", "a4"]


def test_fair_queue_get_waits_on_its_thread_for_a_put() -> None:
    q: FairQueue[str] = FairQueue()
    got: list[str | None] = []
    taking = [threading.Thread(target=lambda: got.append(q.get())) for _ in range(2)]
    for thread in taking:
        thread.start()
    time.sleep(0.05)
    assert got == []  # both wait
    q.put("x", "one")
    q.put("y", "two")
    for thread in taking:
        thread.join(5)
    assert sorted(got, key=str) == ["one", "two"]


def test_a_closed_fair_queue_hands_out_what_it_holds_then_none() -> None:
    """What the decode threads rely on to stop: the frames queued before close are
    still decoded (their callers wait), then get() ends; a put after close fails."""
    q: FairQueue[str] = FairQueue()
    q.put("s", "queued")
    waiting: list[str | None] = []
    q.close()
    assert q.get() == "queued"
    stops = threading.Thread(target=lambda: waiting.append(q.get()))
    stops.start()
    stops.join(5)
    assert waiting == [None]
    with pytest.raises(RuntimeError):
        q.put("s", "late")

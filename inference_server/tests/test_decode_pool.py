"""The decode threads (DecodeService): they take frames from the fair queue
themselves and hand each result on from there, without the event loop; a frame past
its deadline is not decoded; leaving finishes what is queued. The real decoder on
the shared photos."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest

from inference_server.imaging.decoder import Decoder, ImageError
from inference_server.imaging.pool import Decoded, DecodeService
from inference_server.serving.batcher import Expired


class Counted(Decoder):
    """The real decoder, counting its calls (from any thread)."""

    def __init__(self) -> None:
        super().__init__(size=224)
        self.calls = 0
        self._lock = threading.Lock()

    def decode(self, data: bytes) -> np.ndarray:
        with self._lock:
            self.calls += 1
        return super().decode(data)


class Outcomes:
    """What `then` and `fail` were called with, and on which thread."""

    def __init__(self) -> None:
        self.got: list[tuple[str, Any]] = []
        self.threads: set[str] = set()
        self._lock = threading.Lock()
        self.changed = threading.Condition(self._lock)

    def then(self, decoded: Decoded) -> None:
        self._add("then", decoded)

    def fail(self, error: BaseException) -> None:
        self._add("fail", error)

    def _add(self, kind: str, value: Any) -> None:
        with self.changed:
            self.got.append((kind, value))
            self.threads.add(threading.current_thread().name)
            self.changed.notify_all()

    def wait_for(self, n: int) -> list[tuple[str, Any]]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.got) >= n, 30), self.got
            return list(self.got)


async def test_a_frame_is_decoded_and_handed_on_from_a_decode_thread(
        image_bytes: dict[str, bytes]) -> None:
    outcomes = Outcomes()
    async with DecodeService(Decoder(size=224), 2) as decoding:
        decoding.submit("s", image_bytes["cat.bmp"], time.time() + 60, None, outcomes.then,
                        outcomes.fail)
        ((kind, decoded),) = outcomes.wait_for(1)
    assert kind == "then" and isinstance(decoded, Decoded)
    assert isinstance(decoded.image, np.ndarray) and decoded.image.shape == (224, 224, 3)
    assert decoded.ended_ns >= decoded.started_ns
    assert all(name.startswith("decode-") for name in outcomes.threads), outcomes.threads
    assert threading.current_thread().name not in outcomes.threads


async def test_a_frame_past_its_deadline_is_not_decoded(image_bytes: dict[str, bytes]) -> None:
    counted, outcomes = Counted(), Outcomes()
    async with DecodeService(Decoder(size=224), 1) as decoding:
        decoding.submit("s", image_bytes["cat.bmp"], time.time() - 1, counted, outcomes.then,
                        outcomes.fail)
        decoding.submit("s", image_bytes["cat.bmp"], None, counted, outcomes.then,
                        outcomes.fail)
        got = outcomes.wait_for(2)
    assert [kind for kind, _ in got] == ["fail", "then"]
    assert isinstance(got[0][1], Expired)
    assert counted.calls == 1  # the frame with time left only


async def test_a_refused_image_is_handed_on_with_why() -> None:
    outcomes = Outcomes()
    async with DecodeService(Decoder(size=224), 1) as decoding:
        decoding.submit("s", b"not an image", None, None, outcomes.then, outcomes.fail)
        ((kind, decoded),) = outcomes.wait_for(1)
    assert kind == "then" and isinstance(decoded.image, ImageError)


async def test_what_then_raises_reaches_fail_and_the_thread_goes_on(
        image_bytes: dict[str, bytes]) -> None:
    outcomes = Outcomes()

    def broken(decoded: Decoded) -> None:
        raise RuntimeError("batcher is not running")

    async with DecodeService(Decoder(size=224), 1) as decoding:
        decoding.submit("s", image_bytes["cat.bmp"], None, None, broken, outcomes.fail)
        decoding.submit("s", image_bytes["cat.bmp"], None, None, outcomes.then, outcomes.fail)
        got = outcomes.wait_for(2)
    assert [kind for kind, _ in got] == ["fail", "then"]
    assert isinstance(got[0][1], RuntimeError)


async def test_leaving_decodes_the_frames_queued_then_takes_no_more(
        image_bytes: dict[str, bytes]) -> None:
    counted, outcomes = Counted(), Outcomes()
    decoding = DecodeService(Decoder(size=224), 1)
    async with decoding:
        for session in ("a", "b", "a", "c", "a"):
            decoding.submit(session, image_bytes["cat.bmp"], None, counted, outcomes.then,
                            outcomes.fail)
    # Left: every frame queued was decoded before the thread stopped.
    assert [kind for kind, _ in outcomes.got] == ["then"] * 5 and counted.calls == 5
    with pytest.raises(RuntimeError):
        decoding.submit("a", image_bytes["cat.bmp"], None, None, outcomes.then, outcomes.fail)


async def test_a_frame_nobody_waits_for_is_not_decoded(image_bytes: dict[str, bytes]) -> None:
    counted, outcomes = Counted(), Outcomes()
    async with DecodeService(Decoder(size=224), 1) as decoding:
        decoding.submit("s", image_bytes["cat.bmp"], None, counted, outcomes.then,
                        outcomes.fail, given_up=lambda: True)
        decoding.submit("s", image_bytes["cat.bmp"], None, counted, outcomes.then,
                        outcomes.fail, given_up=lambda: False)
        got = outcomes.wait_for(1)
    assert [kind for kind, _ in got] == ["then"] and counted.calls == 1

"""Batching: frames that arrive together share one model call; each gets its own row."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from inference_server.models.runtimes.litert import TfliteBackend
from inference_server.serving.batcher import BatchBuffers, Batcher, BatchOutput, Expired


class Recorder:
    """A deterministic stand-in model: row i of the output is the image's first
    pixel values, so each caller can check it got its own row. Records batch sizes
    and the threads it ran on."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.threads: set[str] = set()
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        self.gate.wait(10)
        self.sizes.append(int(batch.shape[0]))
        self.threads.add(threading.current_thread().name)
        return batch.reshape(batch.shape[0], -1)[:, :4].astype(np.float32)


def image(value: int) -> np.ndarray:
    return np.full((2, 2, 3), value, np.uint8)


async def hold_the_model(batcher: Batcher, model: Recorder) -> "asyncio.Future[BatchOutput]":
    """Shut the model's gate and start frame 0 on it: the frames that come next wait
    behind it (model.gate.set() lets it finish)."""
    model.gate.clear()
    busy = asyncio.ensure_future(batcher.submit(image(0)))
    while not batcher._running:
        await asyncio.sleep(0.001)
    return busy


async def test_concurrent_frames_share_a_batch_in_order() -> None:
    model = Recorder()
    async with Batcher(model, batch_max=8, wait_ms=50) as batcher:
        outs = await asyncio.gather(*[batcher.submit(image(v)) for v in range(8)])
    assert model.sizes == [8]
    for v, out in enumerate(outs):
        assert out.probs.tolist() == [v] * 4
        assert out.batch == 8
    assert len({o.infer_ms for o in outs}) == 1


async def test_batch_max_is_respected() -> None:
    model = Recorder()
    async with Batcher(model, batch_max=3, wait_ms=20) as batcher:
        outs = await asyncio.gather(*[batcher.submit(image(v)) for v in range(10)])
    assert max(model.sizes) <= 3
    assert sum(model.sizes) == 10
    assert [int(o.probs[0]) for o in outs] == list(range(10))


async def test_frames_arriving_during_inference_form_the_next_batch() -> None:
    model = Recorder()
    model.gate.clear()  # hold the first model call
    async with Batcher(model, batch_max=8, wait_ms=0) as batcher:
        first = asyncio.ensure_future(batcher.submit(image(1)))
        while not model.sizes and not batcher._running:
            await asyncio.sleep(0.001)
        await asyncio.sleep(0.01)
        rest = [asyncio.ensure_future(batcher.submit(image(v))) for v in range(2, 6)]
        await asyncio.sleep(0.01)
        model.gate.set()
        outs = await asyncio.gather(first, *rest)
    assert model.sizes == [1, 4]
    assert [int(o.probs[0]) for o in outs] == [1, 2, 3, 4, 5]
    assert [o.batch for o in outs] == [1, 4, 4, 4, 4]


async def test_model_runs_on_one_thread_off_the_loop() -> None:
    model = Recorder()
    async with Batcher(model, batch_max=2, wait_ms=1) as batcher:
        for v in range(6):
            await batcher.submit(image(v))
    assert len(model.threads) == 1
    assert threading.current_thread().name not in model.threads


async def test_model_error_reaches_every_caller_and_batcher_goes_on() -> None:
    calls = 0

    def flaky(batch: np.ndarray) -> np.ndarray:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom")
        return np.zeros((batch.shape[0], 4), np.float32)

    async with Batcher(flaky, batch_max=4, wait_ms=30) as batcher:
        results = await asyncio.gather(batcher.submit(image(1)), batcher.submit(image(2)),
                                       return_exceptions=True)
        assert all(isinstance(r, RuntimeError) for r in results)
        ok = await batcher.submit(image(3))
        assert ok.probs.shape == (4,)


async def test_cancelled_caller_does_not_break_the_batch() -> None:
    model = Recorder()
    async with Batcher(model, batch_max=4, wait_ms=30) as batcher:
        gone = asyncio.ensure_future(batcher.submit(image(9)))
        kept = asyncio.ensure_future(batcher.submit(image(7)))
        await asyncio.sleep(0)
        gone.cancel()
        out = await kept
    assert out.probs[0] == 7


async def test_close_fails_waiting_callers() -> None:
    model = Recorder()
    model.gate.clear()
    batcher = Batcher(model, batch_max=1, wait_ms=0)
    batcher.start()
    waiting = [asyncio.ensure_future(batcher.submit(image(v))) for v in range(3)]
    await asyncio.sleep(0.01)
    closing = asyncio.ensure_future(batcher.close())
    await asyncio.sleep(0.01)
    model.gate.set()
    await closing
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    with pytest.raises(RuntimeError):
        await batcher.submit(image(1))


async def test_real_model_mixed_batch_matches_single_frames(
        quant_backend: TfliteBackend, decoded: dict[str, np.ndarray]) -> None:
    names = ["grace_hopper.bmp", "cat.bmp", "parrot.jpg", "cat_720p.jpg", "bird.bmp",
             "cat.bmp"]
    singles = [quant_backend.predict(decoded[n][None])[0] for n in names]
    async with Batcher(quant_backend.predict, batch_max=8, wait_ms=50) as batcher:
        outs = await asyncio.gather(*[batcher.submit(decoded[n]) for n in names])
    assert [o.batch for o in outs] == [len(names)] * len(names)
    for name, out, single in zip(names, outs, singles):
        np.testing.assert_allclose(out.probs, single, atol=1e-6, err_msg=name)
    assert [int(o.probs.argmax()) for o in outs] == [652, 285, 88, 285, 19, 285]


async def test_a_lone_frame_is_not_held_for_company() -> None:
    """With no wait configured, each frame that finds the model idle runs alone,
    even when the next frame comes right after it."""
    model = Recorder()
    async with Batcher(model, batch_max=8, wait_ms=0) as batcher:
        for v in range(3):
            out = await batcher.submit(image(v))
            assert out.batch == 1 and out.probs.tolist() == [v] * 4
    assert model.sizes == [1, 1, 1]


async def test_an_expired_frame_is_not_inferred() -> None:
    model = Recorder()
    async with Batcher(model, batch_max=8, wait_ms=0) as batcher:
        busy = await hold_the_model(batcher, model)
        # Waits behind the busy model; its deadline passes before its batch forms.
        late = asyncio.ensure_future(batcher.submit(image(1), deadline=time.time() + 0.05))
        fresh = asyncio.ensure_future(batcher.submit(image(2), deadline=time.time() + 60))
        past = asyncio.ensure_future(batcher.submit(image(3), deadline=time.time() - 1))
        await asyncio.sleep(0.1)
        model.gate.set()
        assert (await busy).probs.tolist()[0] == 0
        assert (await fresh).probs.tolist()[0] == 2
        for fut in (late, past):
            with pytest.raises(Expired):
                await fut
    assert model.sizes == [1, 1]  # frames 1 and 3 never reached the model
    assert batcher.expired == 2


# --- batch arrays made once and reused (BatchBuffers) ------------------------------------

def test_batches_held_at_once_get_their_own_arrays_and_reuse_them_after() -> None:
    buffers = BatchBuffers(rows=4)
    first, second = [image(1), image(2)], [image(3), image(4), image(5)]
    with buffers.batch(first) as a, buffers.batch(second) as b:
        assert not np.may_share_memory(a, b)
        assert a[:, 0, 0, 0].tolist() == [1, 2] and b[:, 0, 0, 0].tolist() == [3, 4, 5]
        a_base, b_base = a.base, b.base
    with buffers.batch(second) as c, buffers.batch(first) as d:
        assert {id(c.base), id(d.base)} == {id(a_base), id(b_base)}  # no new array
        assert c[:, 0, 0, 0].tolist() == [3, 4, 5] and d[:, 0, 0, 0].tolist() == [1, 2]
    assert buffers.made == 2


def test_batches_filled_on_several_threads_at_once_keep_their_own_pixels() -> None:
    buffers = BatchBuffers(rows=8)
    barrier = threading.Barrier(4)
    wrong: list[str] = []

    def fill(value: int) -> None:
        images = [np.full((224, 224, 3), value, np.uint8)] * 8
        for _ in range(50):
            with buffers.batch(images) as batch:
                barrier.wait(5)  # all four hold an array now
                if not (batch == value).all():
                    wrong.append(f"batch of {value} holds other pixels")
                barrier.wait(5)

    threads = [threading.Thread(target=fill, args=(v,)) for v in (10, 20, 30, 40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not wrong
    assert buffers.made == 4


def test_images_of_different_shapes_fail_their_batch() -> None:
    buffers = BatchBuffers(rows=2)
    with pytest.raises(ValueError):
        with buffers.batch([image(1), np.zeros((1, 1, 3), np.uint8)]):
            pass


async def test_a_model_output_that_views_the_batch_array_is_not_overwritten_by_the_next() -> None:
    """A model whose output is a view of its input (the array the batcher reuses): the
    rows handed to the first batch's callers must keep their values after the next
    batch has been copied into the same array."""

    def view_model(batch: np.ndarray) -> np.ndarray:
        return batch.reshape(batch.shape[0], -1)[:, :4]  # a view, no copy

    async with Batcher(view_model, batch_max=4, wait_ms=50) as batcher:
        first = await asyncio.gather(*[batcher.submit(image(v)) for v in (1, 2, 3, 4)])
        second = await asyncio.gather(*[batcher.submit(image(v)) for v in (5, 6, 7, 8)])
    assert [o.batch for o in first + second] == [4] * 8
    assert [int(o.probs[0]) for o in first] == [1, 2, 3, 4]
    assert [int(o.probs[0]) for o in second] == [5, 6, 7, 8]


async def test_batches_are_assembled_on_the_model_thread() -> None:
    """The copy into the batch array happens where the model runs, not on the event
    loop; the model sees the frames in the order they were submitted."""
    model = Recorder()
    seen: list[list[int]] = []
    loop_thread = threading.current_thread().name

    def predict(batch: np.ndarray) -> np.ndarray:
        seen.append(batch[:, 0, 0, 0].tolist())
        assert batch.flags.c_contiguous
        return model(batch)

    async with Batcher(predict, batch_max=8, wait_ms=50) as batcher:
        assembled_on: list[str] = []
        assemble = batcher._buffers.batch

        def spy(images: list[np.ndarray]) -> object:
            assembled_on.append(threading.current_thread().name)
            return assemble(images)

        batcher._buffers.batch = spy  # type: ignore[method-assign]
        await asyncio.gather(*[batcher.submit(image(v)) for v in range(8)])
    assert seen == [list(range(8))]
    assert assembled_on == list(model.threads) and loop_thread not in assembled_on


# --- frames put from other threads, answered from the model thread --------------------

async def test_a_batch_put_from_another_thread_is_answered_from_the_model_thread_at_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """As a decode thread does: frames put from another thread; the model thread makes
    each one's answer (`finish`) and hands the whole batch back to the event loop in
    one call, each caller its own answer, in the order put."""
    from inference_server.serving import batcher as batcher_module

    handed: list[int] = []
    real_hand_back = batcher_module.hand_back

    def counting(loop: asyncio.AbstractEventLoop, settled: list) -> None:  # type: ignore[type-arg]
        handed.append(len(settled))
        real_hand_back(loop, settled)

    monkeypatch.setattr(batcher_module, "hand_back", counting)
    model = Recorder()
    finished_on: list[str] = []
    loop_thread = threading.current_thread().name

    def finish(out: object) -> str:
        assert hasattr(out, "probs")
        finished_on.append(threading.current_thread().name)
        return f"reply {int(out.probs[0])} of {out.batch}"  # type: ignore[attr-defined]

    loop = asyncio.get_running_loop()
    futures = [loop.create_future() for _ in range(4)]
    async with Batcher(model, batch_max=8, wait_ms=0) as batcher:
        busy = await hold_the_model(batcher, model)  # the others are put meanwhile
        putter = threading.Thread(target=lambda: [
            batcher.put(image(v), fut, finish=finish) for v, fut in enumerate(futures, 1)])
        putter.start()
        putter.join(10)
        model.gate.set()
        assert (await busy).batch == 1
        answers = await asyncio.gather(*futures)
    assert answers == [f"reply {v} of 4" for v in range(1, 5)]
    assert model.sizes == [1, 4]
    assert handed == [1, 4]  # one hand-back per batch, not one per frame
    assert set(finished_on) == model.threads and loop_thread not in finished_on


async def test_an_answer_that_fails_to_build_fails_its_frame_only() -> None:
    def finish(out: object) -> str:
        if int(out.probs[0]) == 2:  # type: ignore[attr-defined]
            raise ValueError("no reply for this one")
        return "ok"

    loop = asyncio.get_running_loop()
    futures = [loop.create_future() for _ in range(3)]
    model = Recorder()
    async with Batcher(model, batch_max=8, wait_ms=0) as batcher:
        busy = await hold_the_model(batcher, model)
        for v, fut in enumerate(futures, 1):
            batcher.put(image(v), fut, finish=finish)
        model.gate.set()
        await busy
        results = await asyncio.gather(*futures, return_exceptions=True)
    assert results[0] == "ok" and results[2] == "ok"
    assert isinstance(results[1], ValueError)
    assert model.sizes == [1, 3]


async def test_put_after_close_raises() -> None:
    batcher = Batcher(Recorder(), batch_max=2, wait_ms=0)
    with pytest.raises(RuntimeError):  # not started
        batcher.put(image(1), asyncio.get_running_loop().create_future())
    batcher.start()
    await batcher.close()
    with pytest.raises(RuntimeError):
        batcher.put(image(1), asyncio.get_running_loop().create_future())

"""The real worker (real model, real nats-server) under hostile clients: a session that
sends costly images is rate limited while another is served; frame batches it cannot
read are refused whole (`bad_batch`) and it goes on serving; after hostile frames the
worker's resident memory returns to within 50 MB of its idle size. Nothing is timed:
every request has a generous timeout, memory is what the kernel reports."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest

from inference_server.wire import contract as c
from inference_server.ops import memory

from inference_server.testkit import hostile_batches, hostile_images
from inference_server.wire import frame_batch
from .procs import NatsServer, WorkerProcess, quant_subject

REQUEST_TIMEOUT_S = 60.0
# The target: back within 50 MB of the idle size after an attack.
RSS_MARGIN = 50 * 1024 * 1024
MAX_PAYLOAD = 9 << 20  # the worker's default 8 MiB frames fit (NATS: 1 MiB by default)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NatsServer]:
    srv = NatsServer(tmp_path, config=f"max_payload: {MAX_PAYLOAD}\n")
    yield srv
    srv.stop()


@pytest.fixture
def worker(server: NatsServer, quant_model_path: Path, tmp_path: Path) -> Iterator[WorkerProcess]:
    proc = WorkerProcess(tmp_path, "hostile-worker", "--nats-url", server.url,
                         "--model", f"tflite:{quant_model_path}", "--batch-max", "8",
                         # room for every frame the test sends at once: a client straight
                         # on NATS has no hub to hold frames while a worker is full
                         "--capacity", "64")
    try:
        proc.wait_ready(server.url)
        yield proc
    finally:
        proc.stop()


async def send(nc: nats.aio.client.Client, session: str, data: bytes, seq: int) -> dict:
    msg = await nc.request(quant_subject(c.KIND_CLI, session), data,
                           timeout=REQUEST_TIMEOUT_S,
                           headers={c.HEADER_SESSION_ID: session, c.HEADER_FRAME_SEQ: str(seq)})
    return json.loads(msg.data)


def kind(name: str) -> bytes:
    return next(k for k in hostile_images.catalogue() if k.name == name).make()


def test_a_session_sending_costly_images_is_rate_limited_others_are_served(
        server: NatsServer, worker: WorkerProcess, image_bytes: dict[str, bytes]) -> None:
    costly = kind("progressive JPEG 2400x1660 (4 MP)")  # accepted, at its cap
    polite = image_bytes["parrot.jpg"]

    async def scenario() -> tuple[Counter[str], list[dict]]:
        nc = await nats.connect(server.url)
        try:
            hog = [asyncio.ensure_future(send(nc, "hog", costly, i)) for i in range(40)]
            served = [await send(nc, "polite", polite, i) for i in range(5)]
            answers = Counter(b.get("code", b["type"]) for b in await asyncio.gather(*hog))
            return answers, served
        finally:
            await nc.close()

    answers, served = asyncio.run(scenario())
    assert answers[c.CODE_RATE_LIMITED] > 0, answers
    assert set(answers) <= {c.TYPE_RESULT, c.CODE_RATE_LIMITED}, answers
    assert answers[c.TYPE_RESULT] > 0  # rationed, not banned
    assert [b["type"] for b in served] == [c.TYPE_RESULT] * 5
    assert all(b["predictions"][0]["label"] == "macaw" for b in served)
    assert '"frame shed"' in worker.output()  # the reason is in the worker's log


def test_memory_returns_after_hostile_frames(server: NatsServer, worker: WorkerProcess,
                                             image_bytes: dict[str, bytes]) -> None:
    hostile = [k.make() for k in hostile_images.catalogue()]
    pid = worker.proc.pid

    async def scenario() -> tuple[int, int, Counter[str]]:
        nc = await nats.connect(server.url)
        try:
            # Idle once the model has run every batch size (one interpreter each).
            for _ in range(2):
                for n in range(1, 9):
                    await asyncio.gather(*[send(nc, f"warm{i}", image_bytes["cat.bmp"], 0)
                                           for i in range(n)])
            await asyncio.sleep(1)
            idle = memory.rss_bytes(pid)
            # Every hostile kind from three sessions at once, three rounds (a kind at a
            # time: all at once is 100 MB through one connection, a slow consumer).
            answers: Counter[str] = Counter()
            for r in range(3):
                for data in hostile:
                    bodies = await asyncio.gather(*[send(nc, f"attacker{s}", data, r)
                                                    for s in range(3)])
                    answers.update(b.get("code", b["type"]) for b in bodies)
            await asyncio.sleep(2)
            return idle, memory.rss_bytes(pid), answers
        finally:
            await nc.close()

    try:
        idle, after, answers = asyncio.run(scenario())
    except nats.errors.Error as exc:
        pytest.fail(f"{exc!r}; worker output:\n{worker.output()[-4000:]}")
    assert idle > 0, "cannot read the worker's resident size"
    assert answers[c.CODE_BAD_IMAGE] > 0 and answers[c.TYPE_RESULT] > 0, answers
    assert after - idle < RSS_MARGIN, (f"idle {idle / 1e6:.0f} MB, after {after / 1e6:.0f} MB; "
                                       f"answers {dict(answers)}")


def test_hostile_batches_get_one_bad_batch_each_and_the_worker_goes_on(
        server: NatsServer, worker: WorkerProcess, image_bytes: dict[str, bytes]) -> None:
    """Frame batches the worker cannot read (wire/frame_batch.py; the hub never sends
    one): one `bad_batch` error for the whole message, logged once, counted; the next
    good frame and the next good batch are answered."""
    hostile = hostile_batches.catalogue(max_frames=8)  # the worker's --batch-max
    subject = quant_subject(c.KIND_BATCH, "evil-hub")

    async def scenario() -> tuple[list[tuple[str, dict[str, str], dict]], dict, list]:
        nc = await nats.connect(server.url)
        try:
            refused = []
            for batch in hostile:
                msg = await nc.request(subject, batch.body, timeout=REQUEST_TIMEOUT_S,
                                       headers=batch.headers())
                refused.append((batch.name, msg.headers or {}, json.loads(msg.data)))
            good = await send(nc, "after", image_bytes["parrot.jpg"], 5)
            entries = [hostile_batches.entry(f"ok{i}", i, **{c.BATCH_IMAGE: image_bytes[name]})
                       for i, name in enumerate(("parrot.jpg", "cat.bmp"))]
            reply = await nc.request(subject, frame_batch.request_body(entries),
                                     timeout=REQUEST_TIMEOUT_S,
                                     headers=frame_batch.request_headers(len(entries)))
            return refused, good, frame_batch.unpack_reply(reply.data)
        finally:
            await nc.close()

    refused, good, batch = asyncio.run(scenario())
    for name, headers, body in refused:
        assert body == {"type": c.TYPE_ERROR, "seq": 0, "session": "evil-hub",
                        "code": c.CODE_BAD_BATCH, "message": body["message"]}, name
        assert headers.get(c.HEADER_CONTENT_TYPE) == c.CONTENT_TYPE_JSON, name
    assert good["type"] == c.TYPE_RESULT and good["predictions"][0]["label"] == "macaw"
    labels = [json.loads(a)["predictions"][0]["label"] for a in batch]
    assert labels == ["macaw", "Egyptian cat"]
    assert worker.output().count('"batch refused"') == len(hostile)  # once each

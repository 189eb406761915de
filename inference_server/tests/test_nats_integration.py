"""End to end: a real nats-server, the real worker process (LiteRT, real model), nats-py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client

from nats.js.api import SubjectTransform

from inference_server.wire import contract as c

from .procs import NatsServer, WorkerProcess
from .test_decode import huge_png

WORKER = "itest-worker"
MODEL = "mobilenet_v2"  # --model-name: the MODEL file's stem otherwise
MAX_IMAGE_BYTES = 700_000  # parrot.jpg (597 kB) fits, grace_hopper.bmp (922 kB) does not


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    srv = NatsServer(tmp_path_factory.mktemp("nats"), jetstream=True)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def worker(server: NatsServer, quant_model_path: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    proc = WorkerProcess(tmp_path_factory.mktemp("worker"), WORKER,
                         "--nats-url", server.url, "--model", f"tflite:{quant_model_path}",
                         "--model-name", MODEL,
                         "--max-image-bytes", str(MAX_IMAGE_BYTES), "--batch-max", "8")
    try:
        proc.wait_ready(server.url)
        yield proc
    finally:
        proc.stop()


@pytest.fixture
async def nc(server: NatsServer, worker: WorkerProcess) -> AsyncIterator[Client]:
    conn = await nats.connect(server.url)
    yield conn
    await conn.close()


def frame_subject(kind: str, ident: str) -> str:
    return c.infer_subject(MODEL, 1, kind, ident)


async def request(nc: Client, subject: str, body: bytes,
                  headers: dict[str, str] | None = None) -> dict:
    msg = await nc.request(subject, body, timeout=20, headers=headers)
    return json.loads(msg.data)


async def subscribe_results(nc: Client, subject: str) -> asyncio.Queue[dict]:
    """A queue of the result JSONs published on `subject`, subscribed once this returns."""
    results: asyncio.Queue[dict] = asyncio.Queue()

    async def on_result(msg: nats.aio.msg.Msg) -> None:
        await results.put(json.loads(msg.data))

    await nc.subscribe(subject, cb=on_result)
    await nc.flush()
    return results


async def test_live_frame_with_headers(nc: Client, image_bytes: dict[str, bytes]) -> None:
    seen: asyncio.Queue[bytes] = asyncio.Queue()

    async def on_result(msg: nats.aio.msg.Msg) -> None:
        await seen.put(msg.data)

    await nc.subscribe(c.results_subject(c.KIND_LIVE, "abc"), cb=on_result)
    await nc.flush()
    reply = await nc.request(frame_subject(c.KIND_LIVE, "abc"), image_bytes["cat.bmp"],
                             timeout=20, headers={c.HEADER_SESSION_ID: "abc",
                                                  c.HEADER_FRAME_SEQ: "7",
                                                  c.HEADER_CONTENT_TYPE: c.CONTENT_TYPE_BMP})
    body = json.loads(reply.data)
    assert body["type"] == c.TYPE_RESULT
    assert body["seq"] == 7 and body["session"] == "abc"
    assert (body["model"], body["version"], body["task"]) == (MODEL, 1, c.TASK_CLASSIFICATION)
    assert body["worker"] == WORKER
    top = body["predictions"][0]
    assert (top["label"], top["index"]) == ("Egyptian cat", 285)
    assert len(body["predictions"]) == 3
    assert set(body["timing"]) == {"decode_ms", "decode_cpu_ms", "infer_ms", "batch"}
    # The CPU time of the decode is a part of its wall time (rounded).
    assert 0 < body["timing"]["decode_cpu_ms"] <= body["timing"]["decode_ms"] + 0.01
    assert 1 <= body["timing"]["batch"] <= 8
    assert reply.headers is not None
    assert reply.headers.get(c.HEADER_CONTENT_TYPE) == c.CONTENT_TYPE_JSON
    # The same answer went to the results subject (for watchers).
    published = await asyncio.wait_for(seen.get(), 20)
    assert published == reply.data


async def test_cli_frame_without_headers(nc: Client, image_bytes: dict[str, bytes]) -> None:
    body = await request(nc, frame_subject(c.KIND_CLI, "x"), image_bytes["parrot.jpg"])
    assert body["type"] == c.TYPE_RESULT
    assert (body["seq"], body["session"]) == (0, "x")
    assert body["predictions"][0]["label"] == "macaw"
    body = await request(nc, frame_subject(c.KIND_CLI, "x"),
                         image_bytes["grace_hopper.bmp"][:600_000])
    assert (body["type"], body["code"]) == (c.TYPE_ERROR, c.CODE_BAD_IMAGE)  # truncated BMP


async def test_bad_frames_then_good_ones(nc: Client, image_bytes: dict[str, bytes]) -> None:
    subject = frame_subject(c.KIND_LIVE, "s-bad")
    headers = {c.HEADER_SESSION_ID: "s-bad", c.HEADER_FRAME_SEQ: "1",
               c.HEADER_CONTENT_TYPE: c.CONTENT_TYPE_JPEG}
    body = await request(nc, subject, b"definitely not a jpeg", headers)
    assert body == {"type": c.TYPE_ERROR, "seq": 1, "session": "s-bad",
                    "code": c.CODE_BAD_IMAGE, "message": body["message"]}
    assert body["message"] and "/" not in body["message"]
    jpeg = image_bytes["cat_720p.jpg"]
    body = await request(nc, subject, jpeg[: len(jpeg) // 3],
                         {**headers, c.HEADER_FRAME_SEQ: "2"})
    assert (body["code"], body["seq"]) == (c.CODE_BAD_IMAGE, 2)
    body = await request(nc, subject, huge_png(100_000, 100_000),
                         {**headers, c.HEADER_FRAME_SEQ: "3",
                          c.HEADER_CONTENT_TYPE: c.CONTENT_TYPE_PNG})
    assert (body["code"], body["seq"]) == (c.CODE_BAD_IMAGE, 3)
    body = await request(nc, subject, jpeg, {**headers, c.HEADER_FRAME_SEQ: "4"})
    assert body["type"] == c.TYPE_RESULT and body["seq"] == 4
    assert body["predictions"][0]["label"] == "Egyptian cat"


async def test_too_large(nc: Client, image_bytes: dict[str, bytes]) -> None:
    big = image_bytes["grace_hopper.bmp"]
    assert len(big) > MAX_IMAGE_BYTES
    subject = frame_subject(c.KIND_LIVE, "big")
    body = await request(nc, subject, big, {c.HEADER_FRAME_SEQ: "9"})
    assert (body["type"], body["code"], body["seq"], body["session"]) == (
        c.TYPE_ERROR, c.CODE_TOO_LARGE, 9, "big")
    body = await request(nc, subject, image_bytes["cat.bmp"], {c.HEADER_FRAME_SEQ: "10"})
    assert body["type"] == c.TYPE_RESULT


async def test_ping(nc: Client) -> None:
    """The worker answers its micro service's ping, saying which worker it is."""
    body = await request(nc, c.WORKERS_PING_SUBJECT, b"")
    assert body["name"] == c.MICRO_SERVICE
    assert body["metadata"] == {c.META_WORKER: WORKER, c.META_BATCH_MAX: "8",
                                c.META_MODELS: c.model_ref(MODEL, 1),
                                c.META_MODEL_ERRORS: "{}",
                                c.META_FRAMES_PER_MESSAGE: "8"}
    info = await request(nc, c.WORKERS_INFO_SUBJECT, b"")
    (endpoint,) = info["endpoints"]
    assert (endpoint["name"], endpoint["subject"], endpoint["queue_group"]) == (
        c.endpoint_name(MODEL, 1), c.endpoint_subject(MODEL, 1), c.QUEUE_GROUP)
    meta = endpoint["metadata"]
    assert (meta[c.META_MODEL], meta[c.META_VERSION]) == (MODEL, "1")
    assert int(meta[c.META_CLASSES]) in (1000, 1001)  # ImageNet, with background or not
    assert (meta[c.META_PLATFORM], meta[c.META_RUNTIME], meta[c.META_INPUT]) == (
        c.PLATFORM_TFLITE, "litert", "224x224x3")  # the test pins RUNTIME


async def test_concurrent_frames_each_get_their_own_answer(
        nc: Client, image_bytes: dict[str, bytes]) -> None:
    plan = [("cat.bmp", "Egyptian cat"), ("parrot.jpg", "macaw"),
            ("bird.bmp", "chickadee"), ("cat_720p.jpg", "Egyptian cat")] * 4
    replies = await asyncio.gather(*[
        request(nc, frame_subject(c.KIND_LIVE, f"c{i}"), image_bytes[name],
                {c.HEADER_SESSION_ID: f"c{i}", c.HEADER_FRAME_SEQ: str(100 + i)})
        for i, (name, _) in enumerate(plan)])
    for i, ((name, label), body) in enumerate(zip(plan, replies)):
        assert body["type"] == c.TYPE_RESULT, (name, body)
        assert (body["seq"], body["session"]) == (100 + i, f"c{i}")
        assert body["predictions"][0]["label"] == label, name
        assert 1 <= body["timing"]["batch"] <= 8


async def test_traceparent_is_passed_on(nc: Client, image_bytes: dict[str, bytes]) -> None:
    tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    reply = await nc.request(frame_subject(c.KIND_LIVE, "tp"), image_bytes["cat.bmp"],
                             timeout=20, headers={c.HEADER_TRACEPARENT: tp})
    assert reply.headers is not None and reply.headers.get(c.HEADER_TRACEPARENT) == tp


async def record(nc: Client, session: str, images: list[bytes]) -> list[dict]:
    """Live frames through a JetStream stream like the hub's recording (no_ack, so the
    stream does not answer the request itself)."""
    js = nc.jetstream()
    subject = frame_subject(c.KIND_LIVE, session)
    await js.add_stream(name="FRAMES_" + session, subjects=[subject], no_ack=True,
                        subject_transform=SubjectTransform(
                            src=subject, dest=c.recorded_frame_stored_subject(session)))
    return [await request(nc, subject, data,
                          {c.HEADER_SESSION_ID: session, c.HEADER_FRAME_SEQ: str(i + 1),
                           c.HEADER_CONTENT_TYPE: c.CONTENT_TYPE_JPEG})
            for i, data in enumerate(images)]


def top3(body: dict) -> list[str]:
    return [p["label"] for p in body["predictions"]]


async def test_replay_consumer_is_noticed_and_answered_on_its_target(
        nc: Client, image_bytes: dict[str, bytes]) -> None:
    """The README's replay: a push consumer on the recording (stored as
    frames.live.<session>) whose target infer.<model>.<version>.replay.<name> is outside
    the stream, delivered to the queue group. Results come on results.replay.<name>, in
    order, with the labels the frames got live."""
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, ReplayPolicy

    names = ["cat.bmp", "parrot.jpg", "dragonfly.bmp", "bird.bmp", "cat_720p.jpg",
             "parrot.jpg"]
    live = await record(nc, "rec1", [image_bytes[n] for n in names])
    assert [b["type"] for b in live] == [c.TYPE_RESULT] * len(names)

    replayed = await subscribe_results(nc, c.results_subject(c.KIND_REPLAY, "r1"))
    js = nc.jetstream()
    await js.add_consumer("FRAMES_rec1", ConsumerConfig(
        durable_name="replay-r1", deliver_subject=frame_subject(c.KIND_REPLAY, "r1"),
        deliver_group=c.QUEUE_GROUP,
        deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE,
        replay_policy=ReplayPolicy.INSTANT))
    got = [await asyncio.wait_for(replayed.get(), 30) for _ in names]
    assert [b["seq"] for b in got] == list(range(1, len(names) + 1))
    assert all(b["type"] == c.TYPE_RESULT and b["session"] == "rec1" for b in got)
    assert [top3(b) for b in got] == [top3(b) for b in live]
    await js.delete_consumer("FRAMES_rec1", "replay-r1")


async def test_replay_with_acks_is_acked_not_answered_with_json(
        nc: Client, image_bytes: dict[str, bytes]) -> None:
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    await record(nc, "rec2", [image_bytes["cat.bmp"], image_bytes["bird.bmp"]])
    replayed = await subscribe_results(nc, c.results_subject(c.KIND_REPLAY, "r2"))
    js = nc.jetstream()
    await js.add_consumer("FRAMES_rec2", ConsumerConfig(
        durable_name="replay-r2", deliver_subject=frame_subject(c.KIND_REPLAY, "r2"),
        deliver_group=c.QUEUE_GROUP,
        deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.EXPLICIT, ack_wait=120))
    got = [await asyncio.wait_for(replayed.get(), 30) for _ in range(2)]
    assert [top3(b)[0] for b in got] == ["Egyptian cat", "chickadee"]
    # Round trip through the worker so its acks have reached the server.
    await request(nc, c.WORKERS_PING_SUBJECT, b"")
    info = await js.consumer_info("FRAMES_rec2", "replay-r2")
    assert info.num_ack_pending == 0 and info.num_redelivered == 0
    assert info.ack_floor.stream_seq == 2


async def test_top_k_header_asks_for_more_labels(nc: Client, image_bytes: dict[str, bytes]) -> None:
    subject = frame_subject(c.KIND_LIVE, "topk")
    five = await request(nc, subject, image_bytes["cat.bmp"], headers={
        c.HEADER_SESSION_ID: "topk", c.HEADER_FRAME_SEQ: "1", c.HEADER_TOP_K: "5"})
    assert len(five["predictions"]) == 5
    assert five["predictions"][0]["label"] == "Egyptian cat"
    confidences = [p["confidence"] for p in five["predictions"]]
    assert confidences == sorted(confidences, reverse=True)
    # Out of range: the worker's default (3) rather than an error.
    default = await request(nc, subject, image_bytes["cat.bmp"], headers={
        c.HEADER_SESSION_ID: "topk", c.HEADER_FRAME_SEQ: "2", c.HEADER_TOP_K: "500"})
    assert len(default["predictions"]) == 3

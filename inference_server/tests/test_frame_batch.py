"""Several frames in one NATS message (issue 25, docs/asyncapi.yaml frameBatch): the
parser alone, then the real worker (real model) on a nats-server as in production (TLS,
role nkeys and permissions), sent batches by a client in the hub's role: one reply per
batch with each frame's answer in order, each frame still published on its results
subject, an expired frame nil, single frames as before."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import nats
import pytest
from nats.aio.client import Client
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from PIL import Image

from inference_server.config import Config
from inference_server.imaging.decoder import Decoder
from inference_server.imaging.pool import DecodeService
from inference_server.models.repository import ModelVersion
from inference_server.models.runtimes.litert import TfliteBackend
from inference_server.models.selection import RuntimeChoice
from inference_server.models.served import LoadedModel
from inference_server.serving.worker import ATTR_SEQ, ATTR_SESSION, SPAN_FRAME, Worker
from inference_server.testkit import hostile_batches
from inference_server.wire import contract as c
from inference_server.wire import frame_batch
from inference_server.wire.frame_batch import BadBatch

from .conftest import IMAGES
from .procs import WorkerProcess, quant_subject
from .secured_nats import SecuredNats

BATCH_MAX = 8  # the worker's --batch-max: frames per message it advertises
HUB_ID = "hub-1"
BATCH_SUBJECT = quant_subject(c.KIND_BATCH, HUB_ID)
# Until the hub side's permissions (deploy/nats/permissions.conf) name it, issue 25.
HUB_BATCH_PUBLISH = c.infer_subject("*", "*", c.KIND_BATCH, "*")  # type: ignore[arg-type]
REQUEST_TIMEOUT_S = 60.0
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def far_deadline_ms() -> int:
    return int((time.time() + 600) * 1000)


def jpeg(name: str) -> bytes:
    """A photo of the shared test data as a JPEG (the BMPs encoded at quality 90)."""
    path = IMAGES / name
    if path.suffix == ".jpg":
        return path.read_bytes()
    buf = io.BytesIO()
    with Image.open(path) as im:
        im.convert("RGB").save(buf, "JPEG", quality=90)
    return buf.getvalue()


# Three JPEG photos and the top-1 label the quant model gives each.
PHOTOS = [("cat_720p.jpg", "Egyptian cat"), ("parrot.jpg", "macaw"), ("bird.bmp", "chickadee")]


def entry(session: str, seq: int, image: bytes, **fields: object) -> dict[str, Any]:
    return hostile_batches.entry(session, seq, **{c.BATCH_IMAGE: image,
                                                 c.BATCH_DEADLINE_MS: far_deadline_ms(),
                                                 **fields})


# --- the parser -----------------------------------------------------------------------


def test_parse_gives_each_frame_the_meta_it_would_have_alone() -> None:
    frames = frame_batch.parse(
        BATCH_SUBJECT, frame_batch.request_headers(2), "_INBOX.x",
        frame_batch.request_body([
            entry("sa", 5, b"A", **{c.BATCH_TOP_K: 3, c.BATCH_TRACEPARENT: TRACEPARENT,
                                   "future_key": [1, 2]}),
            {c.BATCH_SESSION: "sb", c.BATCH_SEQ: 6, c.BATCH_IMAGE: b"B",
             c.BATCH_KIND: c.KIND_API}]),
        BATCH_MAX)
    a, b = (f.meta for f in frames)
    assert [f.image for f in frames] == [b"A", b"B"]
    assert (a.session, a.seq, a.top_k, a.traceparent, a.reply) == ("sa", 5, 3, TRACEPARENT, None)
    assert a.content_type == c.CONTENT_TYPE_JPEG and a.deadline is not None
    assert a.results_subject == c.results_subject(c.KIND_LIVE, "sa")
    assert a.subject == quant_subject(c.KIND_LIVE, "sa")
    # Fields left out: the defaults of a single frame without those headers.
    assert (b.top_k, b.traceparent, b.content_type, b.deadline) == (None, None, None, None)
    assert b.results_subject == c.results_subject(c.KIND_API, "sb")


def test_deadlines_count_only_when_someone_waits() -> None:
    body = frame_batch.request_body([entry("sa", 1, b"A"), entry("sb", 2, b"B")])
    frames = frame_batch.parse(BATCH_SUBJECT, frame_batch.request_headers(2), None, body,
                               BATCH_MAX)
    assert all(f.meta.deadline is None for f in frames)


@pytest.mark.parametrize("batch", hostile_batches.catalogue(BATCH_MAX),
                         ids=lambda b: b.name)
def test_parse_refuses_hostile_batches(batch: hostile_batches.HostileBatch) -> None:
    with pytest.raises(BadBatch):
        frame_batch.parse(BATCH_SUBJECT, batch.headers(), "_INBOX.x", batch.body, BATCH_MAX)


def test_reply_body_round_trips() -> None:
    answers = [b'{"type":"result"}', None, b'{"type":"error"}']
    assert frame_batch.unpack_reply(frame_batch.reply_body(answers)) == answers


# --- the real worker ------------------------------------------------------------------


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredNats]:
    srv = SecuredNats(tmp_path_factory.mktemp("secured"), hub_publish=[HUB_BATCH_PUBLISH])
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def worker(secured: SecuredNats, quant_model_path: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    proc = WorkerProcess(tmp_path_factory.mktemp("worker"), "batch-worker",
                         "--model", f"tflite:{quant_model_path}",
                         "--batch-max", str(BATCH_MAX), env=secured.worker_env())
    try:
        proc.wait_ready(secured.url, **secured.client_opts("hub"))
        yield proc
    finally:
        proc.stop()


@pytest.fixture
async def hub(secured: SecuredNats, worker: WorkerProcess) -> AsyncIterator[Client]:
    """A client in the hub's role."""
    nc = await nats.connect(secured.url, **secured.client_opts("hub"))
    yield nc
    await nc.close()


async def send_batch(nc: Client, entries: list[dict[str, Any]]) -> nats.aio.msg.Msg:
    deadline = max(int(e.get(c.BATCH_DEADLINE_MS, 0)) for e in entries)
    return await nc.request(BATCH_SUBJECT, frame_batch.request_body(entries),
                            timeout=REQUEST_TIMEOUT_S,
                            headers=frame_batch.request_headers(len(entries), deadline))


async def test_a_batch_of_three_gets_one_reply_in_order_and_each_frame_is_published(
        hub: Client) -> None:
    results = await hub.subscribe(c.results_subject(c.KIND_LIVE, "*"))
    await hub.flush()
    sessions = [f"batch-{i}" for i in range(len(PHOTOS))]
    entries = [entry(s, 11 * (i + 1), jpeg(name),
                     **{c.BATCH_TRACEPARENT: TRACEPARENT if i == 1 else ""})
               for i, (s, (name, _)) in enumerate(zip(sessions, PHOTOS))]
    reply = await send_batch(hub, entries)
    assert reply.headers == frame_batch.reply_headers(3)
    answers = frame_batch.unpack_reply(reply.data)
    assert len(answers) == 3 and all(isinstance(a, bytes) for a in answers), answers
    bodies = [json.loads(a) for a in answers]  # type: ignore[arg-type]
    for i, (body, (name, label)) in enumerate(zip(bodies, PHOTOS)):
        assert body["type"] == c.TYPE_RESULT, body
        assert (body["session"], body["seq"]) == (sessions[i], 11 * (i + 1))
        assert body["predictions"][0]["label"] == label, name
    # Each frame was also published on its own results subject, the same bytes as its
    # entry in the reply (published before the reply, on the same connection).
    published = {}
    for _ in sessions:
        msg = await results.next_msg(timeout=REQUEST_TIMEOUT_S)
        published[msg.subject] = msg
    assert sorted(published) == sorted(c.results_subject(c.KIND_LIVE, s) for s in sessions)
    for session, answer in zip(sessions, answers):
        assert published[c.results_subject(c.KIND_LIVE, session)].data == answer
    # The frame's own trace context is the one its answer carries.
    traced = published[c.results_subject(c.KIND_LIVE, sessions[1])].headers or {}
    assert traced.get(c.HEADER_TRACEPARENT) == TRACEPARENT
    assert c.HEADER_TRACEPARENT not in (published[c.results_subject(
        c.KIND_LIVE, sessions[0])].headers or {})
    await results.unsubscribe()


async def test_an_expired_frame_in_a_batch_is_nil_and_not_published(hub: Client) -> None:
    results = await hub.subscribe(c.results_subject(c.KIND_LIVE, "*"))
    await hub.flush()
    entries = [entry("exp-0", 1, jpeg("parrot.jpg")),
               entry("exp-1", 2, jpeg("cat_720p.jpg"), **{c.BATCH_DEADLINE_MS: 1}),
               entry("exp-2", 3, jpeg("parrot.jpg"))]
    answers = frame_batch.unpack_reply((await send_batch(hub, entries)).data)
    assert answers[1] is None
    assert [json.loads(answers[i])["seq"] for i in (0, 2)] == [1, 3]  # type: ignore[arg-type]
    got = {(await results.next_msg(timeout=REQUEST_TIMEOUT_S)).subject for _ in range(2)}
    assert got == {c.results_subject(c.KIND_LIVE, "exp-0"),
                   c.results_subject(c.KIND_LIVE, "exp-2")}
    # The results arrive before the reply (one connection): none is still on its way.
    with pytest.raises(nats.errors.TimeoutError):
        await results.next_msg(timeout=0.2)
    await results.unsubscribe()


async def test_a_single_frame_is_answered_as_before(hub: Client) -> None:
    reply = await hub.request(quant_subject(c.KIND_LIVE, "single"), jpeg("parrot.jpg"),
                              timeout=REQUEST_TIMEOUT_S,
                              headers={c.HEADER_SESSION_ID: "single", c.HEADER_FRAME_SEQ: "4",
                                       c.HEADER_CONTENT_TYPE: c.CONTENT_TYPE_JPEG})
    assert (reply.headers or {}).get(c.HEADER_CONTENT_TYPE) == c.CONTENT_TYPE_JSON
    assert c.HEADER_FRAME_COUNT not in (reply.headers or {})
    body = json.loads(reply.data)
    assert (body["type"], body["seq"], body["session"]) == (c.TYPE_RESULT, 4, "single")
    assert body["predictions"][0]["label"] == "macaw"


async def test_the_worker_advertises_frames_per_message(hub: Client) -> None:
    pong = json.loads((await hub.request(c.WORKERS_PING_SUBJECT, b"", timeout=10)).data)
    assert pong["metadata"][c.META_FRAMES_PER_MESSAGE] == str(BATCH_MAX)
    assert pong["metadata"][c.META_BATCH_MAX] == str(BATCH_MAX)


async def test_a_batch_of_as_many_frames_as_advertised_is_answered(hub: Client) -> None:
    names = [name for name, _ in PHOTOS]
    entries = [entry(f"full-{i}", i, jpeg(names[i % 3])) for i in range(BATCH_MAX)]
    answers = frame_batch.unpack_reply((await send_batch(hub, entries)).data)
    bodies = [json.loads(a) for a in answers]  # type: ignore[arg-type]
    assert [b["seq"] for b in bodies] == list(range(BATCH_MAX))
    assert [b["predictions"][0]["label"] for b in bodies] == [
        PHOTOS[i % 3][1] for i in range(BATCH_MAX)]


async def test_frames_of_one_session_in_two_batches_are_published_in_order(
        hub: Client) -> None:
    """Two batches at once with frames of the same session: its results subject gets
    them in the order they were sent."""
    results = await hub.subscribe(c.results_subject(c.KIND_LIVE, "order"))
    await hub.flush()
    first = [entry("order", 1, jpeg("cat_720p.jpg")), entry("other-a", 1, jpeg("parrot.jpg"))]
    second = [entry("order", 2, jpeg("parrot.jpg")), entry("other-b", 1, jpeg("parrot.jpg"))]
    await asyncio.gather(send_batch(hub, first), send_batch(hub, second))
    seqs = [json.loads((await results.next_msg(timeout=REQUEST_TIMEOUT_S)).data)["seq"]
            for _ in range(2)]
    assert seqs == [1, 2]
    await results.unsubscribe()


class RecordingClient:
    """Stands in for the worker's NATS connection: what it publishes, by subject."""

    is_closed = False

    def __init__(self) -> None:
        self.published: dict[str, asyncio.Future[tuple[bytes, dict[str, str]]]] = {}

    def sent(self, subject: str) -> asyncio.Future[tuple[bytes, dict[str, str]]]:
        return self.published.setdefault(subject, asyncio.get_running_loop().create_future())

    async def publish(self, subject: str, payload: bytes = b"", reply: str = "",
                      headers: dict[str, str] | None = None) -> None:
        self.sent(subject).set_result((payload, headers or {}))


async def test_each_frame_of_a_batch_has_its_own_span_under_its_own_trace(
        quant_model_path: Path) -> None:
    """The frame span of each frame of a batch is a child of that frame's traceparent
    (the hub's span for it), with its own session and seq."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    hub_spans = [tracer.start_span(f"hub frame {i}") for i in range(2)]
    traceparents = [f"00-{h.get_span_context().trace_id:032x}-"
                    f"{h.get_span_context().span_id:016x}-01" for h in hub_spans]
    loaded = LoadedModel(ModelVersion("m", 1, "tflite:test"),
                         TfliteBackend(str(quant_model_path), num_threads=1),
                         RuntimeChoice("litert", "pinned"))
    nc = RecordingClient()
    async with DecodeService(Decoder(size=224), 2) as decoding:
        worker = Worker(Config(model="tflite:test", name="spans", batch_max=BATCH_MAX),
                        nc, decoding, tracer=tracer)  # type: ignore[arg-type]
        worker.add_model_without_endpoint(loaded)
        entries = [entry(f"span-{i}", 7 + i, jpeg("parrot.jpg"),
                         **{c.BATCH_TRACEPARENT: traceparents[i]}) for i in range(2)]
        reply = nc.sent("_INBOX.spans")
        await worker.take(SimpleNamespace(  # type: ignore[arg-type]
            subject=c.infer_subject("m", 1, c.KIND_BATCH, HUB_ID),
            data=frame_batch.request_body(entries), reply="_INBOX.spans",
            headers=frame_batch.request_headers(2, far_deadline_ms())))
        body, headers = await reply
        await worker.remove_model(loaded.ref)
    assert headers == frame_batch.reply_headers(2)
    answers = frame_batch.unpack_reply(body)
    assert [json.loads(a or b"null")["seq"] for a in answers] == [7, 8]
    frames = {s.attributes[ATTR_SESSION]: s for s in exporter.get_finished_spans()
              if s.name == SPAN_FRAME}
    assert sorted(frames) == ["span-0", "span-1"]
    for i, hub_span in enumerate(hub_spans):
        span = frames[f"span-{i}"]
        assert span.parent is not None and span.parent.span_id == (
            hub_span.get_span_context().span_id)
        assert span.context.trace_id == hub_span.get_span_context().trace_id
        assert span.attributes[ATTR_SEQ] == 7 + i

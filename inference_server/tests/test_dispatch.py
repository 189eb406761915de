"""No hidden queues, no inference for frames nobody waits for: two real workers (the
LiteRT model) in this process on a real nats-server; one of them can be held busy
by gating its model."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import nats
import numpy as np
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.micro.service import ServiceVerb, control_subject

from inference_server.wire import contract
from inference_server.models.runtimes.litert import TfliteBackend
from inference_server.config import Config
from inference_server.imaging.decoder import Decoder
from inference_server.imaging.pool import DecodeService
from inference_server.models.repository import ModelVersion
from inference_server.models.selection import RuntimeChoice
from inference_server.models.served import LoadedModel
from inference_server.serving.intake import Intake
from inference_server.serving.worker import Worker

from .procs import NatsServer


MODEL = "mobilenet_v2"
SUBJECT = contract.infer_subject(MODEL, 1, contract.KIND_LIVE, "s1")


class GatedBackend:
    """The real model behind a gate: while the gate is shut, a model call waits."""

    def __init__(self, model: TfliteBackend) -> None:
        self._model = model
        self.kind = model.kind
        self.input_size = model.input_size
        self.labels = model.labels
        self.info = model.info
        self.gate = threading.Event()
        self.gate.set()
        self.calls = 0
        self.failures = 0  # model calls still to fail
        self.sizes: list[int] = []  # frames in each model call

    def predict(self, batch: np.ndarray) -> np.ndarray:
        self.calls += 1
        self.gate.wait(30)
        self.sizes.append(len(batch))
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("the model failed")
        return self._model.predict(batch)

    def close(self) -> None:
        self.gate.set()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    srv = NatsServer(tmp_path_factory.mktemp("nats"))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def model(quant_model_path: Path) -> Iterator[TfliteBackend]:
    m = TfliteBackend(str(quant_model_path), None, 1)
    yield m
    m.close()


@contextlib.asynccontextmanager
async def running(server: NatsServer, model: TfliteBackend, name: str,
                  **cfg: int) -> AsyncIterator[Worker]:
    """A worker (the real parts, as __main__ builds them) serving on its own
    connection, its model behind a gate."""
    config = Config(nats_url=server.url, model="tflite:test", name=name, **cfg)
    backend = GatedBackend(model)
    loaded = LoadedModel(ModelVersion(MODEL, 1, "tflite:test"), backend,  # type: ignore[arg-type]
                         RuntimeChoice("litert", "pinned"))
    async with contextlib.AsyncExitStack() as stack:
        decoding = await stack.enter_async_context(DecodeService(Decoder(size=224), 2))
        conn = await nats.connect(server.url)
        stack.push_async_callback(conn.drain)
        stack.callback(backend.gate.set)  # let a held model call finish before draining
        worker = await stack.enter_async_context(Worker(config, conn, decoding, [loaded]))
        await conn.flush()
        yield worker


def gate(worker: Worker) -> GatedBackend:
    (served,) = worker._models.values()
    assert isinstance(served.loaded.backend, GatedBackend)
    return served.loaded.backend


def intake(worker: Worker) -> Intake:
    """The intake of the worker's one model-version."""
    (served,) = worker._models.values()
    assert served.intake is not None
    return served.intake


@pytest.fixture
async def nc(server: NatsServer) -> AsyncIterator[Client]:
    conn = await nats.connect(server.url)
    yield conn
    await conn.close()


def frame_headers(seq: int, deadline_s: float | None = None) -> dict[str, str]:
    h = {contract.HEADER_SESSION_ID: "s1", contract.HEADER_FRAME_SEQ: str(seq),
         contract.HEADER_CONTENT_TYPE: contract.CONTENT_TYPE_BMP}
    if deadline_s is not None:
        h[contract.HEADER_FRAME_DEADLINE] = str(int(deadline_s * 1000))
    return h


async def fill(worker: Worker, nc: Client, image: bytes) -> asyncio.Future[Msg]:
    """Make the only worker (capacity 1) full: it takes frame 1 and is stuck in its
    model call. Returns the request of frame 1."""
    gate(worker).gate.clear()
    first = asyncio.ensure_future(nc.request(SUBJECT, image, timeout=30,
                                             headers=frame_headers(1)))
    while gate(worker).calls == 0:
        await asyncio.sleep(0.01)
    assert not intake(worker).open
    await worker._nc.flush()  # the server has seen it leave the queue group
    # With every worker full, a frame finds no responder at once (nothing queues).
    with pytest.raises(nats.errors.NoRespondersError):
        await nc.request(SUBJECT, image, timeout=30, headers=frame_headers(2))
    return first


async def test_a_worker_held_busy_leaves_the_next_frames_to_an_idle_one(
        server: NatsServer, model: TfliteBackend, nc: Client,
        image_bytes: dict[str, bytes]) -> None:
    cat = image_bytes["cat.bmp"]
    async with running(server, model, "held-busy", capacity=1) as busy:
        first = await fill(busy, nc, cat)
        async with running(server, model, "idle"):
            for seq in range(3, 9):
                reply = json.loads((await nc.request(
                    SUBJECT, cat, timeout=30, headers=frame_headers(seq))).data)
                assert reply["type"] == "result" and reply["worker"] == "idle", reply
            assert gate(busy).calls == 1  # still on frame 1
            gate(busy).gate.set()
            reply = json.loads((await first).data)
            assert reply["worker"] == "held-busy" and reply["seq"] == 1
            # Room again: the worker rejoined the queue group.
            while not intake(busy).open:
                await asyncio.sleep(0.01)
    assert busy.answered == 1


async def test_an_expired_frame_is_neither_decoded_nor_inferred(
        server: NatsServer, model: TfliteBackend, nc: Client,
        image_bytes: dict[str, bytes]) -> None:
    cat = image_bytes["cat.bmp"]
    async with running(server, model, "deadlines") as worker:
        # Already past its deadline when it arrives: dropped before decoding.
        inbox = nc.new_inbox()
        replies = await nc.subscribe(inbox)
        await nc.publish(SUBJECT, cat, reply=inbox,
                         headers=frame_headers(1, time.time() - 1))
        # Expires while it waits behind a busy model: dropped before inference.
        gate(worker).gate.clear()
        busy = asyncio.ensure_future(nc.request(SUBJECT, cat, timeout=30,
                                                headers=frame_headers(2, time.time() + 60)))
        while gate(worker).calls == 0:
            await asyncio.sleep(0.01)
        await nc.publish(SUBJECT, cat, reply=inbox,
                         headers=frame_headers(3, time.time() + 0.2))
        while worker.expired < 1 or len(worker._tasks) < 2:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)  # frame 3's deadline passes while the model is busy
        gate(worker).gate.set()
        assert json.loads((await busy).data)["seq"] == 2
        # A frame with time left is answered as usual, and in order after them.
        reply = json.loads((await nc.request(
            SUBJECT, cat, timeout=30, headers=frame_headers(4, time.time() + 60))).data)
        assert reply["type"] == "result" and reply["seq"] == 4
        assert worker.expired == 2
        assert gate(worker).calls == 2  # frames 2 and 4 only
        with pytest.raises(nats.errors.TimeoutError):
            await replies.next_msg(timeout=0.2)  # the expired frames are not answered
    assert (worker.answered, worker.expired) == (2, 2)


async def test_frames_batched_behind_a_busy_model_are_answered_in_order(
        server: NatsServer, model: TfliteBackend, nc: Client,
        image_bytes: dict[str, bytes]) -> None:
    """Frames decoded while the model is busy go to it as one batch; the model thread
    makes their replies and they leave in the order the frames came, on the results
    subject and each to its own inbox."""
    cat = image_bytes["cat.bmp"]
    async with running(server, model, "batches", session_frames=8) as worker:
        results = await nc.subscribe(contract.results_subject(contract.KIND_LIVE, "s1"))
        await nc.flush()
        gate(worker).gate.clear()
        first = asyncio.ensure_future(nc.request(SUBJECT, cat, timeout=30,
                                                 headers=frame_headers(1)))
        while gate(worker).calls == 0:
            await asyncio.sleep(0.01)
        rest = [asyncio.ensure_future(nc.request(SUBJECT, cat, timeout=30,
                                                 headers=frame_headers(seq)))
                for seq in range(2, 6)]
        (served,) = worker._models.values()
        while len(served.batcher._queue) < 4:  # all four decoded, waiting for the model
            await asyncio.sleep(0.01)
        gate(worker).gate.set()
        replies = [json.loads((await r).data) for r in [first, *rest]]
        published = [json.loads((await results.next_msg(timeout=30)).data) for _ in range(5)]
        sizes = gate(worker).sizes
    assert [r["seq"] for r in replies] == [1, 2, 3, 4, 5]
    assert [r["seq"] for r in published] == [1, 2, 3, 4, 5]
    assert [r["timing"]["batch"] for r in replies] == [1, 4, 4, 4, 4]
    assert all(r["type"] == "result" and r["predictions"][0]["index"] == 285
               for r in replies), replies
    assert sizes == [1, 4]


async def test_a_model_error_is_answered_internal_and_the_next_frame_is_answered(
        server: NatsServer, model: TfliteBackend, nc: Client,
        image_bytes: dict[str, bytes]) -> None:
    cat = image_bytes["cat.bmp"]
    async with running(server, model, "flaky") as worker:
        gate(worker).failures = 1
        failed = json.loads((await nc.request(SUBJECT, cat, timeout=30,
                                              headers=frame_headers(1))).data)
        answered = json.loads((await nc.request(SUBJECT, cat, timeout=30,
                                                headers=frame_headers(2))).data)
    assert (failed["type"], failed["seq"], failed["code"]) == (
        "error", 1, contract.CODE_INTERNAL), failed
    assert (answered["type"], answered["seq"]) == ("result", 2), answered
    assert (worker.errors, worker.answered) == (1, 2)


async def test_a_model_without_endpoint_is_served_to_take_alone(
        server: NatsServer, model: TfliteBackend, nc: Client,
        image_bytes: dict[str, bytes]) -> None:
    """What bench/worker/per_frame.py drives: a worker not entered serves a model-version
    to take() (answers published on its real connection) and to nothing else."""
    config = Config(nats_url=server.url, model="tflite:test", name="no-endpoint")
    backend = GatedBackend(model)  # its close() leaves the shared model open
    loaded = LoadedModel(ModelVersion(MODEL, 1, "tflite:test"), backend,  # type: ignore[arg-type]
                         RuntimeChoice("litert", "pinned"))
    async with DecodeService(Decoder(size=224), 2) as decoding:
        worker = Worker(config, nc, decoding)
        worker.add_model_without_endpoint(loaded)
        assert worker.models == [contract.model_ref(MODEL, 1)]
        inbox = nc.new_inbox()
        replies = await nc.subscribe(inbox)
        await nc.flush()
        # A message as the endpoint would deliver it.
        frame = SimpleNamespace(subject=SUBJECT, data=image_bytes["cat.bmp"],
                                headers=frame_headers(1), reply=inbox)
        await worker.take(frame)  # type: ignore[arg-type]
        reply = json.loads((await replies.next_msg(timeout=30)).data)
        assert (reply["type"], reply["seq"], reply["model"], reply["version"],
                reply["worker"]) == ("result", 1, MODEL, 1, "no-endpoint"), reply
        with pytest.raises(nats.errors.NoRespondersError):  # no endpoint, no queue group
            await nc.request(SUBJECT, image_bytes["cat.bmp"], timeout=5,
                             headers=frame_headers(2))
        await worker.remove_model(loaded.ref)
        assert worker.models == [] and loaded.closed
    async with running(server, model, "entered") as entered:
        with pytest.raises(RuntimeError):  # it has a service: add_model is the way
            entered.add_model_without_endpoint(loaded)


async def stats_of_the_one_worker(nc: Client) -> dict[str, Any]:
    reply = await nc.request(control_subject(ServiceVerb.STATS, contract.MICRO_SERVICE), b"",
                             timeout=5)
    (endpoint,) = json.loads(reply.data)["endpoints"]
    assert endpoint["name"] == contract.endpoint_name(MODEL, 1)
    return endpoint


async def test_a_full_worker_is_still_a_micro_service_and_counts_across_leaving(
        server: NatsServer, model: TfliteBackend, nc: Client,
        image_bytes: dict[str, bytes]) -> None:
    """Leaving the queue group ends the frames endpoint's subscription only: the
    full worker still answers the readiness ping and stats, and the endpoint's counts
    go on when it joins again; expired frames are counted in its stats."""
    cat = image_bytes["cat.bmp"]
    async with running(server, model, "full", capacity=1) as worker:
        first = await fill(worker, nc, cat)
        # Full, not gone: the hub's readiness ping is answered.
        await nc.request(contract.WORKERS_PING_SUBJECT, b"", timeout=5)
        assert (await stats_of_the_one_worker(nc))["num_requests"] == 1
        gate(worker).gate.set()
        assert json.loads((await first).data)["seq"] == 1
        while not intake(worker).open:
            await asyncio.sleep(0.01)
        await worker._nc.flush()  # the server has seen it join the queue group again
        await nc.publish(SUBJECT, cat, reply=nc.new_inbox(),
                         headers=frame_headers(3, time.time() - 1))
        # Frame 3 spent the worker's credit of one: it joins again once it is done.
        while worker.expired < 1 or not intake(worker).open:
            await asyncio.sleep(0.01)
        await worker._nc.flush()
        reply = json.loads((await nc.request(
            SUBJECT, cat, timeout=30, headers=frame_headers(4, time.time() + 60))).data)
        assert reply["type"] == "result" and reply["seq"] == 4
        endpoint = await stats_of_the_one_worker(nc)
    assert worker.full_count >= 1 and worker.expired == 1
    assert endpoint["num_requests"] == 3 and endpoint["num_errors"] == 1
    assert endpoint["data"] == {"frames": 3, "result": 2, "refused": 0, "shed": 0,
                                "expired": 1, "failed": 0, "errors": 1}

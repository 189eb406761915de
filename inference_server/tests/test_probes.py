"""The worker's probes and capacity gauges: /healthz and /readyz beside /metrics (what
Kubernetes' liveness and readiness probes ask, deploy/helm), and worker_frames_held /
worker_frames_capacity (what the autoscaler's query reads)."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest

from inference_server.wire import contract as c
from inference_server.ops import health as health_module
from inference_server.ops.health import Health
from inference_server.ops.metrics import MetricsServer, WorkerMetrics

from .procs import NatsServer, WorkerProcess, free_port, quant_subject
from .test_observability import samples

CAPACITY = 6
BATCH_MAX = 8
# Long enough that frames sent together are still held (waiting for their batch to
# fill) when /metrics is read; the most --batch-wait-ms allows.
BATCH_WAIT_MS = 1000


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


class FakeNats:
    def __init__(self, connected: bool) -> None:
        self.is_connected = connected


def test_readiness_says_what_is_missing_in_order() -> None:
    loop = asyncio.new_event_loop()
    try:
        h = Health(loop)
        assert h.not_ready_reason() == "model loading"
        h.model_loaded = True
        assert h.not_ready_reason() == "not connected to NATS"
        h.nats = FakeNats(connected=False)
        assert h.not_ready_reason() == "not connected to NATS"
        h.nats = FakeNats(connected=True)
        assert h.not_ready_reason() == "not subscribed to the frames"
        h.subscribed = True
        assert h.not_ready_reason() is None
        h.stopping = True
        assert h.not_ready_reason() == "stopping: draining the frames taken"
    finally:
        loop.close()


def test_liveness_fails_when_the_event_loop_is_stuck(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(health_module, "LOOP_RESPONSE_TIMEOUT_S", 0.05)
    loop = asyncio.new_event_loop()  # never run: like a loop stuck in a blocking call
    try:
        assert "did not respond" in (Health(loop).not_alive_reason() or "")
    finally:
        loop.close()
    assert Health(loop).not_alive_reason() == "event loop closed"

    running = asyncio.new_event_loop()
    thread = threading.Thread(target=running.run_forever, daemon=True)
    thread.start()
    try:
        assert Health(running).not_alive_reason() is None
    finally:
        running.call_soon_threadsafe(running.stop)
        thread.join(5)
        running.close()


def test_probes_answer_json_with_the_reason_and_metrics_stay() -> None:
    running = asyncio.new_event_loop()
    thread = threading.Thread(target=running.run_forever, daemon=True)
    thread.start()
    health = Health(running)
    try:
        with MetricsServer(WorkerMetrics(), "127.0.0.1:0", health) as server:
            base = f"http://127.0.0.1:{server.port}"
            assert get(f"{base}/healthz") == (200, '{"status": "ok"}\n')
            status, body = get(f"{base}/readyz")
            assert status == 503
            assert json.loads(body) == {"status": "not ready", "reason": "model loading"}
            status, body = get(f"{base}/metrics")
            assert status == 200 and "worker_frames_capacity 0.0" in body
    finally:
        running.call_soon_threadsafe(running.stop)
        thread.join(5)
        running.close()


@pytest.fixture()
def nats_port() -> int:
    return free_port()


@pytest.fixture()
def worker(tmp_path: Path, quant_model_path: Path, nats_port: int) -> Iterator[tuple[WorkerProcess, str]]:
    """A real worker told to use a NATS server that is not there yet."""
    metrics_port = free_port()
    proc = WorkerProcess(tmp_path, "probe-worker",
                         "--nats-url", f"nats://127.0.0.1:{nats_port}",
                         "--model", f"tflite:{quant_model_path}",
                         "--capacity", str(CAPACITY), "--batch-max", str(BATCH_MAX),
                         "--batch-wait-ms", str(BATCH_WAIT_MS),
                         "--metrics-addr", f"127.0.0.1:{metrics_port}")
    try:
        yield proc, f"http://127.0.0.1:{metrics_port}"
    finally:
        proc.stop()


def wait_for(check: Any, what: str, proc: WorkerProcess, tries: int = 600) -> Any:
    """Poll `check` (returns a truthy value when done) until it is done."""
    import time

    for _ in range(tries):
        got = check()
        if got:
            return got
        if proc.proc.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError(f"never {what}; worker output:\n{proc.output()}")


def test_a_real_worker_is_ready_only_once_connected_and_reports_its_capacity(
        tmp_path: Path, worker: tuple[WorkerProcess, str], nats_port: int,
        image_bytes: dict[str, bytes]) -> None:
    proc, base = worker

    def readiness() -> tuple[int, dict[str, str]] | None:
        try:
            status, body = get(f"{base}/readyz")
        except urllib.error.URLError:  # not listening yet
            return None
        return status, json.loads(body)

    # Model loaded, NATS absent: alive, not ready, and why.
    wait_for(lambda: readiness() == (503, {"status": "not ready",
                                           "reason": "not connected to NATS"}),
             "reported 'not connected to NATS'", proc)
    assert get(f"{base}/healthz") == (200, '{"status": "ok"}\n')
    gauges = samples(get(f"{base}/metrics")[1])
    assert gauges[("worker_frames_capacity", ())] == 0  # takes no frames yet
    assert gauges[("worker_frames_held", ())] == 0

    srv = NatsServer(tmp_path, port=nats_port)
    try:
        wait_for(lambda: readiness() == (200, {"status": "ready"}), "became ready", proc)
        proc.wait_ready(srv.url)
        assert samples(get(f"{base}/metrics")[1])[("worker_frames_capacity", ())] == CAPACITY

        # Frames waiting for their batch to fill are held: the gauge counts them, and
        # comes back to 0 once they are answered.
        held = asyncio.run(held_while_frames_wait(srv.url, base, image_bytes["cat.bmp"]))
        assert held == 3
        assert samples(get(f"{base}/metrics")[1])[("worker_frames_held", ())] == 0

        # NATS gone: not ready again, still alive (it reconnects by itself).
        srv.stop()
        wait_for(lambda: readiness() == (503, {"status": "not ready",
                                               "reason": "not connected to NATS"}),
                 "noticed NATS gone", proc)
        assert get(f"{base}/healthz")[0] == 200
    finally:
        srv.stop()


async def held_while_frames_wait(url: str, base: str, image: bytes) -> float:
    """Send three frames at once (three sessions, so none is over its share) and read
    worker_frames_held while they wait for their batch; the highest value seen."""
    nc = await nats.connect(url)
    try:
        highest = 0.0
        for _ in range(5):  # a round whose reads all missed the wait is tried again
            requests = [asyncio.ensure_future(nc.request(
                quant_subject(c.KIND_CLI, f"probe{i}"), image, timeout=30,
                headers={c.HEADER_FRAME_SEQ: "1"})) for i in range(3)]
            while not all(r.done() for r in requests):
                text = (await asyncio.to_thread(get, f"{base}/metrics"))[1]
                highest = max(highest, samples(text)[("worker_frames_held", ())])
            for r in requests:
                assert json.loads(r.result().data)["type"] == c.TYPE_RESULT
            if highest == 3:
                break
        return highest
    finally:
        await nc.close()

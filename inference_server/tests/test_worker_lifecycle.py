"""The worker process: start-up errors (exit 2, one clear paragraph), SIGTERM drain."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import nats
import pytest

from inference_server.wire import contract as c

from .procs import REPO_ROOT, BusyCpu, NatsServer, WorkerProcess, free_port, quant_subject

FIX = "WORKER_MODEL=tflite:<path to a MobileNetV2 .tflite>"


def run_worker(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "inference_server", *args], cwd=REPO_ROOT,
                          env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("model", ["tflite:/nonexistent/mobilenet.tflite",
                                   "keras:/nonexistent/mobilenet_v2.h5"])
def test_model_that_cannot_load_exits_2_with_the_fix(model: str) -> None:
    res = run_worker("--model", model, "--nats-url", f"nats://127.0.0.1:{free_port()}")
    assert res.returncode == 2, res.stderr
    assert FIX in res.stderr
    assert "/nonexistent/" in res.stderr  # says which file
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout
    paragraph = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(paragraph) == 1, res.stderr


def test_model_from_env_var(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a flatbuffer" * 100)
    res = run_worker(env={"WORKER_MODEL": f"tflite:{junk}"})
    assert res.returncode == 2
    assert FIX in res.stderr and "not a valid TFLite model" in res.stderr


def test_invalid_config_exits_2() -> None:
    res = run_worker("--top-k", "0")
    assert res.returncode == 2
    assert "invalid configuration" in res.stderr and "--top-k" in res.stderr
    res = run_worker(env={"WORKER_BATCH_MAX": "lots"})
    assert res.returncode == 2 and "WORKER_BATCH_MAX" in res.stderr
    res = run_worker("--no-such-flag")
    assert res.returncode == 2


def test_sigterm_while_waiting_for_nats_exits_0(quant_model_path: Path, tmp_path: Path) -> None:
    proc = WorkerProcess(tmp_path, "w-nonats", "--model", f"tflite:{quant_model_path}",
                         "--nats-url", f"nats://127.0.0.1:{free_port()}")
    try:
        proc.wait_for_log('"model loaded"')
        proc.terminate()
        assert proc.wait() == 0, proc.output()
    finally:
        proc.stop()


@pytest.fixture
def busy_cpu() -> Iterator[BusyCpu]:
    busy = BusyCpu()
    try:
        yield busy
    finally:
        busy.stop()


# The moment SIGTERM arrives, by the log line it follows: as soon as the signal handlers
# are in (debug; the model loads in a thread meanwhile), and once the model is loaded
# (the worker waits for a NATS server that is not there).
STOP_MOMENTS = ['"starting: loading the model"', '"model loaded"']


@pytest.mark.parametrize("after", STOP_MOMENTS)
@pytest.mark.parametrize("attempt", range(3))
def test_sigterm_at_start_up_exits_0_with_the_cpu_busy(quant_model_path: Path, tmp_path: Path,
                                                       busy_cpu: BusyCpu, after: str,
                                                       attempt: int) -> None:
    proc = WorkerProcess(tmp_path, f"w-busy{attempt}", "--model", f"tflite:{quant_model_path}",
                         "--nats-url", f"nats://127.0.0.1:{free_port()}",
                         "--log-level", "debug")
    try:
        proc.wait_for_log(after, deadline_s=120)
        proc.terminate()
        assert proc.wait(120) == 0, proc.output()
        out = proc.output()
        assert ('"stopped before serving"' in out
                or '"stopped before connecting to NATS"' in out), out
        assert "Traceback" not in out
    finally:
        proc.stop()


def test_sigterm_drains_frames_already_received(quant_model_path: Path, tmp_path: Path,
                                                image_bytes: dict[str, bytes]) -> None:
    server = NatsServer(tmp_path)
    proc = WorkerProcess(tmp_path, "w-drain", "--model", f"tflite:{quant_model_path}",
                         "--nats-url", server.url, "--batch-max", "4",
                         "--capacity", "12")  # room for every frame sent below
    try:
        proc.wait_ready(server.url)
        frames = [image_bytes[n] for n in ("cat.bmp", "parrot.jpg", "bird.bmp")] * 4

        async def scenario() -> list[dict]:
            nc = await nats.connect(server.url)
            inbox = nc.new_inbox()
            sub = await nc.subscribe(inbox)
            for i, data in enumerate(frames):
                await nc.publish(quant_subject(c.KIND_LIVE, f"d{i}"), data, reply=inbox,
                                 headers={c.HEADER_FRAME_SEQ: str(i)})
            # Once the server has our frames it has routed them to the worker, ahead
            # of anything the worker sends after SIGTERM (UNSUB, PING).
            await nc.flush()
            proc.terminate()
            replies = [json.loads((await sub.next_msg(timeout=30)).data) for _ in frames]
            await nc.close()
            return replies

        replies = asyncio.run(scenario())
        assert sorted(r["seq"] for r in replies) == list(range(len(frames)))
        assert all(r["type"] == c.TYPE_RESULT and r["worker"] == "w-drain" for r in replies)
        assert proc.wait() == 0, proc.output()
        out = proc.output()
        assert '"stopping: draining"' in out and '"stopped"' in out
        assert "Traceback" not in out
    finally:
        proc.stop()
        server.stop()


def test_replay_consumer_made_before_the_worker_starts(quant_model_path: Path, tmp_path: Path,
                                                       image_bytes: dict[str, bytes]) -> None:
    """A worker that starts after the replay consumer was made finds it (scan at start)."""
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    server = NatsServer(tmp_path, jetstream=True)
    names = ["parrot.jpg", "cat.bmp", "bird.bmp"]
    workers: list[WorkerProcess] = []

    async def scenario() -> list[dict]:
        nc = await nats.connect(server.url)
        js = nc.jetstream()
        await js.add_stream(name="FRAMES", subjects=[c.recorded_frame_stored_subject(">")],
                            no_ack=True)
        for i, name in enumerate(names):  # (no_ack: the stream sends no PubAck)
            await nc.publish(c.recorded_frame_stored_subject("early"), image_bytes[name],
                             headers={c.HEADER_SESSION_ID: "early",
                                      c.HEADER_FRAME_SEQ: str(i + 1)})
        await nc.flush()
        for _ in range(500):
            if (await js.stream_info("FRAMES")).state.messages == len(names):
                break
            await asyncio.sleep(0.02)
        await js.add_consumer("FRAMES", ConsumerConfig(
            durable_name="replay-early", deliver_subject=quant_subject(c.KIND_REPLAY, "early"),
            deliver_group=c.QUEUE_GROUP, deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.NONE))
        sub = await nc.subscribe(c.results_subject(c.KIND_REPLAY, "early"))
        await nc.flush()
        workers.append(WorkerProcess(tmp_path, "w-early", "--model",
                                     f"tflite:{quant_model_path}", "--nats-url", server.url))
        out = [json.loads((await sub.next_msg(timeout=60)).data) for _ in names]
        await nc.close()
        return out

    try:
        got = asyncio.run(scenario())
        assert [b["seq"] for b in got] == [1, 2, 3]
        assert [b["predictions"][0]["label"] for b in got] == ["macaw", "Egyptian cat",
                                                               "chickadee"]
        assert all(b["session"] == "early" and b["worker"] == "w-early" for b in got)
    finally:
        for w in workers:
            w.stop()
        server.stop()


LOST_WHILE_STOPPING = '"lost NATS while stopping'


@pytest.mark.parametrize("order", ["lost, then stopped", "stopped, then lost"])
def test_nats_gone_while_stopping_is_one_line_not_a_traceback(
        quant_model_path: Path, tmp_path: Path, image_bytes: dict[str, bytes], order: str) -> None:
    """The hub with its embedded NATS stopping as the worker drains (`make run` stopped
    in the wrong order, a NATS crash): one clear line, no traceback, a clean exit."""
    server = NatsServer(tmp_path)
    proc = WorkerProcess(tmp_path, "w-lost", "--model", f"tflite:{quant_model_path}",
                         "--nats-url", server.url, "--capacity", "12")
    try:
        proc.wait_ready(server.url)

        async def send_frames() -> None:  # held by the worker as it stops
            nc = await nats.connect(server.url)
            for i in range(12):
                await nc.publish(quant_subject(c.KIND_LIVE, f"d{i}"), image_bytes["cat.bmp"],
                                 reply=nc.new_inbox(), headers={c.HEADER_FRAME_SEQ: str(i)})
            await nc.flush()
            await nc.close()

        asyncio.run(send_frames())
        if order == "lost, then stopped":
            server.proc.kill()
            proc.wait_for_log('"disconnected from NATS; reconnecting"')
            proc.terminate()
        else:
            proc.terminate()
            server.proc.kill()
        assert proc.wait() == 0, proc.output()
        out = proc.output()
        assert "Traceback" not in out and "drain failed" not in out, out
        lost = out.count(LOST_WHILE_STOPPING)  # stopped first: the drain may have finished
        assert lost == 1 if order == "lost, then stopped" else lost <= 1, out
        assert '"stopped"' in out
    finally:
        proc.stop()
        server.stop()

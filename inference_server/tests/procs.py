"""Real processes for the integration tests: a nats-server and the worker itself."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import nats
import pytest

from inference_server.models.repository import single_model_name
from inference_server.wire.contract import WORKERS_PING_SUBJECT, infer_subject

from .conftest import QUANT_MODEL

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_NATS_BIN = REPO_ROOT / ".bin" / "nats-server"
INSTALL_HINT = ("GOBIN=$PWD/.bin go install github.com/nats-io/nats-server/v2@v2.15.2 "
                "(from the repo root; or set NATS_SERVER_BIN)")


# The name a worker given --model tflite:<the quant model> serves it under, version 1.
QUANT_MODEL_NAME = single_model_name(f"tflite:{QUANT_MODEL}")


def quant_subject(kind: str, ident: str) -> str:
    """infer.<quant model>.1.<kind>.<id>: a frame for a worker serving --model
    tflite:<the quant model>."""
    return infer_subject(QUANT_MODEL_NAME, 1, kind, ident)


def nats_server_bin() -> Path:
    path = Path(os.environ.get("NATS_SERVER_BIN", DEFAULT_NATS_BIN))
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"nats-server not found at {path}: the NATS integration tests need a real "
                    f"server. Install it with: {INSTALL_HINT}", pytrace=False)
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen, deadline_s: float = 15.0) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited early with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on port {port} after {deadline_s}s")


class NatsServer:
    def __init__(self, tmp: Path, jetstream: bool = False, config: str | None = None,
                 scheme: str = "nats", port: int | None = None) -> None:
        """A nats-server on `port` (default: a free one); `config` is the text of a
        configuration file (with {port} where the port goes) for servers with TLS or
        users."""
        self.port = port or free_port()
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.log = tmp / f"nats-server-{self.port}.log"
        args = [str(nats_server_bin()), "-a", "127.0.0.1", "-p", str(self.port)]
        if config is not None:
            conf = tmp / f"nats-server-{self.port}.conf"
            conf.write_text(config.replace("{port}", str(self.port)))
            args += ["-c", str(conf)]
        if jetstream:
            args += ["-js", "-sd", str(tmp / f"js-{self.port}")]
        self.proc = subprocess.Popen(args, stdout=self.log.open("wb"), stderr=subprocess.STDOUT)
        _wait_port(self.port, self.proc)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def pinned_runtime(args: tuple[str, ...]) -> str:
    """The runtime a test worker runs its --model on: LiteRT for .tflite, Keras for
    Keras weights, OpenVINO for the rest."""
    model = next((args[i + 1] for i, a in enumerate(args[:-1]) if a == "--model"), "")
    kind = model.partition(":")[0]
    return {"tflite": "litert", "keras": "keras", "keras-random": "keras"}.get(kind, "openvino")


class WorkerProcess:
    """`python -m inference_server` as a user runs it."""

    def __init__(self, tmp: Path, name: str, *args: str, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.log = tmp / f"worker-{name}.log"
        # Tests pin the runtime (no timing at start) and keep the model cache to
        # themselves.
        full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
                    "WORKER_RUNTIME": pinned_runtime(args),
                    "WORKER_MODEL_CACHE_DIR": str(tmp / "model-cache"), **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "inference_server", "--name", name, *args],
            cwd=REPO_ROOT, env=full_env, stdout=self.log.open("wb"), stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_log(self, text: str, deadline_s: float = 60.0) -> None:
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            if text in self.output():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"worker never logged {text!r}; output:\n{self.output()}")

    def wait_ready(self, url: str, deadline_s: float = 60.0, **connect_opts: Any) -> None:
        """Ready when it answers its micro service's ping (what the hub's /readyz does);
        `connect_opts` are the pinging client's credentials and TLS."""

        async def ping() -> bool:
            nc = await nats.connect(url, **connect_opts)
            try:
                end = time.monotonic() + deadline_s
                while time.monotonic() < end and self.proc.poll() is None:
                    inbox = nc.new_inbox()
                    sub = await nc.subscribe(inbox)
                    await nc.publish(WORKERS_PING_SUBJECT, b"", reply=inbox)
                    try:
                        while True:
                            msg = await sub.next_msg(timeout=0.5)
                            if self.name.encode() in msg.data:
                                return True
                    except nats.errors.TimeoutError:
                        pass
                    finally:
                        await sub.unsubscribe()
                return False
            finally:
                await nc.close()

        if not asyncio.run(ping()):
            raise AssertionError(f"worker {self.name} did not answer {WORKERS_PING_SUBJECT}; "
                                 f"output:\n{self.output()}")

    def terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout_s: float = 60.0) -> int:
        return self.proc.wait(timeout_s)

    def stop(self) -> None:
        self.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class BusyCpu:
    """Processes that spin on every core while a test runs: the start-up races that a
    busy CI machine shows, reproduced on purpose."""

    def __init__(self, processes: int | None = None) -> None:
        n = processes or os.cpu_count() or 2
        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                      for _ in range(n)]

    def stop(self) -> None:
        for proc in self.procs:
            proc.kill()
        for proc in self.procs:
            proc.wait()

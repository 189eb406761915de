"""Benchmark: what hostile images cost the worker.

    python -m bench.worker.hostile [--baseline-root DIR]

1. Each kind of hostile_images.catalogue() through the decoder in this process: the
   outcome, the best time of a few runs, and the peak of resident memory during the
   first run (VmHWM reset before it, the heap trimmed, so earlier frees do not hide it).
2. The real worker behind a real nats-server: its resident memory idle (after frames
   at every batch size), the highest seen while three sessions send a hostile image at
   10 frames/s each (the 16-bit PNG bomb of issue 9; the costliest accepted image), and
   5 s after they stop; and how many frames of a polite session (5 frames/s of a
   640x480 JPEG, answered within the hub's 3 s frame timeout) were classified meanwhile.

--baseline-root DIR runs both against another checkout's inference_server/ too (e.g.
`git archive main inference_server | tar -x -C DIR`), for before/after figures.
Figures are noisy on a shared machine: times are the best of several runs, memory is
what the kernel reports.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
import json
import logging
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Sequence

from inference_server.ops import memory
from inference_server.testkit import hostile_images
from inference_server.wire import contract
from inference_server.wire.contract import (CONTENT_TYPE_JPEG, HEADER_CONTENT_TYPE,
                                            HEADER_SESSION_ID, KIND_CLI, TYPE_RESULT,
                                            infer_subject)

from .throughput import wait_ping, webcam_jpeg

REPO_ROOT = Path(__file__).resolve().parents[2]
MB = 1e6
BOMB = "16-bit RGBA PNG 6300x6300 (the issue's bomb)"
# The attacks run on a real worker: the bomb, and the costliest image accepted
# that fits the hub's default frame limit (1 MB).
ATTACKS = (BOMB, "lossy WebP 1730x1150 of noise (1.0 MB)")
FRAME_TIMEOUT_S = 3.0  # the hub's default frame timeout (HUB_FRAME_TIMEOUT)


@dataclass(frozen=True)
class DecodeRow:
    kind: str
    size: int
    outcome: str
    ms: float  # best wall time
    cpu_ms: float  # best CPU time of the decoding thread (less noisy on a shared machine)
    peak_mb: float


# The name the benchmark's worker serves its model under (--model-name).
BENCH_MODEL = "bench"


def load_decoder_module(root: Path | None) -> ModuleType:
    """This package's decoder module, or the imaging/decoder.py under root/inference_server
    (imported as part of this package, so its relative imports resolve here)."""
    if root is None:
        from inference_server.imaging import decoder

        return decoder
    package = "inference_server.imaging"
    path = root / "inference_server" / "imaging" / "decoder.py"
    spec = importlib.util.spec_from_file_location(f"{package}._baseline_decoder", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    module.__package__ = package
    # A tree from before the wire/ package imports ..contract: the same constants here.
    sys.modules.setdefault("inference_server.contract", contract)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def measure_decode(decode: Callable[[bytes], Any], error: type[Exception], data: bytes,
                   repeats: int) -> tuple[str, float, float, float]:
    """(outcome, best wall ms, best CPU ms, peak MB of the first run)."""
    gc.collect()
    memory.trim()
    memory.reset_peak()
    base = memory.rss_bytes()
    outcome = "decoded"
    best = best_cpu = float("inf")
    peak = 0
    for i in range(repeats):
        start, start_cpu = time.perf_counter(), time.thread_time()
        try:
            decode(data)
        except error as exc:
            outcome = f"refused: {exc}"
        best = min(best, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.thread_time() - start_cpu)
        if i == 0:
            peak = memory.peak_rss_bytes() - base
    return outcome, best * 1000.0, best_cpu * 1000.0, max(0, peak) / MB


def decode_rows(module: ModuleType, repeats: int, only: str | None) -> list[DecodeRow]:
    decoder = module.Decoder(size=224)
    rows = []
    for kind in hostile_images.catalogue():
        if only and only not in kind.name:
            continue
        data = kind.make()
        outcome, ms, cpu_ms, peak = measure_decode(decoder.decode, module.ImageError, data,
                                                   repeats)
        rows.append(DecodeRow(kind.name, len(data), outcome, ms, cpu_ms, peak))
        del data
    return rows


def print_decode_table(columns: list[tuple[str, list[DecodeRow]]]) -> None:
    heads = " | ".join(f"{name} | ms (CPU ms) | peak MB" for name, _ in columns)
    print(f"| hostile image | bytes | {heads} |")
    print("|---|---:|" + "---|---:|---:|" * len(columns))
    for i, row in enumerate(columns[0][1]):
        cells = []
        for _, rows in columns:
            r = rows[i]
            cells.append(f"{_short(r.outcome)} | {_ms(r.ms)} ({_ms(r.cpu_ms)}) | "
                         f"{r.peak_mb:.0f}")
        print(f"| {row.kind} | {row.size:,} | " + " | ".join(cells) + " |")


def _ms(ms: float) -> str:
    return f"{ms:.1f}" if ms >= 0.1 else f"{ms:.2f}"


def _short(outcome: str, width: int = 60) -> str:
    return outcome if len(outcome) <= width else outcome[:width - 1] + "…"


# --- the worker under attack ------------------------------------------------------------


@dataclass(frozen=True)
class AttackResult:
    idle_mb: float
    peak_mb: float
    after_mb: float
    polite_sent: int
    polite_classified: int
    bombs_sent: int
    bomb_answers: dict[str, int]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _attack(url: str, pid: int, polite_frame: bytes, bomb: bytes, seconds: float,
                  attackers: int, bomb_fps: float, polite_fps: float,
                  settle_s: float) -> AttackResult:
    import nats

    nc = await nats.connect(url)
    # Warm up with 1 to 8 frames at once, twice: the model keeps one interpreter per
    # batch size, made on first use; the idle size is measured once they all exist.
    for _ in range(2):
        for n in range(1, 9):
            await asyncio.gather(*[
                nc.request(infer_subject(BENCH_MODEL, 1, KIND_CLI, f"warm{i}"), polite_frame,
                           timeout=30,
                           headers={HEADER_CONTENT_TYPE: CONTENT_TYPE_JPEG})
                for i in range(n)])
    await asyncio.sleep(1.0)
    idle = memory.rss_bytes(pid)
    peak = idle
    answers: dict[str, int] = {}
    counts = {"polite_sent": 0, "polite_ok": 0, "bombs": 0}
    stop_at = time.monotonic() + seconds

    async def one(subject: str, data: bytes, session: str, polite: bool) -> None:
        try:
            msg = await nc.request(subject, data, timeout=FRAME_TIMEOUT_S,
                                   headers={HEADER_SESSION_ID: session})
            body = json.loads(msg.data)
        except (nats.errors.TimeoutError, nats.errors.NoRespondersError):
            body = {"code": "timeout (no answer in 3 s)"}
        if polite:
            counts["polite_ok"] += body.get("type") == TYPE_RESULT
        else:
            key = body.get("code", body.get("type", "?"))
            answers[key] = answers.get(key, 0) + 1

    async def sender(session: str, data: bytes, fps: float, polite: bool) -> None:
        pending = set()
        subject = infer_subject(BENCH_MODEL, 1, KIND_CLI, session)
        while time.monotonic() < stop_at:
            pending.add(asyncio.ensure_future(one(subject, data, session, polite)))
            counts["polite_sent" if polite else "bombs"] += 1
            await asyncio.sleep(1.0 / fps)
        await asyncio.gather(*pending)

    async def sampler() -> None:
        nonlocal peak
        while time.monotonic() < stop_at + FRAME_TIMEOUT_S:
            peak = max(peak, memory.rss_bytes(pid))
            await asyncio.sleep(0.05)

    await asyncio.gather(sampler(), sender("polite", polite_frame, polite_fps, True),
                         *[sender(f"attacker{i}", bomb, bomb_fps, False)
                           for i in range(attackers)])
    await asyncio.sleep(settle_s)
    after = memory.rss_bytes(pid)
    await nc.close()
    return AttackResult(idle / MB, peak / MB, after / MB, counts["polite_sent"],
                        counts["polite_ok"], counts["bombs"], answers)


def worker_under_attack(root: Path, model: str, polite_frame: bytes, seconds: float,
                        attack: str = BOMB, attackers: int = 3, attack_fps: float = 10,
                        env: dict[str, str] | None = None) -> AttackResult:
    """A nats-server and `python -m inference_server` run from `root`; the attackers send
    the hostile image named `attack`."""
    server_bin = Path(os.environ.get("NATS_SERVER_BIN", REPO_ROOT / ".bin" / "nats-server"))
    if not server_bin.is_file():
        raise SystemExit(f"no nats-server at {server_bin} (make tools)")
    port = _free_port()
    url = f"nats://127.0.0.1:{port}"
    bomb = next(k for k in hostile_images.catalogue() if k.name == attack).make()
    with tempfile.TemporaryDirectory() as logs:
        conf = Path(logs) / "nats.conf"  # frames up to the worker's 8 MiB default
        conf.write_text(f"max_payload: {9 << 20}\n")
        server = subprocess.Popen([str(server_bin), "-a", "127.0.0.1", "-p", str(port),
                                   "-c", str(conf)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        log = open(Path(logs) / "worker.log", "wb")
        worker = subprocess.Popen(
            [sys.executable, "-m", "inference_server", "--nats-url", url, "--model", model,
             "--model-name", BENCH_MODEL,
             "--name", "bench-hostile", "--log-level", "warning"],
            cwd=root, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})})
        try:
            asyncio.run(wait_ping(url, 120))
            return asyncio.run(_attack(url, worker.pid, polite_frame, bomb, seconds,
                                       attackers=attackers, bomb_fps=attack_fps, polite_fps=5,
                                       settle_s=5))
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(60)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
            server.terminate()
            server.wait(10)
            log.close()


def print_attack_table(columns: list[tuple[str, AttackResult]], seconds: float) -> None:
    print(f"\nThe worker while 3 sessions send a hostile image at 10 frames/s each for "
          f"{seconds:g} s, beside a polite session at 5 frames/s (640x480 JPEG):\n")
    print("| worker, attack | RSS idle MB | RSS peak MB | RSS 5 s after MB | polite frames "
          "classified | answers to the attackers |")
    print("|---|---:|---:|---:|---:|---|")
    for name, r in columns:
        answers = ", ".join(f"{k} {v}" for k, v in sorted(r.bomb_answers.items()))
        print(f"| {name} | {r.idle_mb:.0f} | {r.peak_mb:.0f} | {r.after_mb:.0f} | "
              f"{r.polite_classified} of {r.polite_sent} | {answers} |")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.worker.hostile",
                                description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--baseline-root", type=Path, default=None,
                   help="a checkout whose inference_server/ is measured as 'before'")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per image")
    p.add_argument("--only", default=None, help="only the kinds whose name holds this")
    p.add_argument("--attack-seconds", type=float, default=15.0,
                   help="length of the attack on a real worker (0 = skip)")
    p.add_argument("--model", default=None, help="the worker's model (default: the "
                   "shared uint8 TFLite MobileNetV2)")
    args = p.parse_args(argv)
    # nats-py logs every refused connect while the worker starts (a traceback each).
    logging.getLogger("nats").setLevel(logging.CRITICAL)
    shared = Path(os.environ.get("SHARED_TESTDATA", REPO_ROOT.parent / "shared" / "testdata"))
    model = args.model or f"tflite:{shared / 'models' / 'mobilenet_v2_1.0_224_quant.tflite'}"

    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"Python {platform.python_version()}; load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}\n")
    columns = []
    if args.baseline_root is not None:
        columns.append(("before", decode_rows(load_decoder_module(args.baseline_root),
                                              args.repeats, args.only)))
    columns.append(("now", decode_rows(load_decoder_module(None), args.repeats, args.only)))
    print_decode_table(columns)

    if args.attack_seconds > 0:
        frame = webcam_jpeg(shared / "images" / "cat_720p.jpg", 80)
        roots = [("now", REPO_ROOT)]
        if args.baseline_root is not None:
            roots.insert(0, ("before", args.baseline_root.resolve()))
        results = [(f"{name}, {attack}", worker_under_attack(root, model, frame,
                                                             args.attack_seconds, attack))
                   for attack in ATTACKS for name, root in roots]
        print_attack_table(results, args.attack_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())

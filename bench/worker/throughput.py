"""Benchmark: model throughput and latency per backend, and the decode of a webcam frame.

    python -m bench.worker.throughput --model tflite:<model.tflite> [--model keras-random]

For each model: images/s and per-image latency at batch 1 and batched, through the
backend's `predict` (what the worker's batcher calls); Keras models at each of their
batch buckets (1, 2, 4, ... up to --batch), on the Keras backend KERAS_BACKEND names
(tensorflow, jax or torch), after the worker's warm-up. Then decode + center-crop +
resize of a 640x480 JPEG made in memory from the shared test photo cat_720p.jpg.
Prints a markdown table. Each figure is the best of a few repeats (other processes
on a shared 2-core machine add noise, never speed).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image

from inference_server.models import Backend, ModelLoadError, parse_model
from inference_server.models.buckets import bucket_sizes
from inference_server.models.runtimes.keras import KerasBackend
from inference_server.config import Config, load_config
from inference_server.models.load import load_model, options_for
from inference_server.wire.contract import (CONTENT_TYPE_JPEG, HEADER_CONTENT_TYPE, KIND_CLI,
                                       TYPE_RESULT, WORKERS_PING_SUBJECT, infer_subject)
from inference_server.imaging.decoder import Decoder

REPO_ROOT = Path(__file__).resolve().parents[2]


# The name the benchmark's worker serves its model under (--model-name).
BENCH_MODEL = "bench"


def shared_testdata() -> Path:
    return Path(os.environ.get("SHARED_TESTDATA", REPO_ROOT.parent / "shared" / "testdata"))


@dataclass(frozen=True)
class Row:
    what: str
    batch: int
    images_per_s: float
    ms_per_image: float
    ms_per_call: float


def best_seconds(fn: Callable[[], object], repeats: int, min_time_s: float) -> float:
    """Best mean seconds per call over `repeats` runs of at least `min_time_s` each."""
    fn()  # warm-up (first call allocates, packs weights)
    best = float("inf")
    for _ in range(repeats):
        n = 0
        start = time.perf_counter()
        while True:
            fn()
            n += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_time_s:
                break
        best = min(best, elapsed / n)
    return best


def bench_model(name: str, backend: Backend, images: np.ndarray, batches: Sequence[int],
                repeats: int, min_time_s: float) -> list[Row]:
    rows = []
    for n in batches:
        batch = np.ascontiguousarray(np.resize(images, (n, *images.shape[1:])))
        secs = best_seconds(lambda: backend.predict(batch), repeats, min_time_s)
        rows.append(Row(name, n, n / secs, secs * 1000 / n, secs * 1000))
    return rows


def paced_call_ms(backend: Backend, image: np.ndarray, pace_s: float,
                  duration_s: float) -> list[float]:
    """Batch-1 calls made at a webcam's pace: one call, then a sleep of (pace - that
    call), for `duration_s`; the ms of each call. A model idle between frames (caches
    cold, thread pool asleep) is slower than back to back: this is what one live
    session's frame meets, the yardstick for the system at that pace."""
    batch = np.ascontiguousarray(image[:1])
    backend.predict(batch)  # warm-up
    calls: list[float] = []
    end = time.perf_counter() + duration_s
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        backend.predict(batch)
        took = time.perf_counter() - t0
        calls.append(took * 1000)
        time.sleep(max(0.0, pace_s - took))
    return calls


def keras_label(spec: str, backend: KerasBackend) -> str:
    """e.g. "keras-random, jax on CPU, padded to buckets": the Keras backend, where it
    runs and whether batches are padded."""
    where = "GPU" if backend.on_accelerator else "CPU"
    padding = "padded to buckets" if backend.pads else "batches as they are"
    return f"{spec}, {backend.keras_backend} on {where}, {padding}"


def webcam_jpeg(photo: Path, quality: int) -> bytes:
    with Image.open(photo) as im:
        frame = im.convert("RGB").resize((640, 480), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    frame.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


async def _drive(url: str, frame: bytes, frames: int, concurrency: int,
                 on_start: Callable[[], None]) -> tuple[float, list[float], dict[int, int]]:
    """Send `frames` requests, `concurrency` at a time, after a short warm-up;
    returns (seconds, latencies ms, batch size histogram). `on_start` is called when
    the measured part starts."""
    import json

    import nats

    nc = await nats.connect(url)
    latencies: list[float] = []
    batches: dict[int, int] = {}
    sent = 0
    budget = 4 * concurrency  # warm-up: every batch size gets its interpreter

    async def one_client(cid: int) -> None:
        nonlocal sent
        while sent < budget:
            sent += 1
            t0 = time.perf_counter()
            msg = await nc.request(
                infer_subject(BENCH_MODEL, 1, KIND_CLI, f"bench-c{cid}"), frame,
                                   timeout=30, headers={HEADER_CONTENT_TYPE: CONTENT_TYPE_JPEG})
            latencies.append((time.perf_counter() - t0) * 1000)
            body = json.loads(msg.data)
            if body.get("type") != TYPE_RESULT:
                raise RuntimeError(f"worker answered {body}")
            n = int(body["timing"]["batch"])
            batches[n] = batches.get(n, 0) + 1

    await asyncio.gather(*[one_client(i) for i in range(concurrency)])
    sent, budget = 0, frames
    latencies.clear()
    batches.clear()
    on_start()
    start = time.perf_counter()
    await asyncio.gather(*[one_client(i) for i in range(concurrency)])
    elapsed = time.perf_counter() - start
    await nc.close()
    return elapsed, latencies, batches


class _OtlpSink:
    """An OTLP/HTTP endpoint that accepts every export and keeps nothing: where the
    worker's spans go when the benchmark measures tracing on."""

    def __init__(self) -> None:
        import http.server
        import threading

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def bench_worker_tracing(spec: str, frame: bytes, frames: int, concurrency: int,
                         batch_max: int, rounds: int = 2) -> list[str]:
    """The worker with tracing off and on (100 % sampling, OTLP/HTTP to a sink),
    alternating, by worker CPU per frame: the cost of tracing, robust to a busy machine
    in a way that throughput is not."""
    rows = ["| tracing | round | images/s | worker CPU ms per frame |", "|---|---:|---:|---:|"]
    cpu: dict[str, list[float]] = {"off": [], "on, 100 %": []}
    sink = _OtlpSink()
    try:
        for r in range(rounds):
            for mode, env in (("off", {}), ("on, 100 %", {
                    "OTEL_EXPORTER_OTLP_ENDPOINT": sink.url, "OTEL_TRACES_SAMPLER": "always_on"})):
                res = _run_worker(spec, frame, frames, concurrency, batch_max, env)
                worker_ms = res["cpu"]["worker"] * 1000 / frames
                cpu[mode].append(worker_ms)
                rows.append(f"| {mode} | {r + 1} | {frames / res['elapsed']:.1f} | "
                            f"{worker_ms:.2f} |")
    finally:
        sink.close()
    off, on = min(cpu["off"]), min(cpu["on, 100 %"])
    rows += ["", f"Tracing on costs the worker {on - off:+.2f} ms CPU per frame "
                 f"({(on - off) / off * 100:+.1f} %, best rounds)."]
    return rows


def bench_worker(spec: str, frame: bytes, frames: int, concurrency: int,
                 batch_max: int) -> list[str]:
    """The real worker process behind a real nats-server on a free loopback port."""
    res = _run_worker(spec, frame, frames, concurrency, batch_max, {})
    elapsed, lat, batches, cpu = res["elapsed"], res["lat"], res["batches"], res["cpu"]
    lat.sort()
    mean_batch = sum(k * v for k, v in batches.items()) / max(1, sum(batches.values()))
    per_frame = ", ".join(f"{k} {v * 1000 / frames:.1f}" for k, v in cpu.items())
    return [
        "| worker | frames | concurrent requests | images/s | p50 ms | p95 ms | mean batch |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| {model_label(spec)}, batch_max {batch_max} | {frames} | {concurrency} | "
        f"{frames / elapsed:.1f} | {lat[len(lat) // 2]:.1f} | {lat[int(len(lat) * 0.95)]:.1f} | "
        f"{mean_batch:.1f} |",
        "",
        f"CPU ms per frame (all on the same {os.cpu_count()} cores): {per_frame}; "
        f"wall {elapsed * 1000 / frames:.1f} ms per frame.",
    ]


def _run_worker(spec: str, frame: bytes, frames: int, concurrency: int, batch_max: int,
                env: dict[str, str]) -> dict:
    """One run: a nats-server, the worker (with `env` added), `frames` requests."""
    import signal
    import socket
    import subprocess
    import tempfile

    server_bin = Path(os.environ.get("NATS_SERVER_BIN", REPO_ROOT / ".bin" / "nats-server"))
    if not server_bin.is_file():
        raise SystemExit(f"worker benchmark: no nats-server at {server_bin} (make tools)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"nats://127.0.0.1:{port}"
    logs = tempfile.TemporaryDirectory()
    server = subprocess.Popen([str(server_bin), "-a", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker_log = open(Path(logs.name) / "worker.log", "wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "inference_server", "--nats-url", url, "--model", spec,
         "--model-name", BENCH_MODEL,
         "--name", "bench-worker", "--batch-max", str(batch_max), "--log-level", "warning",
         # Room for every client's frame: a full worker leaves the queue group and a
         # client straight on NATS (no hub to wait and retry) would get no responders.
         "--capacity", str(concurrency + 2 * batch_max),
         *labels_args(spec)],
        cwd=REPO_ROOT, stdout=worker_log, stderr=subprocess.STDOUT, env={**os.environ, **env})
    try:
        asyncio.run(wait_ping(url, 60))
        cpu0: dict[str, float] = {}

        def mark() -> None:
            cpu0.update({"worker": _cpu_s(worker.pid), "nats-server": _cpu_s(server.pid),
                         "client": time.process_time()})

        elapsed, lat, batches = asyncio.run(_drive(url, frame, frames, concurrency, mark))
        cpu = {"worker": _cpu_s(worker.pid) - cpu0["worker"],
               "nats-server": _cpu_s(server.pid) - cpu0["nats-server"],
               "client": time.process_time() - cpu0["client"]}
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
        server.terminate()
        server.wait(10)
        worker_log.close()
        logs.cleanup()
    return {"elapsed": elapsed, "lat": lat, "batches": batches, "cpu": cpu}


def labels_args(spec: str) -> list[str]:
    """keras-random has no class names of its own (Keras downloads them): the shared file."""
    if spec == "keras-random":
        return ["--labels", str(shared_testdata() / "imagenet_labels.txt")]
    return []


def _cpu_s(pid: int) -> float:
    """user + system CPU seconds of a process (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def wait_ping(url: str, deadline_s: float) -> None:
    """Return once a worker answers the micro ping ($SRV.PING.inference); RuntimeError after the deadline."""
    import nats

    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            nc = await nats.connect(url, connect_timeout=1, max_reconnect_attempts=0)
        except (OSError, nats.errors.Error, asyncio.TimeoutError):  # not listening yet
            await asyncio.sleep(0.1)
            continue
        try:
            await nc.request(WORKERS_PING_SUBJECT, b"", timeout=1)
            return
        except nats.errors.Error:
            await asyncio.sleep(0.1)
        finally:
            await nc.close()
    raise RuntimeError(f"the worker did not answer {WORKERS_PING_SUBJECT}")


def model_label(spec: str) -> str:
    if spec.startswith("tflite:"):
        return f"tflite {Path(spec[7:]).name}"
    return spec


# What the benchmark passes on to the worker's config from its environment: where the
# model cache is and how OpenVINO runs (not MODEL or RUNTIME: the flags name those).
WORKER_ENV = ("WORKER_MODEL_CACHE_DIR", "XDG_CACHE_HOME", "HOME", "WORKER_OPENVINO_PRECISION",
              "WORKER_CALIBRATION_DIR", "WORKER_GPU_MEMORY_FRACTION")


def load_as_worker(spec: str, runtime: str | None, labels: str | None, threads: int,
                   batch_max: int) -> Backend:
    """The model loaded and warmed up as the worker loads it (models/load.py, with the
    worker's default options: the model cache, the OpenVINO precision), on `runtime`
    (None: the model's first runner, pinned rather than timed)."""
    argv = ["--model", spec, "--num-threads", str(threads), "--batch-max", str(batch_max),
            *(["--labels", labels] if labels else [])]
    cfg = load_config(argv, {k: v for k, v in os.environ.items() if k in WORKER_ENV})
    backend, _ = load_model(spec, runtime or parse_model(spec).runners[0],
                            options_for(cfg), batch_max)
    return backend


def print_json(models: Sequence[str], runtimes: Sequence[str], threads: int, images: np.ndarray,
               decoder: Decoder, args: argparse.Namespace) -> int:
    """The bare model's figures the end-to-end benchmarks compare the system with: one
    JSON object a line for each model on each runtime that can run it (every runtime
    listed in --runtime, else the model's first runner). A runtime that fails to load
    gets a line with its error, not a missing row."""
    import json

    if args.frame is not None:
        images = decoder.decode(args.frame.read_bytes())[None]
    decode_ms = 0.0
    if args.frame is not None:
        data = args.frame.read_bytes()
        decode_ms = 1000 * best_seconds(lambda: decoder.decode(data), args.repeats,
                                        args.min_time / 2)
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    batches = sorted({1, args.batch, *args.search_batch})
    for spec in models:
        runners = parse_model(spec).runners
        # A runtime that cannot run this model (Keras and a .tflite file): no line.
        for runtime in [r for r in runtimes if r in runners] if runtimes else [None]:
            line: dict[str, object] = {"model": spec, "runtime": runtime or runners[0],
                                       "threads": threads, "machine": machine,
                                       "decode_page_ms": decode_ms}
            labels = str(shared_testdata() / "imagenet_labels.txt") if spec.startswith(
                "keras") else None
            try:
                backend = load_as_worker(spec, runtime, labels, threads, max(batches))
            except ModelLoadError as exc:
                print(json.dumps({**line, "error": str(exc)}), flush=True)
                continue
            try:
                rows = bench_model(model_label(spec), backend, images, batches,
                                   args.repeats, args.min_time)
                paced = sorted(paced_call_ms(backend, images, args.pace_ms / 1000,
                                             args.pace_time)) if args.pace_ms > 0 else []
            finally:
                backend.close()
            best = max(rows, key=lambda r: r.images_per_s)
            line.update({"batch1_ms": rows[0].ms_per_call,
                         "batch1_images_s": rows[0].images_per_s,
                         "batched_images_s": best.images_per_s, "batched_size": best.batch})
            if paced:
                line.update({"pace_ms": args.pace_ms, "paced_calls": len(paced),
                             "paced_calls_ms": [round(c, 3) for c in paced],
                             "paced_p50_ms": paced[len(paced) // 2],
                             "paced_p90_ms": paced[int(len(paced) * 0.9)]})
            print(json.dumps(line), flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.worker.throughput", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", action="append", default=[],
                   help="tflite:<path> | keras | keras:<weights> | keras-random (repeatable)")
    p.add_argument("--batch", type=int, default=8, help="the batched size (default 8)")
    p.add_argument("--search-batch", type=int, action="append", default=[],
                   help="--json: more batch sizes to time; the fastest is reported (repeatable)")
    p.add_argument("--runtime", action="append", default=[],
                   help="who runs each model: litert | openvino | keras | torch-cuda "
                        "(repeatable; --json: each one that can run the model; default: "
                        "the model's first runner)")
    p.add_argument("--threads", type=int, default=0, help="model threads (0 = as the worker)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--min-time", type=float, default=1.0, help="seconds per repeat")
    p.add_argument("--worker-frames", type=int, default=400,
                   help="frames sent through NATS to a real worker (0 = skip; needs "
                        "nats-server at $NATS_SERVER_BIN or .bin/nats-server)")
    p.add_argument("--worker-concurrency", type=int, default=16)
    p.add_argument("--jpeg-quality", type=int, action="append", default=[],
                   help="quality of the 640x480 test JPEG (repeatable; default 80 and 92)")
    p.add_argument("--json", action="store_true",
                   help="print each model's batch-1 and best batched figures on each "
                        "--runtime, and the decode of --frame, as one JSON object a line "
                        "(for the end-to-end benchmarks)")
    p.add_argument("--pace-ms", type=float, default=0,
                   help="--json: also time batch-1 calls on --frame made one every PACE_MS "
                        "(a sleep of pace minus the call between them), as a webcam session "
                        "sends; adds paced_p50_ms, paced_p90_ms and each call's ms, "
                        "paced_calls_ms (0 = off)")
    p.add_argument("--pace-time", type=float, default=8.0,
                   help="seconds of paced calls (--pace-ms; default 8)")
    p.add_argument("--frame", type=Path, help="an encoded frame to time the decode of (--json)")
    args = p.parse_args(argv)
    models = args.model or [
        f"tflite:{shared_testdata() / 'models' / 'mobilenet_v2_1.0_224_quant.tflite'}"]
    qualities = args.jpeg_quality or [80, 92]
    threads = Config(num_threads=args.threads).threads
    photos = shared_testdata() / "images"
    if not photos.is_dir():
        print(f"test photos not found in {photos}; set SHARED_TESTDATA", file=sys.stderr)
        return 2

    decoder = Decoder(size=224)
    names = ["cat.bmp", "parrot.jpg", "grace_hopper.bmp", "bird.bmp", "cat_720p.jpg",
             "sunflower.bmp", "dragonfly.bmp"]
    images = np.stack([decoder.decode((photos / n).read_bytes()) for n in names])

    if args.json:
        return print_json(models, args.runtime, threads, images, decoder, args)

    rows: list[Row] = []
    notes: list[str] = []
    for spec in models:
        t0 = time.perf_counter()
        backend = load_as_worker(spec, args.runtime[0] if args.runtime else None,
                                 None if not spec.startswith("keras") else str(
                                     shared_testdata() / "imagenet_labels.txt"),
                                 threads, args.batch)
        load_s = time.perf_counter() - t0
        print(f"loaded and warmed up {spec} in {load_s:.1f}s", file=sys.stderr)
        label, batches = model_label(spec), sorted({1, args.batch})
        if isinstance(backend, KerasBackend):
            label = keras_label(spec, backend)
            batches = list(bucket_sizes(args.batch))
            notes.append(f"{label}: loaded in {load_s:.1f} s, warm-up (every compile) "
                         f"{warm_s:.1f} s")
        rows += bench_model(label, backend, images, batches, args.repeats, args.min_time)
        backend.close()

    decode_rows = []
    for q in qualities:
        data = webcam_jpeg(photos / "cat_720p.jpg", q)
        secs = best_seconds(lambda: decoder.decode(data), args.repeats * 2, args.min_time / 2)
        decode_rows.append((q, len(data), secs * 1000))

    worker_lines: list[str] = []
    tracing_lines: list[str] = []
    # Through a worker: the first TFLite model, else the first model (Keras on a GPU).
    worker_model = next((m for m in models if m.startswith("tflite:")), models[0])
    if args.worker_frames > 0:
        frame = webcam_jpeg(photos / "cat_720p.jpg", qualities[0])
        worker_lines = bench_worker(worker_model, frame, args.worker_frames,
                                    args.worker_concurrency, args.batch)
        tracing_lines = bench_worker_tracing(worker_model, frame, args.worker_frames,
                                             args.worker_concurrency, args.batch)

    print(f"\nMachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"model threads {threads}; Python {platform.python_version()}\n")
    print("| model | batch | images/s | ms per image | ms per call |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r.what} | {r.batch} | {r.images_per_s:.1f} | {r.ms_per_image:.2f} | "
              f"{r.ms_per_call:.2f} |")
    if notes:
        print()
        print("\n".join(f"- {n}" for n in notes))
    print("\n| decode + center crop + resize to 224x224 | JPEG bytes | ms per frame |")
    print("|---|---:|---:|")
    for q, size, ms in decode_rows:
        print(f"| 640x480 JPEG, quality {q} (from cat_720p.jpg) | {size} | {ms:.2f} |")
    if worker_lines:
        print(f"\nEnd to end: `python -m inference_server` behind nats-server on loopback, "
              f"640x480 JPEG quality {qualities[0]} frames, nats-py requests:\n")
        print("\n".join(worker_lines))
        print("\nThe same, tracing off and on (docs/metrics.md), alternating:\n")
        print("\n".join(tracing_lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

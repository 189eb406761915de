"""`make bench-gpu` (bench/gpu/run.sh) on a lent GPU machine: one table.

  raw engine     torch-cuda (fp16, CUDA graph per bucket) by batch size 1..256: host
                 uint8 in -> probabilities out, and the graph alone (frames already on
                 the GPU)
  raw reference  Keras 3 on JAX (GPU), same network, batches 1, 64, 256
  decode         224x224 JPEG frames: CPU decode pool sized to the cores (Pillow, the
                 worker's decoder) against nvJPEG batched on the GPU
  system         hub + N torch-cuda workers, S WebSocket sessions (the e2e load
                 generator): results/s, latency, every answer by kind
  system (CPU)   the same box without the GPU: LiteRT workers, int8 .tflite

Everything comes from .gpu-carry (bench/gpu/build-carry.sh): nothing is downloaded.
Each part prints its lines as it goes ("ROW ..."), then the table is printed again
whole at the end, so a run cut short still shows what it measured.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

ROWS: list[tuple[str, str, str]] = []  # (part, setting, figures)


def row(part: str, setting: str, figures: str) -> None:
    ROWS.append((part, setting, figures))
    print(f"ROW | {part} | {setting} | {figures}", flush=True)


def timed(fn, min_s: float, min_calls: int = 3) -> tuple[float, int]:
    """Seconds per call of fn (after one untimed call), over >= min_s and min_calls."""
    fn()
    calls, start = 0, time.perf_counter()
    while calls < min_calls or time.perf_counter() - start < min_s:
        fn()
        calls += 1
    return (time.perf_counter() - start) / calls, calls


def page_frame(carry: Path) -> bytes:
    """The page's frame: the 720p photo's center square at 224x224, JPEG quality 80."""
    from PIL import Image

    img = Image.open(carry / "data" / "cat_720p.jpg").convert("RGB")
    side = min(img.size)
    left, top = (img.width - side) // 2, (img.height - side) // 2
    img = img.crop((left, top, left + side, top + side)).resize((224, 224), Image.BILINEAR)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=80)
    return out.getvalue()


# --- raw engine ---------------------------------------------------------------------


def bench_engine(carry: Path, seconds: float, batches: list[int]) -> None:
    import torch

    from inference_server.imaging.decoder import Decoder
    from inference_server.models.load import load_model
    from inference_server.models.selection import LoadOptions

    model = f"keras:{carry / 'data' / 'mobilenet_v2.npz'}"
    start = time.perf_counter()
    engine, _ = load_model(model, "torch-cuda",
                           LoadOptions(labels=str(carry / "data" / "imagenet_labels.txt")),
                           max(batches))
    row("engine", "load + warm-up (graphs for every bucket)",
        f"{time.perf_counter() - start:.1f} s, {torch.cuda.get_device_name()}, "
        f"torch {torch.__version__}")
    fidelity(engine, carry)
    rng = np.random.default_rng(0)
    for n in batches:
        batch = rng.integers(0, 256, (n, 224, 224, 3), dtype=np.uint8)
        per_call, _ = timed(lambda: engine.predict(batch), seconds)
        on_gpu = torch.from_numpy(batch).cuda()
        slot_s, _ = timed(lambda: engine.predict_device(on_gpu), seconds / 2)
        row("raw engine torch-cuda fp16 graphs", f"batch {n}",
            f"{n / per_call:,.0f} images/s host->host ({per_call * 1000:.2f} ms); "
            f"{n / slot_s:,.0f} images/s frames on the GPU")
    # Decode: the page's frame, CPU pool sized to the cores against nvJPEG batched.
    frame = page_frame(carry)
    frames = [frame] * 2048
    decoder = Decoder(size=224)
    cores = os.cpu_count() or 1
    with ThreadPoolExecutor(cores) as pool:
        per, _ = timed(lambda: list(pool.map(decoder.decode, frames)), seconds)
    row("decode 224x224 JPEG", f"CPU Pillow pool, {cores} threads", f"{len(frames) / per:,.0f} frames/s")
    for n in (64, 256):
        chunk = frames[:n]
        per, _ = timed(lambda: (engine.decode_jpegs(chunk), torch.cuda.synchronize()), seconds)
        both, _ = timed(lambda: engine.predict_device(engine.decode_jpegs(chunk)), seconds)
        row("decode 224x224 JPEG", f"nvJPEG on the GPU, batch {n}",
            f"{n / per:,.0f} frames/s decode; {n / both:,.0f} frames/s decode + model")
    engine.close()


def fidelity(engine, carry: Path) -> None:
    """fp16 engine against the fp32 numpy reference of the same folded weights."""
    from inference_server.models.mobilenet_v2.layout import load_npz
    from inference_server.imaging.decoder import Decoder
    from inference_server.testkit.mobilenet_v2_numpy import forward

    weights = load_npz(carry / "data" / "mobilenet_v2.npz")
    photo = Decoder(size=224).decode((carry / "data" / "cat_720p.jpg").read_bytes())
    images = np.stack([photo, photo[:, ::-1], photo[::-1], np.roll(photo, 50, axis=1)])
    ours, ref = engine.predict(images), forward(weights.tensors, images)
    same = int((ours.argmax(1) == ref.argmax(1)).sum())
    row("engine fidelity", "fp16 vs fp32 reference, 4 images",
        f"top-1 equal {same}/4, max |p - p_ref| {np.abs(ours - ref).max():.2e}")


def bench_keras_jax(carry: Path, seconds: float) -> None:
    """In its own process (JAX and torch each take GPU memory)."""
    env = {**os.environ, "KERAS_BACKEND": "jax", "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    proc = subprocess.run([sys.executable, __file__, "--part", "keras-jax", "--carry",
                           str(carry), "--seconds", str(seconds)], env=env, text=True,
                          capture_output=True, timeout=300)
    for line in proc.stdout.splitlines():
        if line.startswith("ROW | "):
            part, setting, figures = line[6:].split(" | ", 2)
            row(part, setting, figures)
    if proc.returncode != 0:
        row("raw Keras-JAX", "failed", " ".join(proc.stderr.split())[-400:])


def keras_jax_part(carry: Path, seconds: float) -> None:
    from inference_server.models.runtimes.keras import KerasBackend

    keras = KerasBackend(None, str(carry / "data" / "imagenet_labels.txt"), num_threads=4)
    rng = np.random.default_rng(0)
    for n in (1, 64, 256):
        batch = rng.integers(0, 256, (n, 224, 224, 3), dtype=np.uint8)
        start = time.perf_counter()
        keras.predict(batch)  # compiles this shape
        compile_s = time.perf_counter() - start
        per, _ = timed(lambda: keras.predict(batch), seconds)
        row("raw Keras-JAX (reference)", f"batch {n}",
            f"{n / per:,.0f} images/s ({per * 1000:.2f} ms; first call {compile_s:.1f} s)")


# --- the system ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class System:
    """The hub (embedded NATS) and workers, as `make run` starts them."""

    def __init__(self, bins: Path, work: Path) -> None:
        self.work = work
        self.http = free_port()
        self.nats = free_port()
        self.store = work / "nats"
        self.procs: list[subprocess.Popen[bytes]] = []
        env = {**os.environ, "HUB_LISTEN": f"127.0.0.1:{self.http}",
               "NATS_EMBED_ADDR": f"127.0.0.1:{self.nats}", "NATS_STORE_DIR": str(self.store),
               "NATS_URL": "", "LOG_LEVEL": "warn", "HUB_STATIC_DIR": str(work / "no-page"),
               # The load generator opens every session from 127.0.0.1, and each sends
               # a frame on every answer (past the per-session cap on a GPU).
               "HUB_MAX_CONNS_PER_CLIENT": "100000", "HUB_CONNECT_RATE_PER_CLIENT": "100000",
               "HUB_SESSION_FPS": "100000",
               "HUB_MAX_SESSIONS": "100000"}
        self._start("hub", [str(bins / "hub")], env)
        self.base = f"http://127.0.0.1:{self.http}"
        self._wait("/healthz", 30)

    def _start(self, name: str, cmd: list[str], env: dict[str, str]) -> None:
        log = open(self.work / f"{name}.log", "wb")
        self.procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                           cwd=REPO, start_new_session=True))

    def _wait(self, path: str, timeout: float) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(self.base + path, timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if any(p.poll() is not None for p in self.procs):
                raise RuntimeError(f"a process exited; logs in {self.work}")
            time.sleep(0.2)
        raise RuntimeError(f"{path} did not answer 200 in {timeout} s; logs in {self.work}")

    def start_workers(self, count: int, env_extra: dict[str, str], tag: str) -> None:
        for i in range(count):
            env = {**os.environ, **env_extra, "NATS_NKEY": str(self.store / "worker.nk"),
                   "NATS_URL": f"nats://127.0.0.1:{self.nats}", "LOG_LEVEL": "warning",
                   "WORKER_NAME": f"{tag}-{i + 1}"}
            self._start(f"{tag}-{i + 1}", [sys.executable, "-m", "inference_server"], env)
        self._wait("/readyz?workers=1", 240)
        time.sleep(5)  # the others finish their warm-up (readyz needs one)

    def stop_workers(self) -> None:
        for p in self.procs[1:]:
            p.send_signal(signal.SIGTERM)
        for p in self.procs[1:]:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        del self.procs[1:]

    def close(self) -> None:
        self.stop_workers()
        self.procs[0].send_signal(signal.SIGTERM)
        self.procs[0].wait(30)


def load(system: System, bins: Path, frame_path: Path, sessions: int, in_flight: int,
         measure_s: int) -> dict:
    env = {**os.environ, "LOAD_HUB_URL": system.base, "LOAD_FRAME": str(frame_path),
           "LOAD_SESSIONS": str(sessions), "LOAD_IN_FLIGHT": str(in_flight),
           "LOAD_WARMUP": "5s", "LOAD_MEASURE": f"{measure_s}s"}
    proc = subprocess.run([str(bins / "loadgen.test"), "-test.run", "^$", "-test.bench",
                           "BenchmarkExternalHubLoad", "-test.benchtime", "1x"],
                          env=env, capture_output=True, text=True, timeout=measure_s + 180)
    for line in proc.stdout.splitlines():
        if line.startswith("LOAD "):
            return json.loads(line[5:])
    raise RuntimeError(f"load generator: {proc.stdout[-800:]} {proc.stderr[-800:]}")


def load_row(part: str, setting: str, r: dict) -> None:
    answers = ", ".join(f"{k} {v}" for k, v in sorted(r["answers"].items()))
    row(part, setting, f"{r['results_per_s']:,.0f} results/s; p50 {r['p50_ms']:.0f} ms, "
        f"p99 {r['p99_ms']:.0f} ms (any answer p99 {r['answered_p99_ms']:.0f} ms); "
        f"sent {r['sent']}: {answers}; unanswered {r['unanswered']}; "
        f"timeouts {r['timeouts']}; {r['workers']} workers answered")


def bench_system(carry: Path, bins: Path, work: Path, args: argparse.Namespace) -> None:
    frame_path = work / "frame.jpg"
    frame_path.write_bytes(page_frame(carry))
    labels = str(carry / "data" / "imagenet_labels.txt")
    system = System(bins, work)
    try:
        gpu_env = {"WORKER_RUNTIME": "torch-cuda", "WORKER_MODEL": f"keras:{carry / 'data' / 'mobilenet_v2.npz'}",
                   "WORKER_LABELS": labels, "WORKER_BATCH_MAX": "256", "WORKER_CAPACITY": "1024",
                   "WORKER_SESSION_FRAMES": "4", "WORKER_MODEL_CACHE_DIR": str(work / "cache")}
        system.start_workers(args.gpu_workers, gpu_env, "gpu-worker")
        for sessions in args.sessions:
            load_row("system torch-cuda", f"{args.gpu_workers} workers, {sessions} sessions x 1",
                     load(system, bins, frame_path, sessions, 1, args.measure))
        system.stop_workers()
        tflite = carry / "data" / "tf2_mobilenet_v2_1.0_224_ptq.tflite"
        try:
            import ai_edge_litert  # noqa: F401
        except ImportError:
            row("system CPU-only", "skipped", "LiteRT was not carried (CARRY_CPU=0)")
            return
        cpu_env = {"WORKER_MODEL": f"tflite:{tflite}", "WORKER_LABELS": labels, "WORKER_NUM_THREADS": "2",
                   "WORKER_BATCH_MAX": "8", "CUDA_VISIBLE_DEVICES": ""}
        system.start_workers(args.cpu_workers, cpu_env, "cpu-worker")
        load_row("system CPU-only (LiteRT int8)",
                 f"{args.cpu_workers} workers x 2 threads, {args.cpu_sessions} sessions x 1",
                 load(system, bins, frame_path, args.cpu_sessions, 1, args.measure))
    finally:
        system.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--carry", type=Path, default=REPO / ".gpu-carry")
    p.add_argument("--bin", type=Path, default=Path("/tmp/gpu-bench/bin"))
    p.add_argument("--work", type=Path, default=Path("/tmp/gpu-bench/work"))
    p.add_argument("--part", choices=("all", "engine", "keras-jax", "system"), default="all")
    p.add_argument("--seconds", type=float, default=1.0, help="timing per raw figure")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64, 128, 256])
    p.add_argument("--gpu-workers", type=int, default=int(os.environ.get("GPU_WORKERS", "8")))
    p.add_argument("--sessions", type=int, nargs="+", default=[2000])
    p.add_argument("--cpu-workers", type=int, default=7)
    p.add_argument("--cpu-sessions", type=int, default=400)
    p.add_argument("--measure", type=int, default=20, help="seconds of each load")
    args = p.parse_args()
    if args.part == "keras-jax":
        keras_jax_part(args.carry, args.seconds)
        return 0
    args.work.mkdir(parents=True, exist_ok=True)
    parts = {"engine": lambda: bench_engine(args.carry, args.seconds, args.batches),
             "keras-jax": lambda: bench_keras_jax(args.carry, args.seconds),
             "system": lambda: bench_system(args.carry, args.bin, args.work, args)}
    failed = False
    for name, run in parts.items():
        if args.part not in ("all", name):
            continue
        start = time.perf_counter()
        try:
            run()
        except Exception as exc:  # one part failing still prints the others
            failed = True
            row(name, "FAILED", f"{type(exc).__name__}: {' '.join(str(exc).split())[:500]}")
        print(f"-- {name}: {time.perf_counter() - start:.0f} s", flush=True)
    print("\n| part | setting | figures |\n|---|---|---|")
    for part, setting, figures in ROWS:
        print(f"| {part} | {setting} | {figures} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: the worker's CPU per frame outside the model, stage by stage.

    python -m bench.worker.per_frame [--baseline-root DIR] [--repeats N] [--rounds N]

For a 224x224 JPEG (what the page sends) and a 640x480 JPEG (a webcam frame), both
made in memory from the shared photo grace_hopper.bmp at quality 80, CPU microseconds
per frame of:

- each stage run alone in this thread: the header probe and budget, the whole decode
  (probe, DCT-scaled JPEG decode, centre crop, bilinear resize, RGB array), the Pillow
  steps inside it (for reference: what the DCT scaling saves), putting 8 frames into
  a batch, choosing the top 5 and encoding the reply JSON, parsing a frame's headers;
- the worker's own path (Worker.take on a stand-in NATS client, the real decode
  pool and batcher, a stand-in model that costs nothing, served as one model-version
  without a micro endpoint: Worker.add_model_without_endpoint): all threads' CPU per
  frame,
  once with a decoder that returns a ready array (what the event loop, the thread hops,
  batching, metrics and the reply cost) and once with the real decoder; at 1 frame in
  flight (batches of 1) and at 16 sessions x 1 in flight (batches form);
- publishing the answer with nats-py to a real nats-server (to the results subject and
  to the reply inbox, as the worker does), when one is found ($NATS_SERVER_BIN or
  .bin/nats-server).

--frames-per-message 1,4,8 measures instead the worker's CPU per frame outside the
model when its frames come over a real nats-server in messages of that many frames
(issue 25: one message, one reply per batch; 1 = single-frame requests as today): the
worker (this tree's Worker, its real nats-py client, the stand-in model, with and
without the real decode) in this process, a driver in another process sending
16 sessions' frames, 16 in flight, grouped by that many per message. The process's
CPU (all its threads: nats-py, the event loop, decode, batcher, replies) per frame;
runs of the sizes alternate, --repeats of each, median.

--baseline-root DIR measures another checkout's inference_server/ the same way, in
alternating rounds (e.g. `git archive main inference_server | tar -x -C DIR`), and
prints before/after columns (this file measures both trees). A tree from before
issue 22 (one model per worker, frames.* subjects: Worker(cfg, nc, backend, batcher,
decoding)) is driven the way it was built; a tree whose Worker has no public `take`
(before c29a600), or serves model-versions without add_model_without_endpoint, cannot
be driven through its public surface and is refused. Each figure is the median over
--repeats runs (and over --rounds rounds): the machine this runs on is shared, so
single runs are noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import inspect
import io
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, AsyncIterator, Callable

REPO_ROOT = Path(__file__).resolve().parents[2]
PHOTO = "grace_hopper.bmp"
QUALITY = 80
BATCH = 8
SESSIONS = 16
TOP_K = 5
SIZES = ("224x224", "640x480")
# The one model-version the worker path serves (a tree from issue 22 on).
MODEL_NAME = "bench"
MODEL_VERSION = 1

# (key, label) in the order printed; keys absent from a tree's run print as "-".
STAGES = (
    ("probe", "probe + budget (header only)"),
    ("decode", "**decode: bytes -> 224x224x3 array** (all of the below)"),
    ("pil_draft", "  Pillow: open + JPEG decode, DCT-scaled (draft)"),
    ("pil_full", "  Pillow: open + JPEG decode at full size (no draft)"),
    ("pil_resize", "  Pillow: centre crop + bilinear resize to 224"),
    ("pil_array", "  Pillow: to an RGB numpy array"),
    ("batch", f"batch assembly (per frame of {BATCH})"),
    ("reply", f"top-{TOP_K} + reply JSON"),
    ("meta", "frame headers parsed (FrameMeta)"),
    ("loop_1", "**worker path without decode, 1 in flight** (loop, hops, batcher, reply, "
               "metrics; all threads)"),
    ("loop_16", f"**worker path without decode, {SESSIONS} sessions x 1 in flight**"),
    ("all_1", "**worker path with decode, 1 in flight** (all outside the model)"),
    ("all_16", f"**worker path with decode, {SESSIONS} sessions x 1 in flight**"),
    ("publish", "NATS publish of the answer (results subject + reply inbox)"),
)


def shared_testdata() -> Path:
    return Path(os.environ.get("SHARED_TESTDATA", REPO_ROOT.parent / "shared" / "testdata"))


def frames() -> dict[str, bytes]:
    from PIL import Image

    out = {}
    with Image.open(shared_testdata() / "images" / PHOTO) as im:
        rgb = im.convert("RGB")
    for name in SIZES:
        w, h = (int(v) for v in name.split("x"))
        buf = io.BytesIO()
        rgb.resize((w, h), Image.Resampling.BILINEAR).save(buf, "JPEG", quality=QUALITY)
        out[name] = buf.getvalue()
    return out


def cpu_us(fn: Callable[[], object], repeats: int, min_s: float = 0.15,
           clock: Callable[[], float] = time.thread_time) -> float:
    """Median over `repeats` runs of the CPU microseconds of one call (each run calls
    `fn` for at least `min_s` of CPU)."""
    fn()
    runs = []
    for _ in range(repeats):
        n = 0
        start = clock()
        while True:
            fn()
            n += 1
            used = clock() - start
            if used >= min_s:
                break
        runs.append(used / n * 1e6)
    return statistics.median(runs)


# --- stages alone ---------------------------------------------------------------------

def stage_figures(data: bytes, repeats: int) -> dict[str, float]:
    import numpy as np
    from PIL import Image

    from inference_server.imaging.decoder import Decoder

    from inference_server.serving.batcher import BatchBuffers
    from inference_server.wire.frame_meta import FrameMeta

    decoder = Decoder(size=224)
    image = decoder.decode(data)
    out = {"probe": cpu_us(lambda: decoder.inspect(data), repeats),
           "decode": cpu_us(lambda: decoder.decode(data), repeats)}

    def pil_open(draft: bool) -> Image.Image:
        im = Image.open(io.BytesIO(data), formats=["JPEG"])
        if draft:
            im.draft("RGB", (224, 224))
        im.load()
        return im

    out["pil_draft"] = cpu_us(lambda: pil_open(True), repeats)
    out["pil_full"] = cpu_us(lambda: pil_open(False), repeats)
    drafted = pil_open(True)
    w, h = drafted.size
    side = min(w, h)
    box = ((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side)
    out["pil_resize"] = (0.0 if (w, h) == (224, 224) else cpu_us(
        lambda: drafted.resize((224, 224), Image.Resampling.BILINEAR, box=box), repeats))
    small = drafted.resize((224, 224), Image.Resampling.BILINEAR, box=box)
    out["pil_array"] = cpu_us(lambda: np.asarray(small, dtype=np.uint8), repeats)

    images = [image.copy() for _ in range(BATCH)]
    buffers = BatchBuffers()  # preallocated, as the model thread fills them

    def assemble() -> None:
        with buffers.batch(images):
            pass
    out["batch"] = cpu_us(assemble, repeats) / BATCH

    rng = np.random.default_rng(0)
    probs = rng.random(1000).astype(np.float32)
    probs /= probs.sum()
    labels = [f"class {i} name" for i in range(1000)]
    subject = frame_subject("bench")
    meta = FrameMeta.parse(subject, hub_headers(7), "_INBOX.bench")
    out["meta"] = cpu_us(lambda: FrameMeta.parse(subject, hub_headers(7), "_INBOX.bench"),
                         repeats)
    replies = new_replies(labels)
    decode_ms = (1.234, 1.117) if reports_decode_cpu(replies) else (1.234,)
    out["reply"] = cpu_us(lambda: replies.result(meta, probs, TOP_K, *decode_ms, 3.456, 4),
                          repeats)
    return out


# --- what differs between trees -----------------------------------------------------

def serves_model_versions() -> bool:
    """The tree's worker serves model-versions (issue 22 on: models/served.py); False
    for a --baseline-root tree from before, with one model per worker."""
    try:
        importlib.import_module("inference_server.models.served")
    except ModuleNotFoundError:
        return False
    return True


def reports_decode_cpu(replies: Any) -> bool:
    """The tree's results carry the decode's CPU time beside its wall time
    (decode_cpu_ms); False for a --baseline-root tree from before."""
    return "decode_cpu_ms" in inspect.signature(replies.result).parameters


def check_tree() -> None:
    """Refuse a tree this benchmark cannot drive through its public surface, rather
    than measure something else."""
    import inference_server

    root = Path(inference_server.__file__).parent.parent
    try:
        from inference_server.serving.worker import Worker
    except ModuleNotFoundError:
        raise SystemExit(f"{root}: no inference_server/serving/worker.py (a tree from "
                         "before the worker's packages): not measurable") from None
    if not hasattr(Worker, "take"):
        raise SystemExit(f"{root}: its Worker has no public take() (a tree from before "
                         "c29a600): the benchmark drives the worker only through its "
                         "public surface")
    if serves_model_versions() and not hasattr(Worker, "add_model_without_endpoint"):
        raise SystemExit(f"{root}: its Worker serves model-versions but has no "
                         "add_model_without_endpoint(): it cannot serve a model without "
                         "a micro endpoint, and the stand-in client has none")


def frame_subject(ident: str) -> str:
    """The subject a live frame of session `ident` arrives on at the worker."""
    from inference_server.wire import contract

    if serves_model_versions():
        return contract.infer_subject(MODEL_NAME, MODEL_VERSION, contract.KIND_LIVE, ident)
    return contract.frame_subject(contract.KIND_LIVE, ident)


def new_replies(labels: list[str]) -> Any:
    from inference_server.wire.replies import Replies

    if serves_model_versions():
        return Replies(labels, "bench", MODEL_NAME, MODEL_VERSION)
    return Replies(labels, "bench")


def hub_headers(seq: int) -> dict[str, str]:
    from inference_server.wire import contract

    return {contract.HEADER_CONTENT_TYPE: contract.CONTENT_TYPE_JPEG,
            contract.HEADER_FRAME_SEQ: str(seq), contract.HEADER_SESSION_ID: "bench",
            contract.HEADER_FRAME_DEADLINE: str(int((time.time() + 3600) * 1000))}


# --- the worker's path ------------------------------------------------------------------

class _NullClient:
    """Stands in for nats-py's client: publishing costs nothing, answers are counted,
    and an answer awaited (answer_to) is told when it is sent."""

    is_closed = False

    def __init__(self) -> None:
        self.published = 0
        self._awaited: dict[str, asyncio.Future[None]] = {}

    def answer_to(self, inbox: str) -> asyncio.Future[None]:
        """Done when the worker answers on `inbox` (after the results subject)."""
        future = asyncio.get_running_loop().create_future()
        self._awaited[inbox] = future
        return future

    async def publish(self, subject: str, payload: bytes = b"", reply: str = "",
                      headers: dict[str, str] | None = None) -> None:
        self.published += 1
        future = self._awaited.pop(subject, None)
        if future is not None:
            future.set_result(None)


class _Msg:
    def __init__(self, subject: str, data: bytes, headers: dict[str, str],
                 reply: str) -> None:
        self.subject, self.data, self.headers, self.reply = subject, data, headers, reply


class _Model:
    """A stand-in model that costs nothing: the same 1000 probabilities for each image."""

    kind = "bench"
    input_size = 224

    def __init__(self) -> None:
        import numpy as np

        self.labels = [f"class {i} name" for i in range(1000)]
        self.row = np.full(1000, 1e-3, np.float32)
        self.row[[3, 14, 15, 92, 65]] = (0.4, 0.3, 0.1, 0.05, 0.01)
        if serves_model_versions():  # its endpoint's metadata is made from it
            from inference_server.models.classifier import ModelInfo
            from inference_server.wire import contract

            self.info = ModelInfo(
                labels=self.labels, labels_source=contract.LABELS_FROM_FILE,
                labels_sha256="", classes=len(self.labels), input=(224, 224, 3),
                input_dtype="uint8", layout="NHWC", platform=contract.PLATFORM_TFLITE)

    def warm_up(self, batch_max: int) -> None:
        pass

    def predict(self, batch: Any) -> Any:
        import numpy as np

        return np.broadcast_to(self.row, (len(batch), 1000))

    def close(self) -> None:
        pass


@contextlib.asynccontextmanager
async def _worker(cfg: Any, nc: _NullClient, decoding: Any) -> AsyncIterator[Any]:
    """The tree's worker, not entered (no micro service), serving _Model."""
    from inference_server.serving.worker import Worker

    model = _Model()
    if serves_model_versions():
        from inference_server.models.repository import ModelVersion
        from inference_server.models.selection import RuntimeChoice
        from inference_server.models.served import LoadedModel

        loaded = LoadedModel(ModelVersion(MODEL_NAME, MODEL_VERSION, model.kind), model,
                             RuntimeChoice(model.kind, "pinned"))
        worker = Worker(cfg, nc, decoding)  # type: ignore[arg-type]
        worker.add_model_without_endpoint(loaded)
        try:
            yield worker
        finally:
            await worker.remove_model(loaded.ref)  # its frames answered, its batcher stopped
        return
    # Before issue 22: the worker was given its model and batcher.
    from inference_server.serving.batcher import Batcher

    async with Batcher(model.predict, BATCH, 0) as batcher:
        yield Worker(cfg, nc, model, batcher, decoding)  # type: ignore[arg-type]


def _bench_config() -> Any:
    """The worker's configuration: no rationing, no bound on what it holds, batches of
    BATCH formed without waiting."""
    from inference_server.config import Config

    return Config(model=MODEL_NAME, name="bench", session_decode_ms=0,
                  session_frames=1 << 20, capacity=1 << 20, batch_max=BATCH, top_k=TOP_K,
                  batch_wait_ms=0)


def _decode_service(data: bytes, real_decode: bool) -> Any:
    """The worker's decode threads (2): the real decoder, or one that decodes nothing
    (every frame is `data` decoded once, whatever decoder the worker names: a
    model-version's own, from issue 22 on)."""
    from inference_server.imaging.decoder import Decoder
    from inference_server.imaging.pool import DecodeService

    if real_decode:
        return DecodeService(Decoder(), 2)

    class ReadyImages(DecodeService):
        """The worker calls submit() (decode threads that hand the image on, issue 25)
        or, in a tree from before, decode()."""

        def submit(self, session: str, data: bytes, deadline: float | None,
                   decoder: Decoder | None, then: Any, fail: Any, given_up: Any = None) -> None:
            super().submit(session, data, deadline, None, then, fail,  # type: ignore[misc]
                           given_up)

        async def decode(self, session: str, data: bytes, deadline: float | None = None,
                         decoder: Decoder | None = None) -> Any:
            return await super().decode(session, data, deadline)  # type: ignore[misc]

    class ReadyDecoder(Decoder):
        def decode(self, data: bytes) -> Any:
            return ready

    ready = Decoder().decode(data)
    return ReadyImages(ReadyDecoder(), 2)


async def _worker_run(data: bytes, n_frames: int, sessions: int, real_decode: bool) -> float:
    """All threads' CPU microseconds per frame of the worker's path for `n_frames`."""
    cfg = _bench_config()
    nc = _NullClient()
    decoding = _decode_service(data, real_decode)
    async with decoding, _worker(cfg, nc, decoding) as worker:

        async def session(s: int, count: int) -> None:
            subject = frame_subject(f"bench{s}")
            for i in range(count):
                inbox = f"_INBOX.b{s}.{i}"
                answered = nc.answer_to(inbox)
                await worker.take(_Msg(subject, data, hub_headers(i), inbox))
                await answered  # one frame in flight per session

        await asyncio.gather(*(session(s, 4) for s in range(sessions)))  # warm-up
        before = nc.published
        start = time.process_time()
        await asyncio.gather(*(session(s, n_frames // sessions) for s in range(sessions)))
        used = time.process_time() - start
        if nc.published - before != 2 * (n_frames // sessions) * sessions:
            raise SystemExit("worker path: not every frame was answered")
    return used / ((n_frames // sessions) * sessions) * 1e6


def worker_figures(data: bytes, repeats: int, n_frames: int) -> dict[str, float]:
    out = {}
    for real_decode, prefix in ((False, "loop"), (True, "all")):
        for sessions in (1, SESSIONS):
            runs = [asyncio.run(_worker_run(data, n_frames, sessions, real_decode))
                    for _ in range(repeats)]
            out[f"{prefix}_{sessions}"] = statistics.median(runs)
    return out


# --- NATS publish ------------------------------------------------------------------------

def _nats_server_bin() -> Path:
    return Path(os.environ.get("NATS_SERVER_BIN", REPO_ROOT / ".bin" / "nats-server"))


def _start_nats() -> tuple[subprocess.Popen, str]:
    """A nats-server on a free port, and its URL."""
    server_bin = _nats_server_bin()
    if not server_bin.is_file():
        raise SystemExit(f"no nats-server at {server_bin} (set NATS_SERVER_BIN)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([str(server_bin), "-a", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return server, f"nats://127.0.0.1:{port}"


async def _connect(url: str) -> Any:
    """A nats-py client of the server just started (retried while it starts)."""
    import nats

    deadline = time.monotonic() + 10
    while True:
        try:
            return await nats.connect(url, allow_reconnect=False)
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


def publish_figure(repeats: int) -> float | None:
    if not _nats_server_bin().is_file():
        return None
    server, url = _start_nats()
    try:
        return asyncio.run(_publish(url, repeats))
    finally:
        server.terminate()
        server.wait(10)


async def _publish(url: str, repeats: int) -> float:
    from inference_server.wire import contract

    result: dict[str, Any] = {"type": "result", "seq": 1, "session": "bench"}
    if serves_model_versions():  # results name their model-version (issue 22)
        result.update(model=MODEL_NAME, version=MODEL_VERSION,
                      task=contract.TASK_CLASSIFICATION)
    body = json.dumps({**result, "predictions": [
        {"label": f"class {i}", "index": i, "confidence": 0.1234} for i in range(TOP_K)],
        "timing": {"decode_ms": 1.23, "decode_cpu_ms": 1.12, "infer_ms": 3.45, "batch": 4},
        "worker": "bench"}
    ).encode()
    headers = {contract.HEADER_CONTENT_TYPE: contract.CONTENT_TYPE_JSON}
    results = contract.results_subject(contract.KIND_LIVE, "bench")
    nc = await _connect(url)
    runs = []
    try:
        for _ in range(repeats + 1):
            n = 2000
            start = time.process_time()
            for i in range(n):
                await nc.publish(results, body, headers=headers)
                await nc.publish(f"_INBOX.bench.{i}", body, headers=headers)
                if i % 64 == 63:
                    await nc.flush()
            await nc.flush()
            runs.append((time.process_time() - start) / n * 1e6)
    finally:
        await nc.close()
    return statistics.median(runs[1:])


# --- frames per message, over a real nats-server ---------------------------------------

async def _messages_run(url: str, image: Path, per_message: int, n_frames: int,
                        real_decode: bool) -> float:
    """This process's CPU microseconds per frame while it serves, as the worker, what
    the driver process sends."""
    cfg = _bench_config()
    nc = await _connect(url)
    decoding = _decode_service(image.read_bytes(), real_decode)
    try:
        async with decoding, _worker(cfg, nc, decoding) as worker:
            from inference_server.wire import contract

            await nc.subscribe(contract.endpoint_subject(MODEL_NAME, MODEL_VERSION),
                               cb=worker.take)
            await nc.flush()
            driver = await asyncio.create_subprocess_exec(
                sys.executable, str(Path(__file__).resolve()), "--drive", url,
                "--image", str(image), "--per-message", str(per_message),
                "--frames", str(n_frames), stdout=asyncio.subprocess.PIPE,
                env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)))
            assert driver.stdout is not None
            if (await driver.stdout.readline()).strip() != b"go":
                raise SystemExit("the driver failed before its timed run")
            start = time.process_time()
            done = (await driver.stdout.readline()).strip()
            used = time.process_time() - start
            if await driver.wait() != 0 or not done.startswith(b"done"):
                raise SystemExit("the driver failed")
            frames = int(done.split()[1])
    finally:
        await nc.close()
    return used / frames * 1e6


async def _drive(url: str, image: Path, per_message: int, n_frames: int) -> int:
    """SESSIONS sessions, one frame each in flight, `per_message` of them to a message
    (one request, one reply); prints go (warmed up) and done <frames>."""
    from inference_server.wire import contract, frame_batch

    data = image.read_bytes()
    nc = await _connect(url)
    senders = SESSIONS // per_message

    async def sender(g: int, rounds: int) -> None:
        sessions = [f"bench{g * per_message + i}" for i in range(per_message)]
        for seq in range(rounds):
            if per_message == 1:
                await nc.request(frame_subject(sessions[0]), data, timeout=60,
                                 headers=hub_headers(seq))
                continue
            deadline = int((time.time() + 3600) * 1000)
            entries = [{contract.BATCH_SESSION: s, contract.BATCH_SEQ: seq,
                        contract.BATCH_KIND: contract.KIND_LIVE,
                        contract.BATCH_CONTENT_TYPE: contract.CONTENT_TYPE_JPEG,
                        contract.BATCH_TOP_K: 0, contract.BATCH_DEADLINE_MS: deadline,
                        contract.BATCH_TRACEPARENT: "", contract.BATCH_IMAGE: data}
                       for s in sessions]
            reply = await nc.request(
                contract.infer_subject(MODEL_NAME, MODEL_VERSION, contract.KIND_BATCH, "hub"),
                frame_batch.request_body(entries), timeout=60,
                headers=frame_batch.request_headers(per_message, deadline))
            if len(frame_batch.unpack_reply(reply.data)) != per_message:
                raise SystemExit("a batch reply without every frame")

    try:
        await asyncio.gather(*(sender(g, 4) for g in range(senders)))  # warm-up
        print("go", flush=True)
        rounds = max(1, n_frames // SESSIONS)
        await asyncio.gather(*(sender(g, rounds) for g in range(senders)))
        print(f"done {rounds * senders * per_message}", flush=True)
    finally:
        await nc.close()
    return 0


def messages_table(sizes: list[int], repeats: int, n_frames: int) -> str:
    """Per-frame CPU of the worker for each frames-per-message size (runs alternate)."""
    import tempfile

    server, url = _start_nats()
    figures: dict[tuple[bool, int], list[float]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            image = Path(tmp) / "frame.jpg"
            image.write_bytes(frames()["224x224"])
            for _ in range(repeats):
                for real_decode in (False, True):
                    for size in sizes:
                        figures.setdefault((real_decode, size), []).append(asyncio.run(
                            _messages_run(url, image, size, n_frames, real_decode)))
    finally:
        server.terminate()
        server.wait(10)
    lines = ["| worker CPU µs per frame, over nats-server | "
             + " | ".join(f"{n} per message" for n in sizes) + " |",
             "|---|" + "---:|" * len(sizes)]
    for real_decode, label in ((False, "without decode (ready array)"),
                               (True, "with decode (224x224 JPEG)")):
        cells = []
        for n in sizes:
            runs = figures[(real_decode, n)]
            cells.append(f"{statistics.median(runs):,.0f} ({min(runs):,.0f}-{max(runs):,.0f})")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append(f"\n{SESSIONS} sessions, one frame each in flight, {n_frames} frames a run; "
                 f"stand-in model (costs nothing), batch_max {BATCH}; median (min-max) of "
                 f"{repeats} runs, sizes alternating.")
    return "\n".join(lines)


# --- one tree, then the table --------------------------------------------------------

def measure(repeats: int, n_frames: int) -> dict[str, Any]:
    import inference_server

    check_tree()
    result: dict[str, Any] = {"tree": str(Path(inference_server.__file__).parent.parent)}
    for name, data in frames().items():
        figures = stage_figures(data, repeats)
        figures.update(worker_figures(data, repeats, n_frames))
        result[name] = figures
        result[f"{name}_bytes"] = len(data)
    result["publish"] = publish_figure(repeats)
    return result


def run_tree(root: Path | None, repeats: int, n_frames: int) -> dict[str, Any]:
    """Measure in a fresh interpreter whose `inference_server` is root's (this tree's
    when None). This file is run by its path, so a root that is a whole checkout is
    measured by this benchmark, not by its own bench/."""
    cwd = root if root is not None else REPO_ROOT
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(cwd), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--inner",
                           "--repeats", str(repeats), "--frames", str(n_frames)],
                          cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"measuring {cwd} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:,.0f}"


def table(after: list[dict[str, Any]], before: list[dict[str, Any]] | None) -> str:
    def med(runs: list[dict[str, Any]], size: str, key: str) -> float | None:
        vals = [r["publish"] if key == "publish" else r[size].get(key) for r in runs]
        vals = [v for v in vals if v is not None]
        return statistics.median(vals) if vals else None

    cols = []
    for size in SIZES:
        cols += [f"{size} before", f"{size} after"] if before else [size]
    lines = ["| stage (CPU µs per frame) | " + " | ".join(cols) + " |",
             "|---|" + "---:|" * len(cols)]
    for key, label in STAGES:
        cells = []
        for size in SIZES:
            if before:
                cells.append(_fmt(med(before, size, key)))
            cells.append(_fmt(med(after, size, key)))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    sizes = ", ".join(f"{s}: {after[0][f'{s}_bytes']:,} bytes" for s in SIZES)
    lines.append(f"\nJPEG quality {QUALITY} from {PHOTO} ({sizes}); the publish row is "
                 "per answer (two messages) and does not depend on the frame.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--baseline-root", type=Path,
                   help="a directory holding another inference_server/ to compare with")
    p.add_argument("--repeats", type=int, default=5, help="runs per figure (median)")
    p.add_argument("--rounds", type=int, default=1,
                   help="alternating rounds of baseline and this tree (median)")
    p.add_argument("--frames", type=int, default=480, help="frames per worker-path run")
    p.add_argument("--frames-per-message", type=lambda v: [int(n) for n in v.split(",")],
                   help="e.g. 1,4,8: the worker's CPU per frame over nats-server with that "
                        "many frames per message (this tree only)")
    p.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--drive", metavar="URL", help=argparse.SUPPRESS)
    p.add_argument("--image", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--per-message", type=int, default=1, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.drive:
        return asyncio.run(_drive(args.drive, args.image, args.per_message, args.frames))
    if args.frames_per_message:
        if any(n < 1 or n > BATCH or SESSIONS % n for n in args.frames_per_message):
            raise SystemExit(f"--frames-per-message: each 1 to {BATCH}, dividing {SESSIONS}")
        print(f"\nWorker CPU per frame outside the model by frames per message "
              f"({platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
              f"Python {platform.python_version()}):\n")
        print(messages_table(args.frames_per_message, args.repeats, args.frames))
        return 0
    if args.inner:
        print(json.dumps(measure(args.repeats, args.frames)))
        return 0
    if args.baseline_root and not (args.baseline_root / "inference_server").is_dir():
        raise SystemExit(f"{args.baseline_root} has no inference_server/")
    before: list[dict[str, Any]] | None = [] if args.baseline_root else None
    after: list[dict[str, Any]] = []
    for _ in range(args.rounds):
        if before is not None:
            before.append(run_tree(args.baseline_root.resolve(), args.repeats, args.frames))
        after.append(run_tree(None, args.repeats, args.frames))
    print(f"\nWorker CPU per frame outside the model ({platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}); median of "
          f"{args.repeats} runs x {args.rounds} round(s)"
          + (f"; before = {args.baseline_root}" if args.baseline_root else "") + ":\n")
    print(table(after, before))
    return 0


if __name__ == "__main__":
    sys.exit(main())

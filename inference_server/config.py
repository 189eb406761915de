"""Worker configuration: command-line flags whose defaults come from env vars."""

from __future__ import annotations

import argparse
import os
import secrets
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence, TypeVar
from urllib.parse import urlparse

from .config_aliases import with_new_names
from .ops.metrics import split_addr
from .ops.tracing import OTLP_PROTOCOLS, otlp_protocol, tracing_wanted

from .models.model_cache import default_cache_dir
from .models.repository import ServeSelection, ServeSelectionError
from .models.spec import AUTO, RUNTIME_CHOICES, SpecError, check_runtime, parse_model
from .wire.contract import INFER_ROOT, MODEL_NAME_RE, QUEUE_GROUP
from .imaging.fairness import DECODE_MS_PER_S, FRAMES_PER_SESSION

MIB = 1024 * 1024
VALID_SCHEMES = ("nats", "tls", "ws", "wss")
# The names LOG_LEVEL takes, in any case, and the logging level each means. The hub
# takes the same (hub/config.go, logLevels), so one LOG_LEVEL serves every part.
LOG_LEVELS = {"debug": "debug", "info": "info", "warn": "warning", "warning": "warning",
              "error": "error"}
LOG_LEVEL_NAMES = "debug, info, warn (or warning) or error"
OPENVINO_PRECISIONS = ("auto", "f32", "bf16")
# Where `make run` without MODEL looks for a model when the Keras download fails.
DEFAULT_MODELS_DIR = "models"


class ConfigError(ValueError):
    """The configuration is invalid; the message says what to fix."""


@dataclass(frozen=True)
class Config:
    nats_url: str = "nats://127.0.0.1:4222"
    # Empty: the model repository in models_dirs (models/repository.py), else the
    # Keras ImageNet weights (downloaded once, cached by Keras), or where they cannot
    # be had, the first model file in models_dirs (default_model.py).
    model: str = ""
    # The name MODEL is served under; empty: its file's stem (repository.py).
    model_name: str = ""
    # --serve: the model-versions of the repository to serve, `a,b@2`; empty: all.
    serve: str = ""
    runtime: str = AUTO
    # Converted models and the runtime chosen per model and CPU; empty: none kept.
    # From flags and env: the user's cache folder by default (default_cache_dir).
    model_cache_dir: str = ""
    models_dirs: tuple[str, ...] = (DEFAULT_MODELS_DIR,)
    calibration_dir: str | None = None  # images for INT8 (OpenVINO, float models)
    openvino_precision: str = "auto"  # auto = bf16 where it compiles and agrees, else f32
    # How long `auto` times each runtime at first start.
    runtime_timing_s: float = 1.0
    labels: str | None = None
    top_k: int = 3
    batch_max: int = 8
    batch_wait_ms: float = 0.0  # no wait: a lone frame goes straight to the model
    capacity: int = 0  # frames held at once; 0 = two batches (one computing, one waiting)
    # Most frames one NATS message may carry (advertised to the hubs); 0 = batch_max,
    # 1 = single frames only (the hubs then send no batches).
    frames_per_message: int = 0
    max_image_bytes: int = 8 * MIB
    max_pixels: int = 40_000_000
    name: str = ""
    queue_group: str = QUEUE_GROUP
    log_level: str = "info"
    num_threads: int = 0  # 0 = pick from the number of cores
    # Each session's share of the worker (imaging/fairness.py): decode CPU ms per second
    # (0 = no limit) and frames in the worker at once (at least HUB_FRAMES_IN_FLIGHT).
    session_decode_ms: float = DECODE_MS_PER_S
    session_frames: int = FRAMES_PER_SESSION
    # GPU memory per worker process (Keras backends): 0 = take it as needed, so several
    # workers share one GPU; 0 < f <= 1 = JAX preallocates that fraction, torch is
    # capped at it. TensorFlow always grows on demand.
    gpu_memory_fraction: float = 0.0
    metrics_addr: str = ""  # host:port of /metrics; empty: not served (secure by default)
    # Export OpenTelemetry traces: decided by the standard OTEL_* variables (tracing.py),
    # not by a flag of the worker.
    tracing: bool = False
    otlp_protocol: str = "http/protobuf"
    # NATS credentials, at most one kind: a JWT creds file, an nkey seed file,
    # user + password, or a token (the last two may also be in the URL).
    nats_creds: str | None = None
    nats_nkey: str | None = None
    nats_user: str | None = None
    nats_password: str | None = field(default=None, repr=False)
    nats_token: str | None = field(default=None, repr=False)
    # TLS: the CA that signed the servers' certificates (server names are always
    # verified), and a client certificate with its key.
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None

    @property
    def uses_tls(self) -> bool:
        return bool(self.tls_ca or self.tls_cert) or any(
            u.strip().startswith(("tls://", "wss://")) for u in self.nats_url.split(","))

    def credential_kinds(self) -> list[str]:
        """The kinds of NATS credentials given (flags, environment or URL)."""
        kinds = []
        if self.nats_creds:
            kinds.append("a creds file (NATS_CREDS)")
        if self.nats_nkey:
            kinds.append("an nkey seed (NATS_NKEY)")
        if self.nats_user or self.nats_password:
            kinds.append("user and password (NATS_USER, NATS_PASSWORD)")
        if self.nats_token:
            kinds.append("a token (NATS_TOKEN)")
        if any(urlparse(u.strip()).username for u in self.nats_url.split(",")):
            kinds.append("credentials in the NATS URL")
        return kinds

    def credentials_text(self) -> str:
        """What the worker logs in with, for logs: never the secret itself."""
        if self.nats_creds:
            what = f"creds file {self.nats_creds}"
        elif self.nats_nkey:
            what = f"nkey seed file {self.nats_nkey}"
        elif self.nats_user:
            what = f"user {self.nats_user}"
        elif self.nats_token:
            what = "token"
        elif self.credential_kinds():
            what = "credentials in the URL"
        else:
            what = "none"
        return what + (", TLS" if self.uses_tls else "")

    @property
    def held_max(self) -> int:
        """Frames the worker holds at once: the credit it has in the queue group when
        it holds none (intake.py)."""
        return self.capacity if self.capacity > 0 else 2 * self.batch_max

    @property
    def message_frames(self) -> int:
        """Most frames one message may carry: more would wait for a second model call."""
        return self.frames_per_message if self.frames_per_message > 0 else self.batch_max

    @property
    def rejoin_below(self) -> int:
        """A full worker rejoins the queue group once it holds fewer than this: room
        for about half a batch, so it leaves and rejoins once every few frames at
        saturation rather than at every frame."""
        return max(1, self.held_max - max(1, self.batch_max // 2))

    @property
    def threads(self) -> int:
        """Threads for the model (LiteRT interpreter; TensorFlow, JAX or torch CPU pools)."""
        if self.num_threads > 0:
            return self.num_threads
        return max(1, min(4, os.cpu_count() or 1))


def default_worker_name() -> str:
    """A name that tells workers apart without naming the machine: results
    reach browsers, and hostnames are internal. Set WORKER_NAME for one that
    operators recognise."""
    return f"worker-{secrets.token_hex(3)}-{os.getpid()}"


N = TypeVar("N", int, float)


def _env_number(env: Mapping[str, str], key: str, default: N, parse: Callable[[str], N],
                what: str) -> N:
    raw = env.get(key)
    if raw is None or raw.strip() == "":
        return default
    try:
        return parse(raw.strip())
    except ValueError:
        raise ConfigError(f"{key}={raw!r} is not {what}") from None


def _env_int(env: Mapping[str, str], key: str, default: int) -> int:
    return _env_number(env, key, default, int, "an integer")


def _env_float(env: Mapping[str, str], key: str, default: float) -> float:
    return _env_number(env, key, default, float, "a number")


def _env_str(env: Mapping[str, str], key: str, default: str | None) -> str | None:
    raw = env.get(key)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip()


def build_parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    d = Config()
    p = argparse.ArgumentParser(
        prog="python -m inference_server",
        description=f"Image classification worker: answers {INFER_ROOT}.<model>.<version>.> "
                    "requests over NATS, one endpoint per model-version it serves.",
    )
    p.add_argument("--nats-url", default=_env_str(env, "NATS_URL", d.nats_url),
                   help="NATS server URL(s), comma separated (env NATS_URL)")
    p.add_argument("--nats-creds", default=_env_str(env, "NATS_CREDS", None),
                   help="JWT credentials file (env NATS_CREDS)")
    p.add_argument("--nats-nkey", default=_env_str(env, "NATS_NKEY", None),
                   help="nkey seed file, e.g. .data/nats/worker.nk of the hub's embedded NATS "
                        "(env NATS_NKEY)")
    p.add_argument("--nats-user", default=_env_str(env, "NATS_USER", None),
                   help="user name, with NATS_PASSWORD (env NATS_USER)")
    p.add_argument("--nats-password", default=_env_str(env, "NATS_PASSWORD", None),
                   help="password; prefer the environment variable (env NATS_PASSWORD)")
    p.add_argument("--nats-token", default=_env_str(env, "NATS_TOKEN", None),
                   help="token; prefer the environment variable (env NATS_TOKEN)")
    p.add_argument("--nats-tls-ca", default=_env_str(env, "NATS_TLS_CA", None),
                   help="CA certificate file of the NATS servers (env NATS_TLS_CA)")
    p.add_argument("--nats-tls-cert", default=_env_str(env, "NATS_TLS_CERT", None),
                   help="client certificate file, with --nats-tls-key (env NATS_TLS_CERT)")
    p.add_argument("--nats-tls-key", default=_env_str(env, "NATS_TLS_KEY", None),
                   help="client private key file (env NATS_TLS_KEY)")
    p.add_argument("--model", default=_env_str(env, "WORKER_MODEL", d.model),
                   help="keras | keras:<weights file> | tflite:<model.tflite> | "
                        "onnx:<model.onnx> | openvino:<model.xml> | keras-random; empty: "
                         "the model repository in --models-dir, else keras, or offline the "
                         "first model file in --models-dir (env WORKER_MODEL)")
    p.add_argument("--model-name", default=_env_str(env, "WORKER_MODEL_NAME", d.model_name),
                   help="the name --model is served under, on infer.<name>.1.>; default: "
                        "its file's stem, mobilenet_v2 for keras (env WORKER_MODEL_NAME)")
    p.add_argument("--serve", default=_env_str(env, "WORKER_SERVE", d.serve),
                   help="the models of the repository to serve, comma separated, each "
                        "name (every version) or name@version; default: all (env WORKER_SERVE)")
    p.add_argument("--runtime", default=_env_str(env, "WORKER_RUNTIME", d.runtime),
                   help=f"{' | '.join(RUNTIME_CHOICES)}: who runs the model; auto times "
                        "each runtime that can at first start and keeps the fastest "
                        "(env WORKER_RUNTIME)")
    p.add_argument("--model-cache-dir",
                   default=_env_str(env, "WORKER_MODEL_CACHE_DIR", d.model_cache_dir),
                   help="converted models and the runtime chosen (default "
                         "$XDG_CACHE_HOME/webcamhub or ~/.cache/webcamhub) "
                         "(env WORKER_MODEL_CACHE_DIR)")
    p.add_argument("--models-dir", default=_env_str(env, "WORKER_MODELS_DIR", None),
                   help="folders, ':'-separated (default models, then "
                        "$SHARED_TESTDATA/models); without --model, the first that is a model "
                        "repository (<name>/<version>/<model file>) is served and watched; "
                        "when none is, the first model file in them is the offline default "
                        "(env WORKER_MODELS_DIR)")
    p.add_argument("--calibration-dir", default=_env_str(env, "WORKER_CALIBRATION_DIR", None),
                   help="images to calibrate INT8 for a float model on OpenVINO; used only "
                        "if its top-1 agrees with the float model's on >= 99%% of them "
                        "(env WORKER_CALIBRATION_DIR)")
    p.add_argument("--openvino-precision",
                   default=_env_str(env, "WORKER_OPENVINO_PRECISION", d.openvino_precision),
                   help="auto (bf16 where the CPU has it and the model compiles and "
                        "agrees in it, else f32) | f32 | bf16 (env WORKER_OPENVINO_PRECISION)")
    p.add_argument("--runtime-timing-s", type=float,
                   default=_env_float(env, "WORKER_RUNTIME_TIMING_S", d.runtime_timing_s),
                   help="seconds --runtime auto times each runtime (env WORKER_RUNTIME_TIMING_S)")
    p.add_argument("--labels", default=_env_str(env, "WORKER_LABELS", d.labels),
                   help="labels file, one class name a line (env WORKER_LABELS)")
    p.add_argument("--top-k", type=int, default=_env_int(env, "WORKER_TOP_K", d.top_k),
                   help="predictions per result (env WORKER_TOP_K)")
    p.add_argument("--batch-max", type=int,
                   default=_env_int(env, "WORKER_BATCH_MAX", d.batch_max),
                   help="most frames in one model call (env WORKER_BATCH_MAX)")
    p.add_argument("--batch-wait-ms", type=float,
                   default=_env_float(env, "WORKER_BATCH_WAIT_MS", d.batch_wait_ms),
                   help="how long a batch waits for more frames; 0: none, a lone frame "
                        "goes straight to the model (env WORKER_BATCH_WAIT_MS)")
    p.add_argument("--frames-per-message", type=int,
                   default=_env_int(env, "WORKER_FRAMES_PER_MESSAGE", d.frames_per_message),
                   help="most frames one NATS message from a hub may carry, advertised to "
                        "the hubs; 0 = batch-max, 1 = single frames only "
                        "(env WORKER_FRAMES_PER_MESSAGE)")
    p.add_argument("--capacity", type=int,
                   default=_env_int(env, "WORKER_CAPACITY", d.capacity),
                   help="frames held at once (decoding, waiting, computing); the worker is "
                        "in the queue group only with credit for the room it has, so when "
                        "full the server hands it nothing; 0 = 2 x batch-max "
                        "(env WORKER_CAPACITY)")
    p.add_argument("--max-image-bytes", type=int,
                   default=_env_int(env, "WORKER_MAX_IMAGE_BYTES", d.max_image_bytes),
                   help="larger bodies are answered with too_large (env WORKER_MAX_IMAGE_BYTES)")
    p.add_argument("--max-pixels", type=int,
                   default=_env_int(env, "WORKER_MAX_PIXELS", d.max_pixels),
                   help="larger images (width*height) are refused (env WORKER_MAX_PIXELS)")
    p.add_argument("--session-decode-ms", type=float,
                   default=_env_float(env, "WORKER_SESSION_DECODE_MS", d.session_decode_ms),
                   help="decode CPU ms a second one session may use; over it its frames "
                        "get rate_limited; 0 = no limit (env WORKER_SESSION_DECODE_MS)")
    p.add_argument("--session-frames", type=int,
                   default=_env_int(env, "WORKER_SESSION_FRAMES", d.session_frames),
                   help="frames of one session in the worker at once, more get "
                        "rate_limited; keep >= the hub's HUB_FRAMES_IN_FLIGHT "
                        "(env WORKER_SESSION_FRAMES)")
    p.add_argument("--name", default=_env_str(env, "WORKER_NAME", None),
                   help="worker name in results and logs; default worker-<6 hex digits>-<pid>, "
                        "never the host name (env WORKER_NAME)")
    p.add_argument("--queue-group",
                   default=_env_str(env, "WORKER_QUEUE_GROUP", d.queue_group),
                   help="NATS queue group (env WORKER_QUEUE_GROUP)")
    p.add_argument("--log-level", default=_env_str(env, "LOG_LEVEL", d.log_level),
                   help=f"{LOG_LEVEL_NAMES} (env LOG_LEVEL)")
    p.add_argument("--num-threads", type=int,
                   default=_env_int(env, "WORKER_NUM_THREADS", d.num_threads),
                   help="model threads, 0 = auto (env WORKER_NUM_THREADS)")
    p.add_argument("--gpu-memory-fraction", type=float,
                   default=_env_float(env, "WORKER_GPU_MEMORY_FRACTION",
                                      d.gpu_memory_fraction),
                   help="Keras on a GPU: 0 = each worker takes memory as it needs it (several "
                        "share one GPU), 0<f<=1 = JAX preallocates / torch is capped at that "
                        "fraction (env WORKER_GPU_MEMORY_FRACTION)")
    p.add_argument("--metrics-addr",
                   default=_env_str(env, "WORKER_METRICS_ADDR", d.metrics_addr),
                   help="serve Prometheus metrics at http://<host:port>/metrics, e.g. "
                        "127.0.0.1:9101; empty (the default) serves none; an address beyond "
                        "loopback logs a warning (env WORKER_METRICS_ADDR)")
    return p


def validate(cfg: Config) -> Config:
    problems: list[str] = []
    for url in cfg.nats_url.split(","):
        parsed = urlparse(url.strip())
        if parsed.scheme not in VALID_SCHEMES or not parsed.hostname:
            problems.append(f"--nats-url {redact_url(url.strip())!r} is not a NATS URL like "
                            "nats://host:4222")
    problems.extend(_model_problems(cfg))
    if not 1 <= cfg.top_k <= 1000:
        problems.append(f"--top-k {cfg.top_k} must be between 1 and 1000")
    if not 1 <= cfg.batch_max <= 256:
        problems.append(f"--batch-max {cfg.batch_max} must be between 1 and 256")
    if not 0 <= cfg.batch_wait_ms <= 1000:
        problems.append(f"--batch-wait-ms {cfg.batch_wait_ms} must be between 0 and 1000")
    if not 0 <= cfg.frames_per_message <= cfg.batch_max:
        problems.append(f"--frames-per-message {cfg.frames_per_message} must be 0 (batch-max) "
                        f"to --batch-max ({cfg.batch_max})")
    if not 0 <= cfg.capacity <= 4096:
        problems.append(f"--capacity {cfg.capacity} must be 0 (2 x batch-max) to 4096")
    if cfg.max_image_bytes < 1:
        problems.append(f"--max-image-bytes {cfg.max_image_bytes} must be positive")
    if cfg.max_pixels < 1:
        problems.append(f"--max-pixels {cfg.max_pixels} must be positive")
    if not 0 <= cfg.session_decode_ms <= 1000:
        problems.append(f"--session-decode-ms {cfg.session_decode_ms} must be between 0 "
                        "(no limit) and 1000")
    if not 1 <= cfg.session_frames <= 1024:
        problems.append(f"--session-frames {cfg.session_frames} must be between 1 and 1024")
    if not cfg.name or any(c.isspace() for c in cfg.name):
        problems.append(f"--name {cfg.name!r} must be non-empty without spaces")
    if not cfg.queue_group or any(c.isspace() or c in ".*>" for c in cfg.queue_group):
        problems.append(f"--queue-group {cfg.queue_group!r} is not a valid queue group")
    if cfg.log_level not in LOG_LEVELS.values():
        problems.append(f"--log-level {cfg.log_level!r}: want {LOG_LEVEL_NAMES}")
    if cfg.num_threads < 0:
        problems.append(f"--num-threads {cfg.num_threads} must be 0 (auto) or more")
    if not 0.0 <= cfg.gpu_memory_fraction <= 1.0:  # NaN fails this too
        problems.append(f"--gpu-memory-fraction {cfg.gpu_memory_fraction} must be between 0 "
                        "(as needed) and 1")
    problems.extend(_nats_auth_problems(cfg))
    if cfg.metrics_addr:
        try:
            split_addr(cfg.metrics_addr)
        except ValueError as exc:
            problems.append(f"--metrics-addr {exc}")
    if cfg.tracing and cfg.otlp_protocol not in OTLP_PROTOCOLS:
        problems.append(f"OTEL_EXPORTER_OTLP_PROTOCOL={cfg.otlp_protocol!r} must be one of "
                        f"{', '.join(OTLP_PROTOCOLS)}")
    if problems:
        raise ConfigError("; ".join(problems))
    return cfg


def _model_problems(cfg: Config) -> list[str]:
    problems: list[str] = []
    try:
        if cfg.model:
            check_runtime(parse_model(cfg.model), cfg.runtime)
        elif cfg.runtime not in RUNTIME_CHOICES:
            problems.append(f"--runtime {cfg.runtime!r} must be one of "
                            f"{', '.join(RUNTIME_CHOICES)}")
    except SpecError as exc:
        problems.append(str(exc))
    if cfg.model_name and not MODEL_NAME_RE.match(cfg.model_name):
        problems.append(f"--model-name {cfg.model_name!r} must be 1-64 of A-Z a-z 0-9 _ - "
                        "(one NATS subject token)")
    if cfg.model_name and not cfg.model:
        problems.append("--model-name names the --model; a repository's names are its "
                        "folders")
    try:
        ServeSelection.parse(cfg.serve)
    except ServeSelectionError as exc:
        problems.append(str(exc))
    if cfg.serve and cfg.model:
        problems.append("--serve picks models of a repository (--models-dir); with --model "
                        "the worker serves that one")
    if cfg.openvino_precision not in OPENVINO_PRECISIONS:
        problems.append(f"--openvino-precision {cfg.openvino_precision!r} must be one of "
                        f"{', '.join(OPENVINO_PRECISIONS)}")
    if not 0.01 <= cfg.runtime_timing_s <= 60:  # NaN fails this too
        problems.append(f"--runtime-timing-s {cfg.runtime_timing_s} must be between 0.01 "
                        "and 60")
    if cfg.calibration_dir and not os.path.isdir(cfg.calibration_dir):
        problems.append(f"--calibration-dir {cfg.calibration_dir!r} is not a folder")
    return problems


def models_dirs_from(arg: str | None, env: Mapping[str, str]) -> tuple[str, ...]:
    """--models-dir as given, else `models` then $SHARED_TESTDATA/models."""
    if arg:
        return tuple(p for p in arg.split(os.pathsep) if p)
    dirs = [DEFAULT_MODELS_DIR]
    shared = (env.get("SHARED_TESTDATA") or "").strip()
    if shared:
        dirs.append(os.path.join(shared, "models"))
    return tuple(dirs)


def _nats_auth_problems(cfg: Config) -> list[str]:
    problems: list[str] = []
    kinds = cfg.credential_kinds()
    if len(kinds) > 1:
        problems.append(f"NATS credentials: give one kind, not {' and '.join(kinds)}")
    if bool(cfg.nats_user) != bool(cfg.nats_password):
        problems.append("NATS_USER and NATS_PASSWORD go together")
    if bool(cfg.tls_cert) != bool(cfg.tls_key):
        problems.append("NATS_TLS_CERT and NATS_TLS_KEY go together")
    for what, path in (("NATS_CREDS", cfg.nats_creds), ("NATS_NKEY", cfg.nats_nkey),
                       ("NATS_TLS_CA", cfg.tls_ca), ("NATS_TLS_CERT", cfg.tls_cert),
                       ("NATS_TLS_KEY", cfg.tls_key)):
        if path and not os.access(path, os.R_OK):
            problems.append(f"{what} {path!r} cannot be read")
    return problems


def redact_url(url: str) -> str:
    """A NATS URL without its password or token, for messages."""
    parsed = urlparse(url)
    if not parsed.username:
        return url
    return parsed._replace(netloc=f"redacted@{parsed.hostname or ''}"
                           + (f":{parsed.port}" if parsed.port else "")).geturl()


def _log_level(name: str) -> str:
    """The logging level LOG_LEVEL names (warn is warning); anything else as given,
    for validate() to refuse."""
    return LOG_LEVELS.get(name.lower(), name)


def load_config(argv: Sequence[str] | None = None,
                env: Mapping[str, str] | None = None) -> Config:
    """Parse flags (defaults from env; a deprecated name of a WORKER_ variable counts
    where the new one is unset, config_aliases.py). Raises ConfigError; argparse exits 2
    on bad flags."""
    env = with_new_names(os.environ if env is None else env)
    args = build_parser(env).parse_args(argv)
    cfg = Config(
        nats_url=args.nats_url,
        model=args.model or "",
        model_name=args.model_name or "",
        serve=args.serve or "",
        runtime=(args.runtime or AUTO).lower(),
        model_cache_dir=args.model_cache_dir or default_cache_dir(env),
        models_dirs=models_dirs_from(args.models_dir, env),
        calibration_dir=args.calibration_dir,
        openvino_precision=(args.openvino_precision or "auto").lower(),
        runtime_timing_s=args.runtime_timing_s,
        labels=args.labels,
        top_k=args.top_k,
        batch_max=args.batch_max,
        batch_wait_ms=args.batch_wait_ms,
        capacity=args.capacity,
        frames_per_message=args.frames_per_message,
        max_image_bytes=args.max_image_bytes,
        max_pixels=args.max_pixels,
        session_decode_ms=args.session_decode_ms,
        session_frames=args.session_frames,
        name=args.name or default_worker_name(),
        queue_group=args.queue_group,
        log_level=_log_level(args.log_level or "info"),
        num_threads=args.num_threads,
        gpu_memory_fraction=args.gpu_memory_fraction,
        nats_creds=args.nats_creds,
        nats_nkey=args.nats_nkey,
        nats_user=args.nats_user,
        nats_password=args.nats_password,
        nats_token=args.nats_token,
        tls_ca=args.nats_tls_ca,
        tls_cert=args.nats_tls_cert,
        tls_key=args.nats_tls_key,
        metrics_addr=(args.metrics_addr or "").strip(),
        tracing=tracing_wanted(env),
        otlp_protocol=otlp_protocol(env),
    )
    return validate(cfg)

"""The wire contract in Python: every NATS subject, header, message type and error code
the worker speaks or hears.

docs/asyncapi.yaml is the one source of the contract; tests/test_contract.py checks
these constants against it. No other Python file (tests included) spells these
strings: they import them from here.
"""

from __future__ import annotations

import re

# --- NATS subjects (channels infer, results, recordedFrames, workersPing/Info) -----

INFER_ROOT = "infer"  # infer.{model}.{version}.{kind}.{id}: one image for one model-version
RESULTS_ROOT = "results"  # results.{kind}.{id}: its answer, for watchers
# Deprecated: frames.{kind}.{id} is gone from the contract (issue 22); the worker moves
# to infer_subject / endpoint_subject. FRAMES_ROOT stays the root of the recorded
# frames' stored subject (recorded_frame_stored_subject).
FRAMES_ROOT = "frames"
FRAMES_WILDCARD = f"{FRAMES_ROOT}.>"  # Deprecated (issue 22): see endpoint_subject.
# Every worker is an instance of this NATS micro service, with one endpoint per
# model-version it serves (endpoint_name, endpoint_subject, QUEUE_GROUP); its ping
# is the health subject, its info says what it serves.
MICRO_SERVICE = "inference"
WORKERS_PING_SUBJECT = f"$SRV.PING.{MICRO_SERVICE}"  # every worker answers
WORKERS_INFO_SUBJECT = f"$SRV.INFO.{MICRO_SERVICE}"  # every worker answers, with its endpoints

# Frame kinds, the {kind} of infer.{model}.{version}.{kind}.{id}: who sent the frame.
KIND_LIVE = "live"  # a browser tab's webcam, through the hub's WebSocket
KIND_API = "api"  # the hub's REST upload
KIND_CLI = "cli"  # a command-line client (nats request, the benchmark)
KIND_REPLAY = "replay"  # a JetStream replay of a recording (see replay.py)
KINDS = (KIND_LIVE, KIND_API, KIND_CLI, KIND_REPLAY)
# infer.{model}.{version}.batch.{hub}: several frames in one message (frameBatch), each
# with its own kind (FrameBatchEntry); never a results kind.
KIND_BATCH = "batch"

# The queue group of every endpoint: NATS queue groups are per subject, so each
# model-version is its own group, and one worker of it takes each frame.
QUEUE_GROUP = "inference"


def infer_subject(model: str, version: int, kind: str, ident: str) -> str:
    """infer.{model}.{version}.{kind}.{id}; `ident` may itself hold dots."""
    return f"{INFER_ROOT}.{model}.{version}.{kind}.{ident}"


def endpoint_subject(model: str, version: int) -> str:
    """infer.{model}.{version}.>: what the worker's endpoint for one model-version hears."""
    return f"{INFER_ROOT}.{model}.{version}.>"


def endpoint_name(model: str, version: int) -> str:
    """{model}-{version}: the micro endpoint of one model-version."""
    return f"{model}-{version}"


def split_infer_subject(subject: str) -> tuple[str, int, str, str | None] | None:
    """(model, version, kind, id) of infer.{model}.{version}.{kind}.{id}; id None when
    the subject has no token after the kind; None for a subject that is not a frame's
    (another root, a model name or version the contract does not allow, no kind)."""
    tokens = subject.split(".", 4)
    if (len(tokens) < 4 or tokens[0] != INFER_ROOT or not MODEL_NAME_RE.match(tokens[1])
            or not VERSION_RE.match(tokens[2]) or not tokens[3]):
        return None
    return tokens[1], int(tokens[2]), tokens[3], (tokens[4] if len(tokens) > 4 else None)


def recorded_frame_stored_subject(session: str) -> str:
    """frames.live.{id}: where the FRAMES stream stores a recorded live frame (whatever
    model took it; channels.recordedFrames x-stored-as). A replay filters on it."""
    return f"{FRAMES_ROOT}.{KIND_LIVE}.{session}"


def frame_subject(kind: str, ident: str) -> str:
    """frames.{kind}.{id}; `ident` may itself hold dots.

    Deprecated: frames.{kind}.{id} is gone from the contract (issue 22); use
    infer_subject."""
    return f"{FRAMES_ROOT}.{kind}.{ident}"


def results_subject(kind: str, ident: str | None) -> str:
    """results.{kind}.{id}: where the answer to frames.{kind}.{id} is published
    (results.{kind} for a frame sent to frames.{kind} alone)."""
    if ident is None:
        return f"{RESULTS_ROOT}.{kind}"
    return f"{RESULTS_ROOT}.{kind}.{ident}"


def split_subject(subject: str) -> tuple[str, str | None]:
    """(kind, id) of frames.{kind}.{id} (or results.{kind}.{id}); id None when the
    subject has no token after the kind.

    Deprecated for frames (issue 22): split_infer_subject reads infer subjects."""
    tokens = subject.split(".")
    if len(tokens) < 2:
        return "unknown", None
    return tokens[1], (".".join(tokens[2:]) if len(tokens) > 2 else None)


# --- Models (schemas ModelName, ModelVersion, ModelRef, ModelTask, ...) -------------

MODEL_NAME_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"  # one subject token; a repository directory
MODEL_REF_PATTERN = r"^[A-Za-z0-9_-]{1,64}(@[1-9][0-9]{0,8})?$"  # name or name@version
MODEL_REF_VERSION_SEPARATOR = "@"
MIN_MODEL_VERSION = 1
MAX_MODEL_VERSION = 999_999_999
MODEL_NAME_RE = re.compile(MODEL_NAME_PATTERN)
VERSION_RE = re.compile(r"^[1-9][0-9]{0,8}$")

TASK_CLASSIFICATION = "classification"  # the only task now
TASKS = (TASK_CLASSIFICATION,)

# Where a model's labels come from (LabelsSource).
LABELS_FROM_METADATA = "metadata"
LABELS_FROM_FILE = "labels.txt"
LABELS_FROM_MODEL_YAML = "model.yaml"
LABELS_FROM_IMAGENET = "imagenet"
LABELS_SOURCES = (LABELS_FROM_METADATA, LABELS_FROM_FILE, LABELS_FROM_MODEL_YAML,
                  LABELS_FROM_IMAGENET)

# The model file's format (ModelPlatform).
PLATFORM_TFLITE = "tflite"
PLATFORM_ONNX = "onnx"
PLATFORM_OPENVINO = "openvino"
PLATFORM_KERAS = "keras"
PLATFORMS = (PLATFORM_TFLITE, PLATFORM_ONNX, PLATFORM_OPENVINO, PLATFORM_KERAS)


def model_ref(name: str, version: int) -> str:
    """name@version (the `models` service metadata, `model_errors` keys)."""
    return f"{name}{MODEL_REF_VERSION_SEPARATOR}{version}"


# --- Micro service metadata (schemas ServiceMetadata, EndpointMetadata) -------------

# The service's (ping and info): strings only.
META_WORKER = "worker"
META_BATCH_MAX = "batch_max"
META_MODELS = "models"  # model_ref of every endpoint served now, space-separated
META_MODEL_ERRORS = "model_errors"  # JSON object string {model_ref: why}, "{}" when none
# Frames one message may carry (frameBatch); absent (older workers) or 1: single frames only.
META_FRAMES_PER_MESSAGE = "frames_per_message"
SERVICE_METADATA_REQUIRED = (META_WORKER, META_BATCH_MAX, META_MODELS, META_MODEL_ERRORS)
SERVICE_METADATA_KEYS = SERVICE_METADATA_REQUIRED + (META_FRAMES_PER_MESSAGE,)

# Each endpoint's (one model-version): strings only.
META_MODEL = "model"
META_VERSION = "version"
META_TASK = "task"
META_CLASSES = "classes"
META_LABELS_SHA256 = "labels_sha256"
META_LABELS_SOURCE = "labels_source"
META_INPUT = "input"  # HxWxC, e.g. 224x224x3
META_INPUT_DTYPE = "input_dtype"
META_LAYOUT = "layout"
META_PLATFORM = "platform"
META_RUNTIME = "runtime"
META_DISPLAY_NAME = "display_name"  # may be empty
META_DESCRIPTION = "description"  # may be empty
META_PRECISION = "precision"  # optional: where the runtime says
META_RUNTIME_CHOICE = "runtime_choice"  # optional
META_RUNTIME_IMAGES_PER_S = "runtime_images_per_s"  # optional
ENDPOINT_METADATA_REQUIRED = (META_MODEL, META_VERSION, META_TASK, META_CLASSES,
                              META_LABELS_SHA256, META_LABELS_SOURCE, META_INPUT,
                              META_INPUT_DTYPE, META_LAYOUT, META_PLATFORM, META_RUNTIME,
                              META_DISPLAY_NAME, META_DESCRIPTION)
ENDPOINT_METADATA_KEYS = ENDPOINT_METADATA_REQUIRED + (META_PRECISION, META_RUNTIME_CHOICE,
                                                       META_RUNTIME_IMAGES_PER_S)

# --- Headers (components.schemas.FrameHeaders / ReplyHeaders) ----------------------

HEADER_SESSION_ID = "Session-Id"
HEADER_FRAME_SEQ = "Frame-Seq"
HEADER_CONTENT_TYPE = "Content-Type"
HEADER_TOP_K = "Top-K"  # labels per result, 1-10 (the session's "options")
HEADER_TRACEPARENT = "traceparent"  # W3C trace context, passed on to the reply
# When the hub stops waiting (Unix ms): past it, a frame is neither decoded nor inferred.
HEADER_FRAME_DEADLINE = "Frame-Deadline"
FRAME_HEADERS = (HEADER_SESSION_ID, HEADER_FRAME_SEQ, HEADER_CONTENT_TYPE, HEADER_TOP_K,
                 HEADER_TRACEPARENT, HEADER_FRAME_DEADLINE)
REPLY_HEADERS = (HEADER_CONTENT_TYPE, HEADER_TRACEPARENT)
# Frames in a frameBatch message or its reply (n >= 2); without it a message is one frame.
HEADER_FRAME_COUNT = "Frame-Count"
FRAME_BATCH_HEADERS = (HEADER_FRAME_COUNT, HEADER_CONTENT_TYPE, HEADER_FRAME_DEADLINE)
BATCH_REPLY_HEADERS = (HEADER_FRAME_COUNT, HEADER_CONTENT_TYPE)

# --- A frame in a frameBatch body (schema FrameBatchEntry, keys of a msgpack map) ----

BATCH_SESSION = "session"
BATCH_SEQ = "seq"
BATCH_KIND = "kind"  # live | api
BATCH_CONTENT_TYPE = "content_type"  # the image's, as a single frame's Content-Type
BATCH_TOP_K = "top_k"  # 0: the worker's default
BATCH_DEADLINE_MS = "deadline_ms"  # Unix ms; 0: none
BATCH_TRACEPARENT = "traceparent"  # "": none
BATCH_IMAGE = "image"  # msgpack bin
BATCH_ENTRY_REQUIRED = (BATCH_SESSION, BATCH_SEQ, BATCH_IMAGE)
BATCH_ENTRY_KEYS = (BATCH_SESSION, BATCH_SEQ, BATCH_KIND, BATCH_CONTENT_TYPE, BATCH_TOP_K,
                    BATCH_DEADLINE_MS, BATCH_TRACEPARENT, BATCH_IMAGE)
BATCH_ENTRY_KINDS = (KIND_LIVE, KIND_API)

# --- Content types -----------------------------------------------------------------

CONTENT_TYPE_JSON = "application/json"  # every answer of the worker to a single frame
# A frameBatch message and its one reply: a msgpack array, one entry per frame.
CONTENT_TYPE_FRAME_BATCH = "application/vnd.webcamhub.frames+msgpack"
CONTENT_TYPE_JPEG = "image/jpeg"
CONTENT_TYPE_PNG = "image/png"
CONTENT_TYPE_WEBP = "image/webp"
CONTENT_TYPE_BMP = "image/bmp"
IMAGE_CONTENT_TYPES = (CONTENT_TYPE_JPEG, CONTENT_TYPE_PNG, CONTENT_TYPE_WEBP,
                       CONTENT_TYPE_BMP)

# --- Message types (the `type` field of the JSON answers) ---------------------------

TYPE_RESULT = "result"
TYPE_ERROR = "error"

# --- Error codes (root x-error-codes); those a worker answers with ------------------

CODE_BAD_IMAGE = "bad_image"  # not an image we decode, or one that does not decode
CODE_TOO_LARGE = "too_large"  # more bytes than --max-image-bytes
CODE_INTERNAL = "internal"  # a bug or a model failure
CODE_RATE_LIMITED = "rate_limited"  # the session spent its decode budget (imaging/fairness.py)
# A frameBatch message the worker cannot read (body, count, entries): the whole message.
# Only a worker's (x-worker-only-error-codes): the hub answers its frames `internal`.
CODE_BAD_BATCH = "bad_batch"
WORKER_ONLY_ERROR_CODES = (CODE_BAD_BATCH,)
WORKER_ERROR_CODES = (CODE_BAD_IMAGE, CODE_TOO_LARGE, CODE_INTERNAL, CODE_RATE_LIMITED,
                      *WORKER_ONLY_ERROR_CODES)
# The hub's, never a worker's: a name no worker served / one not served now / one the
# client's JWT does not allow.
CODE_UNKNOWN_MODEL = "unknown_model"
CODE_MODEL_UNAVAILABLE = "model_unavailable"
CODE_MODEL_FORBIDDEN = "model_forbidden"
HUB_MODEL_ERROR_CODES = (CODE_UNKNOWN_MODEL, CODE_MODEL_UNAVAILABLE, CODE_MODEL_FORBIDDEN)

# --- JetStream's own names (set by the NATS server, not by docs/asyncapi.yaml) -----

JS_PREFIX = "$JS."  # JetStream API and ack subjects: never a client's inbox
JS_ACK_PREFIX = "$JS.ACK."  # reply subject of a message a JetStream consumer delivered
JS_ACK = b"+ACK"  # body that acknowledges it
CONSUMER_CREATED_ADVISORY = "$JS.EVENT.ADVISORY.CONSUMER.CREATED.>"
CONSUMER_DELETED_ADVISORY = "$JS.EVENT.ADVISORY.CONSUMER.DELETED.>"

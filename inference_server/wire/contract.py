"""The wire contract in Python: every NATS subject, header, message type and error code
the worker speaks or hears.

docs/asyncapi.yaml is the one source of the contract; tests/test_contract.py checks
these constants against it. No other Python file (tests included) spells these
strings: they import them from here.
"""

from __future__ import annotations

# --- NATS subjects (channels frames, results, workersPing) -------------------------

FRAMES_ROOT = "frames"  # frames.{kind}.{id}: one image to classify
RESULTS_ROOT = "results"  # results.{kind}.{id}: its answer, for watchers
# Workers take every frame: the frames address up to its first parameter, then '>'.
FRAMES_WILDCARD = f"{FRAMES_ROOT}.>"
# Every worker is an instance of this NATS micro service; its one endpoint is the
# queue subscription on FRAMES_WILDCARD, and its ping is the health subject.
MICRO_SERVICE = "inference"
WORKERS_PING_SUBJECT = f"$SRV.PING.{MICRO_SERVICE}"  # every worker answers

# Frame kinds, the {kind} of frames.{kind}.{id}: who sent the frame.
KIND_LIVE = "live"  # a browser tab's webcam, through the hub's WebSocket
KIND_API = "api"  # the hub's REST upload
KIND_CLI = "cli"  # a command-line client (nats request, the benchmark)
KIND_REPLAY = "replay"  # a JetStream replay of a recording (see replay.py)
KINDS = (KIND_LIVE, KIND_API, KIND_CLI, KIND_REPLAY)

QUEUE_GROUP = "inference"  # one worker of the group takes each frame


def frame_subject(kind: str, ident: str) -> str:
    """frames.{kind}.{id}; `ident` may itself hold dots."""
    return f"{FRAMES_ROOT}.{kind}.{ident}"


def results_subject(kind: str, ident: str | None) -> str:
    """results.{kind}.{id}: where the answer to frames.{kind}.{id} is published
    (results.{kind} for a frame sent to frames.{kind} alone)."""
    if ident is None:
        return f"{RESULTS_ROOT}.{kind}"
    return f"{RESULTS_ROOT}.{kind}.{ident}"


def split_subject(subject: str) -> tuple[str, str | None]:
    """(kind, id) of frames.{kind}.{id} (or results.{kind}.{id}); id None when the
    subject has no token after the kind."""
    tokens = subject.split(".")
    if len(tokens) < 2:
        return "unknown", None
    return tokens[1], (".".join(tokens[2:]) if len(tokens) > 2 else None)


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

# --- Content types -----------------------------------------------------------------

CONTENT_TYPE_JSON = "application/json"  # every answer of the worker
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
WORKER_ERROR_CODES = (CODE_BAD_IMAGE, CODE_TOO_LARGE, CODE_INTERNAL, CODE_RATE_LIMITED)

# --- JetStream's own names (set by the NATS server, not by docs/asyncapi.yaml) -----

JS_PREFIX = "$JS."  # JetStream API and ack subjects: never a client's inbox
JS_ACK_PREFIX = "$JS.ACK."  # reply subject of a message a JetStream consumer delivered
JS_ACK = b"+ACK"  # body that acknowledges it
CONSUMER_CREATED_ADVISORY = "$JS.EVENT.ADVISORY.CONSUMER.CREATED.>"
CONSUMER_DELETED_ADVISORY = "$JS.EVENT.ADVISORY.CONSUMER.DELETED.>"

"""A frame batch (docs/asyncapi.yaml frameBatch, workerBatchReply): several frames for
one model-version in one NATS message, and the one reply that answers them all.

A message with a Frame-Count header is a batch: its body a msgpack array of that many
maps, one per frame, each with what a single frame's headers say (session, seq, kind,
content type, Top-K, deadline, traceparent) and its image (bin). `parse` turns it into
one BatchFrame per frame, each with the FrameMeta it would have had alone (its answer
goes to results.{kind}.{session}); anything it cannot read is a BadBatch, which the
worker answers with one `bad_batch` error for the whole message. `reply_body` packs
the frames' answers in their order: each the JSON bytes of its single reply, or nil
for a frame nobody waits for any more."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import msgpack

from . import contract
from .frame_meta import MAX_TOP_K, FrameMeta, is_plain_inbox

# A session as a results subject takes it: subject tokens without wildcards or blanks
# (a hostile one must not publish to results.live.* or results.live.>).
_SESSION_RE = re.compile(r"^[^\s.*>]{1,256}(\.[^\s.*>]{1,256}){0,7}$")


class BadBatch(ValueError):
    """A batch the worker cannot read; the message says why (for the log)."""


@dataclass(frozen=True)
class BatchFrame:
    meta: FrameMeta
    image: bytes


def frame_count(headers: Mapping[str, str] | None) -> str | None:
    """The Frame-Count header (names compared case-insensitively, as FrameMeta does);
    None: the message is a single frame."""
    for name, value in (headers or {}).items():
        if name.lower() == contract.HEADER_FRAME_COUNT.lower():
            return value
    return None


def parse(subject: str, headers: Mapping[str, str] | None, reply: str | None, body: bytes,
          max_frames: int) -> list[BatchFrame]:
    """The frames of a batch sent to `subject` (infer.{model}.{version}.batch.{id}), at
    most `max_frames` (what the worker advertises). Deadlines count only for a request
    someone waits on (a plain inbox), as for a single frame."""
    target = contract.split_infer_subject(subject)
    if target is None:
        raise BadBatch("not a frame subject")
    model, version = target[0], target[1]
    raw = (frame_count(headers) or "").strip()
    if not raw.isdigit() or not 2 <= int(raw) <= max_frames:
        raise BadBatch(f"{contract.HEADER_FRAME_COUNT} {raw[:16]!r} is not 2 to {max_frames}")
    count = int(raw)
    try:
        entries = msgpack.unpackb(body, raw=False, use_list=True, strict_map_key=True)
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise BadBatch(f"body is not msgpack: {type(exc).__name__}") from None
    if not isinstance(entries, list):
        raise BadBatch("body is not an array")
    if len(entries) != count:
        raise BadBatch(f"{len(entries)} frames, {contract.HEADER_FRAME_COUNT} {count}")
    waited = is_plain_inbox(reply)
    return [_frame(model, version, entry, i, waited) for i, entry in enumerate(entries)]


def _frame(model: str, version: int, entry: Any, i: int, waited: bool) -> BatchFrame:
    if not isinstance(entry, dict):
        raise BadBatch(f"frame {i} is not a map")
    session = entry.get(contract.BATCH_SESSION)
    seq = entry.get(contract.BATCH_SEQ)
    image = entry.get(contract.BATCH_IMAGE)
    kind = entry.get(contract.BATCH_KIND, contract.KIND_LIVE)
    if not isinstance(session, str) or not _SESSION_RE.match(session):
        raise BadBatch(f"frame {i}: no usable {contract.BATCH_SESSION}")
    if not _is_int(seq) or seq < 0:
        raise BadBatch(f"frame {i}: no usable {contract.BATCH_SEQ}")
    if not isinstance(image, bytes):
        raise BadBatch(f"frame {i}: {contract.BATCH_IMAGE} is not bin")
    if kind not in contract.BATCH_ENTRY_KINDS:
        raise BadBatch(f"frame {i}: {contract.BATCH_KIND} is not one of "
                       f"{'|'.join(contract.BATCH_ENTRY_KINDS)}")
    content_type = _text(entry, contract.BATCH_CONTENT_TYPE, i)
    traceparent = _text(entry, contract.BATCH_TRACEPARENT, i)
    top_k = _number(entry, contract.BATCH_TOP_K, i)
    deadline_ms = _number(entry, contract.BATCH_DEADLINE_MS, i)
    return BatchFrame(FrameMeta(
        subject=contract.infer_subject(model, version, kind, session),
        results_subject=contract.results_subject(kind, session),
        seq=seq, session=session, content_type=content_type, traceparent=traceparent,
        reply=None,  # answered in the batch's reply, not on its own
        # As a Top-K header: out of range is the worker's default.
        top_k=top_k if 1 <= top_k <= MAX_TOP_K else None,
        deadline=deadline_ms / 1000.0 if waited and deadline_ms > 0 else None,
    ), image)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(entry: Mapping[str, Any], key: str, i: int) -> str | None:
    """An optional string field; "" or absent: None."""
    value = entry.get(key, "")
    if not isinstance(value, str):
        raise BadBatch(f"frame {i}: {key} is not a string")
    return value.strip() or None


def _number(entry: Mapping[str, Any], key: str, i: int) -> int:
    """An optional integer field, >= 0; absent: 0."""
    value = entry.get(key, 0)
    if not _is_int(value) or value < 0:
        raise BadBatch(f"frame {i}: {key} is not an integer >= 0")
    return int(value)


def reply_body(answers: Sequence[bytes | None]) -> bytes:
    """The batch reply's body: each frame's single-reply JSON (bin) or nil, in order."""
    return msgpack.packb(list(answers), use_bin_type=True)


def reply_headers(count: int) -> dict[str, str]:
    return {contract.HEADER_CONTENT_TYPE: contract.CONTENT_TYPE_FRAME_BATCH,
            contract.HEADER_FRAME_COUNT: str(count)}


def request_body(frames: Sequence[Mapping[str, Any]]) -> bytes:
    """A batch body as the hub packs it (tests and bench/worker/per_frame.py)."""
    return msgpack.packb(list(frames), use_bin_type=True)


def request_headers(count: int, deadline_ms: int = 0) -> dict[str, str]:
    headers = {contract.HEADER_CONTENT_TYPE: contract.CONTENT_TYPE_FRAME_BATCH,
               contract.HEADER_FRAME_COUNT: str(count)}
    if deadline_ms:
        headers[contract.HEADER_FRAME_DEADLINE] = str(deadline_ms)
    return headers


def unpack_reply(body: bytes) -> list[bytes | None]:
    """A batch reply's answers (tests and the bench read replies with it)."""
    answers = msgpack.unpackb(body, raw=False)
    if not isinstance(answers, list):
        raise ValueError("a batch reply is an array")
    return answers

"""The frame's metadata (subject, headers) and the JSON the worker answers with."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from . import contract
from ..models.base import MODEL_NAME
from .predictions import Prediction


@dataclass(frozen=True)
class FrameMeta:
    subject: str  # frames.<kind>.<id>
    results_subject: str  # results.<kind>.<id>
    seq: int
    session: str
    content_type: str | None
    traceparent: str | None
    reply: str | None  # the inbox to respond to, None when there is none to answer
    top_k: int | None = None  # labels asked for with a Top-K header (1-10); None: the default
    # When the hub stops waiting for the answer (Unix seconds, from the Frame-Deadline
    # header); None: nobody set one (replays, the nats CLI), the frame never expires.
    deadline: float | None = None

    @classmethod
    def parse(cls, subject: str, headers: Mapping[str, str] | None, reply: str | None,
              target: str | None = None) -> "FrameMeta":
        """`target`: the subject the frame was delivered to when that differs from its
        own subject (a JetStream replay target, frames.replay.<name>): the answer goes
        to results.<kind>.<id> of the target."""
        # Header names compared case-insensitively: nats.go canonicalises them
        # (traceparent arrives as "Traceparent").
        h = {k.lower(): v for k, v in (headers or {}).items()}

        def header(name: str) -> str | None:
            return (h.get(name.lower()) or "").strip() or None

        kind, ident = contract.split_subject(subject)
        session = header(contract.HEADER_SESSION_ID) or (ident if ident is not None else kind)
        reply = reply if is_plain_inbox(reply) else None
        return cls(
            subject=subject,
            results_subject=contract.results_subject(*contract.split_subject(target or subject)),
            seq=_parse_seq(header(contract.HEADER_FRAME_SEQ)),
            session=session,
            content_type=header(contract.HEADER_CONTENT_TYPE),
            traceparent=header(contract.HEADER_TRACEPARENT),
            reply=reply,
            top_k=_parse_top_k(header(contract.HEADER_TOP_K)),
            # Only a live request has someone waiting: a replayed frame keeps the
            # deadline it was recorded with, long past.
            deadline=(_parse_deadline(header(contract.HEADER_FRAME_DEADLINE))
                      if reply is not None and target is None else None),
        )

    def expired(self, now: float) -> bool:
        """True once the hub has given up on this frame (`now`: Unix seconds)."""
        return self.deadline is not None and now >= self.deadline

    def response_headers(self) -> dict[str, str]:
        headers = {contract.HEADER_CONTENT_TYPE: contract.CONTENT_TYPE_JSON}
        if self.traceparent:
            headers[contract.HEADER_TRACEPARENT] = self.traceparent
        return headers


def is_plain_inbox(reply: str | None) -> bool:
    """A reply subject worth answering: not empty and not a JetStream ack ($JS.…)."""
    return bool(reply) and not str(reply).startswith(contract.JS_PREFIX)


MAX_TOP_K = 10


def _parse_top_k(raw: str | None) -> int | None:
    """The Top-K header (the hub's per-session "options"); out of range or unreadable: None."""
    try:
        k = int((raw or "").strip())
    except ValueError:
        return None
    return k if 1 <= k <= MAX_TOP_K else None


def _parse_deadline(raw: str | None) -> float | None:
    """Frame-Deadline: Unix time in milliseconds; unreadable or absent: None."""
    try:
        ms = int((raw or "").strip())
    except ValueError:
        return None
    return ms / 1000.0 if ms > 0 else None


def _parse_seq(raw: str | None) -> int:
    try:
        seq = int((raw or "").strip())
    except ValueError:
        return 0
    return seq if seq >= 0 else 0


def dumps(obj: Mapping[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def result_json(meta: FrameMeta, predictions: Sequence[Prediction], decode_ms: float,
                infer_ms: float, batch: int, worker: str) -> bytes:
    return dumps({
        "type": contract.TYPE_RESULT,
        "seq": meta.seq,
        "session": meta.session,
        "model": MODEL_NAME,
        "predictions": list(predictions),
        "timing": {"decode_ms": round(decode_ms, 2), "infer_ms": round(infer_ms, 2),
                   "batch": batch},
        "worker": worker,
    })


def error_json(meta: FrameMeta, code: str, message: str) -> bytes:
    return dumps({"type": contract.TYPE_ERROR, "seq": meta.seq, "session": meta.session,
                  "code": code, "message": message})


def service_metadata(worker: str, backend: str, batch_max: int,
                     runtime: Mapping[str, str] | None = None) -> dict[str, str]:
    """The micro service's metadata (strings only): which worker answers its ping, and
    who runs its model (`runtime`: RuntimeChoice.metadata(), docs/asyncapi.yaml)."""
    return {**(runtime or {}), "worker": worker, "model": MODEL_NAME, "backend": backend,
            "batch_max": str(batch_max)}

"""The frame's metadata: what its subject and headers say (who sent it, where the
answer goes, until when it is waited for, how many labels)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from . import contract


@dataclass(frozen=True)
class FrameMeta:
    subject: str  # infer.<model>.<version>.<kind>.<id> (frames.live.<id>: replayed)
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
        own subject (a JetStream replay target, infer.<model>.<version>.replay.<name>,
        for a frame recorded as frames.live.<id>): the answer goes to
        results.<kind>.<id> of the target."""
        # Header names compared case-insensitively: nats.go canonicalises them
        # (traceparent arrives as "Traceparent").
        h = {k.lower(): v for k, v in (headers or {}).items()}

        def header(name: str) -> str | None:
            return (h.get(name.lower()) or "").strip() or None

        kind, ident = kind_and_id(subject)
        session = header(contract.HEADER_SESSION_ID) or (ident if ident is not None else kind)
        reply = reply if is_plain_inbox(reply) else None
        return cls(
            subject=subject,
            results_subject=contract.results_subject(*kind_and_id(target or subject)),
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


def kind_and_id(subject: str) -> tuple[str, str | None]:
    """(kind, id) of infer.<model>.<version>.<kind>.<id>, or of frames.<kind>.<id> (the
    subject a recorded frame is stored and replayed with)."""
    frame = contract.split_infer_subject(subject)
    if frame is not None:
        return frame[2], frame[3]
    return contract.split_subject(subject)


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

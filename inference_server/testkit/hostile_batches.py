"""Hostile frame batches (wire/frame_batch.py), for the parser's tests and the real
worker's: each a Frame-Count message the worker must answer with one `bad_batch`
error and go on serving. The hub never sends one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack

from ..wire import contract as c

# A valid frame's fields; `image` is a few bytes (the batch is refused before decoding).
IMAGE = b"\xff\xd8\xff\xe0not really a jpeg"


def entry(session: Any = "s1", seq: Any = 1, **fields: Any) -> dict[str, Any]:
    """A frame's map (session and seq of any type: hostile ones too)."""
    out: dict[str, Any] = {c.BATCH_SESSION: session, c.BATCH_SEQ: seq,
                           c.BATCH_KIND: c.KIND_LIVE, c.BATCH_CONTENT_TYPE: c.CONTENT_TYPE_JPEG,
                           c.BATCH_TOP_K: 0, c.BATCH_DEADLINE_MS: 0, c.BATCH_TRACEPARENT: "",
                           c.BATCH_IMAGE: IMAGE}
    out.update(fields)
    return {k: v for k, v in out.items() if v is not _DROP}


_DROP = object()  # a field left out of an entry


def without(key: str) -> dict[str, Any]:
    return entry(**{key: _DROP})


def pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


@dataclass(frozen=True)
class HostileBatch:
    name: str
    count: str  # the Frame-Count header
    body: bytes

    def headers(self) -> dict[str, str]:
        return {c.HEADER_CONTENT_TYPE: c.CONTENT_TYPE_FRAME_BATCH,
                c.HEADER_FRAME_COUNT: self.count}


def catalogue(max_frames: int) -> list[HostileBatch]:
    """Batches a worker advertising `max_frames` frames per message refuses."""
    two = [entry("s1", 1), entry("s2", 2)]
    return [
        HostileBatch("not msgpack", "2", b"\xc1\xc1\xc1"),  # 0xc1: never used
        HostileBatch("empty body", "2", b""),
        HostileBatch("truncated", "2", pack(two)[:-5]),
        HostileBatch("trailing bytes", "2", pack(two) + b"\x00"),
        HostileBatch("a map, not an array", "2", pack({"a": 1})),
        HostileBatch("count too high for the body", "3", pack(two)),
        HostileBatch("count too low for the body", "2", pack(two + [entry("s3", 3)])),
        HostileBatch("more frames than advertised", str(max_frames + 1),
                     pack([entry(f"s{i}", i) for i in range(max_frames + 1)])),
        HostileBatch("count 1", "1", pack(two[:1])),
        HostileBatch("count not a number", "two", pack(two)),
        HostileBatch("count negative", "-2", pack(two)),
        HostileBatch("count huge", "99999999999999999999", pack(two)),
        HostileBatch("array of 4G claimed", "2", b"\xdd\xff\xff\xff\xff"),
        HostileBatch("nested 100k deep", "2", b"\x91" * 100_000 + b"\xc0"),
        HostileBatch("entry not a map", "2", pack([entry(), [1, 2]])),
        HostileBatch("entry without session", "2", pack([entry(), without(c.BATCH_SESSION)])),
        HostileBatch("entry without seq", "2", pack([entry(), without(c.BATCH_SEQ)])),
        HostileBatch("entry without image", "2", pack([entry(), without(c.BATCH_IMAGE)])),
        HostileBatch("image a string, not bin", "2",
                     pack([entry(), entry(**{c.BATCH_IMAGE: "ffd8ff"})])),
        HostileBatch("session a wildcard", "2", pack([entry(), entry(">")])),
        HostileBatch("session with a blank", "2", pack([entry(), entry("a b")])),
        HostileBatch("session empty", "2", pack([entry(), entry("")])),
        HostileBatch("session not a string", "2", pack([entry(), entry(7)])),
        HostileBatch("seq negative", "2", pack([entry(), entry(seq=-1)])),
        HostileBatch("seq a string", "2", pack([entry(), entry(seq="7")])),
        HostileBatch("seq a bool", "2", pack([entry(), entry(seq=True)])),
        HostileBatch("kind not live or api", "2",
                     pack([entry(), entry(**{c.BATCH_KIND: "replay.x"})])),
        HostileBatch("top_k a string", "2", pack([entry(), entry(**{c.BATCH_TOP_K: "3"})])),
        HostileBatch("deadline negative", "2",
                     pack([entry(), entry(**{c.BATCH_DEADLINE_MS: -5})])),
        HostileBatch("traceparent not a string", "2",
                     pack([entry(), entry(**{c.BATCH_TRACEPARENT: 12})])),
        HostileBatch("invalid UTF-8 in a string", "2",
                     pack([entry(), entry("s2", 2)]).replace(b"\xa2s2", b"\xa2\xff\xfe")),
    ]

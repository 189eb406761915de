from __future__ import annotations

import json

import numpy as np

from inference_server.wire import contract as c
from inference_server.wire.frame_meta import FrameMeta, is_plain_inbox
from inference_server.wire.replies import error_json, result_json, service_metadata, top_k


def test_meta_from_hub_headers() -> None:
    tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    # nats.go canonicalises header names: traceparent arrives as Traceparent.
    meta = FrameMeta.parse(c.infer_subject("m", 1, c.KIND_LIVE, "abc"),
                           {c.HEADER_SESSION_ID: "abc", c.HEADER_FRAME_SEQ: "12",
                            c.HEADER_CONTENT_TYPE: c.CONTENT_TYPE_JPEG,
                            c.HEADER_TRACEPARENT.title(): tp}, "_INBOX.x.y")
    assert meta.results_subject == c.results_subject(c.KIND_LIVE, "abc")
    assert meta.seq == 12 and meta.session == "abc"
    assert meta.content_type == c.CONTENT_TYPE_JPEG
    assert meta.traceparent and meta.traceparent.startswith("00-0af7")
    assert meta.reply == "_INBOX.x.y"
    assert meta.response_headers() == {c.HEADER_CONTENT_TYPE: c.CONTENT_TYPE_JSON,
                                       c.HEADER_TRACEPARENT: tp}


def test_meta_without_headers() -> None:
    meta = FrameMeta.parse(c.infer_subject("m", 1, c.KIND_CLI, "x"), None, "_INBOX.abc")
    assert (meta.seq, meta.session, meta.results_subject) == (
        0, "x", c.results_subject(c.KIND_CLI, "x"))
    assert meta.content_type is None and meta.traceparent is None
    assert meta.response_headers() == {c.HEADER_CONTENT_TYPE: c.CONTENT_TYPE_JSON}


def test_meta_odd_values() -> None:
    meta = FrameMeta.parse(c.infer_subject("m", 1, c.KIND_REPLAY, "run1.part2"),
                           {c.HEADER_FRAME_SEQ.lower(): "abc"}, "")
    assert meta.seq == 0
    assert meta.session == "run1.part2"
    assert meta.results_subject == c.results_subject(c.KIND_REPLAY, "run1.part2")
    assert meta.reply is None
    kind_only = FrameMeta.parse("infer.m.1.x", {c.HEADER_FRAME_SEQ: "-4"}, None)
    assert (kind_only.seq, kind_only.session) == (0, "x")
    assert kind_only.results_subject == c.results_subject("x", None)
    # A replayed frame keeps the subject it was recorded with.
    recorded = FrameMeta.parse(c.recorded_frame_stored_subject("s9"), None, None)
    assert (recorded.session, recorded.results_subject) == (
        "s9", c.results_subject(c.KIND_LIVE, "s9"))


def test_plain_inbox() -> None:
    assert is_plain_inbox("_INBOX.abc.def")
    assert is_plain_inbox("my.reply")
    assert not is_plain_inbox("")
    assert not is_plain_inbox(None)
    assert not is_plain_inbox(c.JS_ACK_PREFIX + "FRAMES.c.1.2.3.4.5")


def test_result_json_shape() -> None:
    meta = FrameMeta.parse(c.infer_subject("m", 1, c.KIND_LIVE, "s1"),
                           {c.HEADER_SESSION_ID: "s1", c.HEADER_FRAME_SEQ: "3"}, None)
    probs = np.zeros(1000, np.float32)
    probs[285], probs[281], probs[282] = 0.8, 0.1, 0.05
    labels = [f"c{i}" for i in range(1000)]
    body = json.loads(result_json(meta, top_k(probs, labels, 3), 1.234, 1.116, 9.876, 4, "w1",
                                  "birds", 7))
    assert list(body) == ["type", "seq", "session", "model", "version", "task", "predictions",
                          "timing", "worker"]
    assert body["type"] == c.TYPE_RESULT
    assert (body["model"], body["version"], body["task"]) == ("birds", 7,
                                                              c.TASK_CLASSIFICATION)
    assert (body["seq"], body["session"], body["worker"]) == (3, "s1", "w1")
    assert body["predictions"] == [
        {"label": "c285", "index": 285, "confidence": 0.8},
        {"label": "c281", "index": 281, "confidence": 0.1},
        {"label": "c282", "index": 282, "confidence": 0.05},
    ]
    assert body["timing"] == {"decode_ms": 1.23, "decode_cpu_ms": 1.12, "infer_ms": 9.88,
                              "batch": 4}


def test_top_k_ties_are_deterministic() -> None:
    probs = np.zeros(1000, np.float32)
    probs[7] = 0.5
    preds = top_k(probs, [str(i) for i in range(1000)], 3)
    assert [p["index"] for p in preds] == [7, 0, 1]


def test_error_json_and_service_metadata() -> None:
    meta = FrameMeta.parse(c.infer_subject("m", 1, c.KIND_LIVE, "s1"), {c.HEADER_FRAME_SEQ: "5"}, None)
    assert json.loads(error_json(meta, c.CODE_BAD_IMAGE, "not an image")) == {
        "type": c.TYPE_ERROR, "seq": 5, "session": "s1", "code": c.CODE_BAD_IMAGE,
        "message": "not an image"}
    assert service_metadata("w1", 8, ["b@2", "a@1"], {"c@3": "no model file"}) == {
        c.META_WORKER: "w1", c.META_BATCH_MAX: "8", c.META_MODELS: "a@1 b@2",
        c.META_MODEL_ERRORS: '{"c@3": "no model file"}'}
    assert service_metadata("w1", 8, [], {})[c.META_MODEL_ERRORS] == "{}"


def test_replay_subjects() -> None:
    from inference_server.serving.replay import is_replay_target, parse_ack_subject

    target = c.infer_subject("m", 1, c.KIND_REPLAY, "r1")
    assert is_replay_target(target)
    assert not is_replay_target(c.infer_subject("m", 1, c.KIND_REPLAY, "*"))
    assert not is_replay_target(c.endpoint_subject("m", 1))
    assert not is_replay_target("infer.m.1.replay")
    assert not is_replay_target(c.recorded_frame_stored_subject("x"))
    assert not is_replay_target(c.results_subject(c.KIND_REPLAY, "r1"))
    assert not is_replay_target(None)
    ack = c.JS_ACK_PREFIX
    assert parse_ack_subject(ack + "FRAMES.replay-r1.1.12.3.1795477074398184951.0") == (
        "FRAMES", "replay-r1")
    assert parse_ack_subject(
        ack + "hub.ACCHASH.FRAMES.replay-r1.1.12.3.1795477074398184951.0.tok") == (
        "FRAMES", "replay-r1")
    assert parse_ack_subject("_INBOX.abc") is None
    assert parse_ack_subject(ack + "too.short") is None
    meta = FrameMeta.parse(c.recorded_frame_stored_subject("sess"),
                           {c.HEADER_SESSION_ID: "sess", c.HEADER_FRAME_SEQ: "4"},
                           ack + "FRAMES.r.1.1.1.1.0", target=target)
    assert (meta.results_subject, meta.session, meta.seq, meta.reply) == (
        c.results_subject(c.KIND_REPLAY, "r1"), "sess", 4, None)


def test_top_k_header() -> None:
    def meta(value: str | None) -> FrameMeta:
        headers = {c.HEADER_TOP_K: value} if value is not None else None
        return FrameMeta.parse(c.infer_subject("m", 1, c.KIND_LIVE, "s"), headers, None)

    assert meta("5").top_k == 5
    assert meta(" 10 ").top_k == 10
    assert meta(None).top_k is None
    for bad in ("0", "11", "-1", "five", ""):
        assert meta(bad).top_k is None, bad

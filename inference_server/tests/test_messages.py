from __future__ import annotations

import json

import numpy as np

from inference_server.messages import (FrameMeta, error_json, is_plain_inbox, ping_json,
                                       result_json)
from inference_server.predictions import top_k


def test_meta_from_hub_headers() -> None:
    tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    meta = FrameMeta.parse("frames.live.abc",
                           {"Session-Id": "abc", "Frame-Seq": "12", "Content-Type": "image/jpeg",
                            "Traceparent": tp}, "_INBOX.x.y")
    assert meta.results_subject == "results.live.abc"
    assert meta.seq == 12 and meta.session == "abc"
    assert meta.content_type == "image/jpeg"
    assert meta.traceparent and meta.traceparent.startswith("00-0af7")
    assert meta.reply == "_INBOX.x.y"
    assert meta.response_headers()["traceparent"] == meta.traceparent


def test_meta_without_headers() -> None:
    meta = FrameMeta.parse("frames.cli.x", None, "_INBOX.abc")
    assert (meta.seq, meta.session, meta.results_subject) == (0, "x", "results.cli.x")
    assert meta.content_type is None and meta.traceparent is None
    assert "traceparent" not in meta.response_headers()


def test_meta_odd_values() -> None:
    meta = FrameMeta.parse("frames.replay.run1.part2", {"frame-seq": "abc"}, "")
    assert meta.seq == 0
    assert meta.session == "run1.part2"
    assert meta.results_subject == "results.replay.run1.part2"
    assert meta.reply is None
    assert FrameMeta.parse("frames.x", {"Frame-Seq": "-4"}, None).seq == 0


def test_plain_inbox() -> None:
    assert is_plain_inbox("_INBOX.abc.def")
    assert is_plain_inbox("my.reply")
    assert not is_plain_inbox("")
    assert not is_plain_inbox(None)
    assert not is_plain_inbox("$JS.ACK.FRAMES.c.1.2.3.4.5")


def test_result_json_shape() -> None:
    meta = FrameMeta.parse("frames.live.s1", {"Session-Id": "s1", "Frame-Seq": "3"}, None)
    probs = np.zeros(1000, np.float32)
    probs[285], probs[281], probs[282] = 0.8, 0.1, 0.05
    labels = [f"c{i}" for i in range(1000)]
    body = json.loads(result_json(meta, top_k(probs, labels, 3), 1.234, 9.876, 4, "w1"))
    assert list(body) == ["type", "seq", "session", "model", "predictions", "timing", "worker"]
    assert body["type"] == "result" and body["model"] == "mobilenet_v2"
    assert (body["seq"], body["session"], body["worker"]) == (3, "s1", "w1")
    assert body["predictions"] == [
        {"label": "c285", "index": 285, "confidence": 0.8},
        {"label": "c281", "index": 281, "confidence": 0.1},
        {"label": "c282", "index": 282, "confidence": 0.05},
    ]
    assert body["timing"] == {"decode_ms": 1.23, "infer_ms": 9.88, "batch": 4}


def test_top_k_ties_are_deterministic() -> None:
    probs = np.zeros(1000, np.float32)
    probs[7] = 0.5
    preds = top_k(probs, [str(i) for i in range(1000)], 3)
    assert [p["index"] for p in preds] == [7, 0, 1]


def test_error_and_ping_json() -> None:
    meta = FrameMeta.parse("frames.live.s1", {"Frame-Seq": "5"}, None)
    assert json.loads(error_json(meta, "bad_image", "not an image")) == {
        "type": "error", "seq": 5, "session": "s1", "code": "bad_image",
        "message": "not an image"}
    assert json.loads(ping_json("w1", "tflite", 8)) == {
        "worker": "w1", "model": "mobilenet_v2", "backend": "tflite", "batch_max": 8}


def test_replay_subjects() -> None:
    from inference_server.replay import is_replay_target, parse_ack_subject

    assert is_replay_target("frames.replay.r1")
    assert not is_replay_target("frames.replay.*")
    assert not is_replay_target("frames.>")
    assert not is_replay_target("frames.x")
    assert not is_replay_target("results.replay.r1")
    assert not is_replay_target(None)
    assert parse_ack_subject("$JS.ACK.FRAMES.replay-r1.1.12.3.1795477074398184951.0") == (
        "FRAMES", "replay-r1")
    assert parse_ack_subject(
        "$JS.ACK.hub.ACCHASH.FRAMES.replay-r1.1.12.3.1795477074398184951.0.tok") == (
        "FRAMES", "replay-r1")
    assert parse_ack_subject("_INBOX.abc") is None
    assert parse_ack_subject("$JS.ACK.too.short") is None
    meta = FrameMeta.parse("frames.live.sess", {"Session-Id": "sess", "Frame-Seq": "4"},
                           "$JS.ACK.FRAMES.r.1.1.1.1.0", target="frames.replay.r1")
    assert (meta.results_subject, meta.session, meta.seq, meta.reply) == (
        "results.replay.r1", "sess", 4, None)


def test_top_k_header() -> None:
    def meta(value: str | None) -> FrameMeta:
        headers = {"Top-K": value} if value is not None else None
        return FrameMeta.parse("frames.live.s", headers, None)

    assert meta("5").top_k == 5
    assert meta(" 10 ").top_k == 10
    assert meta(None).top_k is None
    for bad in ("0", "11", "-1", "five", ""):
        assert meta(bad).top_k is None, bad

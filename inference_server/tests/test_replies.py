"""The worker's result bodies (replies.py): the same bytes as building the dict and
json.dumps (messages.result_json of predictions.top_k), and the same top k as a stable
sort of the whole row."""

from __future__ import annotations

import json

import numpy as np
import pytest

from inference_server.wire import contract as c
from inference_server.wire.frame_meta import FrameMeta
from inference_server.wire.replies import result_json, top_indices, top_k
from inference_server.wire.replies import Replies

LABELS = [f"class {i}" for i in range(1000)]
# Labels and sessions JSON must escape, or keeps as they are (ensure_ascii=False).
LABELS[7] = 'a "quoted" \\ label'
LABELS[8] = "Ünïcödé 猫 \u2028"
LABELS[9] = "tab\there\nnewline"


def rows() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    out = []
    for kind in range(40):
        p = rng.random(1000).astype(np.float32)
        if kind % 4 == 1:
            p = (np.round(p * 4) / 4).astype(np.float32)  # many ties
        elif kind % 4 == 2:
            p[:] = 0.001  # all tied
        elif kind % 4 == 3:
            p[[7, 8, 9]] = 5.0  # the labels that need escaping, tied first
        out.append(p / p.sum())
    return out


@pytest.mark.parametrize("k", [1, 3, 5, 10, 17, 1000])
def test_top_indices_equal_a_stable_sort(k: int) -> None:
    for p in rows():
        assert top_indices(p, k) == np.argsort(-p, kind="stable")[:k].tolist()


def test_top_indices_with_nan_and_inf_equal_a_stable_sort() -> None:
    p = np.linspace(0, 1, 1000, dtype=np.float32)
    for bad in ([5, 999], [0]):
        q = p.copy()
        q[bad] = np.nan
        assert top_indices(q, 5) == np.argsort(-q, kind="stable")[:5].tolist()
    q = np.full(10, -np.inf, np.float32)
    q[3] = 0.5
    assert top_indices(q, 4) == np.argsort(-q, kind="stable")[:4].tolist() == [3, 0, 1, 2]


@pytest.mark.parametrize("session", ["s1", 'we"ird\\session', "séance 🙂"])
@pytest.mark.parametrize("k", [1, 3, 10])
def test_result_bytes_equal_json_dumps(session: str, k: int) -> None:
    replies = Replies(LABELS, "worker-1", "m", 3)
    meta = FrameMeta.parse(c.infer_subject("m", 3, c.KIND_LIVE, "abc"), {"Session-Id": session, "Frame-Seq": "42"},
                           "_INBOX.x")
    for i, p in enumerate(rows()):
        decode_ms, infer_ms, batch = 0.1 * i + 1.23456, 7.0 + i / 3, 1 + i % 8
        decode_cpu_ms = decode_ms / (1 + i)
        body, top1 = replies.result(meta, p, k, decode_ms, decode_cpu_ms, infer_ms, batch)
        preds = top_k(p, LABELS, k)
        assert body == result_json(meta, preds, decode_ms, decode_cpu_ms, infer_ms, batch,
                                   "worker-1", "m", 3)
        assert top1 == preds[0]["label"]
        assert json.loads(body)["session"] == session


def test_non_finite_figures_still_give_the_json_of_before() -> None:
    replies = Replies(LABELS, "w", "m", 3)
    meta = FrameMeta.parse(c.infer_subject("m", 3, c.KIND_LIVE, "abc"), {"Frame-Seq": "1"}, None)
    p = np.zeros(1000, np.float32)
    p[3] = np.inf
    body, top1 = replies.result(meta, p, 3, 1.0, 0.5, 2.0, 1)
    assert body == result_json(meta, top_k(p, LABELS, 3), 1.0, 0.5, 2.0, 1, "w", "m", 3)
    assert top1 == "class 3"

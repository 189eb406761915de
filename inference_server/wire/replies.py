"""The result JSON of a frame, written without building a dict per frame.

Each class's `{"label":…,"index":…,"confidence":` is encoded once, at start; a frame's
answer is those pieces joined with its figures. The bytes are the same as
messages.result_json(meta, top_k(…), …) gives (tests/test_replies.py compares them),
for about a third of its CPU (bench/worker/per_frame.py)."""

from __future__ import annotations

import json
import math
from typing import Sequence

import numpy as np

from . import contract
from ..models.base import MODEL_NAME
from .frame_meta import FrameMeta, result_json
from .predictions import top_indices, top_k

_dumps_str = json.encoder.encode_basestring  # what json.dumps(ensure_ascii=False) uses


class Replies:
    """Result bodies for one worker and one model's labels."""

    def __init__(self, labels: Sequence[str], worker: str) -> None:
        self.labels = labels
        self.worker = worker
        self._prediction_heads = [
            f'{{"label":{_dumps_str(label)},"index":{i},"confidence":'
            for i, label in enumerate(labels)]
        self._head = f'{{"type":{_dumps_str(contract.TYPE_RESULT)},"seq":'
        self._model = f',"model":{_dumps_str(MODEL_NAME)},"predictions":['
        self._tail = f'}},"worker":{_dumps_str(worker)}}}'

    def result(self, meta: FrameMeta, probs: np.ndarray, k: int, decode_ms: float,
               infer_ms: float, batch: int) -> tuple[bytes, str]:
        """The body of a result with the `k` most likely classes, and the top label."""
        idx = top_indices(probs, k)
        confidences = [round(float(probs[i]), 4) for i in idx]
        decode_ms, infer_ms = round(decode_ms, 2), round(infer_ms, 2)
        if not all(map(math.isfinite, (*confidences, decode_ms, infer_ms))):
            # json writes NaN and Infinity where repr writes nan and inf: leave it to json.
            return (result_json(meta, top_k(probs, self.labels, k), decode_ms, infer_ms,
                                batch, self.worker), self.labels[idx[0]])
        heads = self._prediction_heads
        predictions = "},".join(heads[i] + repr(c) for i, c in zip(idx, confidences))
        body = (f'{self._head}{meta.seq},"session":{_dumps_str(meta.session)}{self._model}'
                f'{predictions}}}],"timing":{{"decode_ms":{decode_ms!r},'
                f'"infer_ms":{infer_ms!r},"batch":{batch}{self._tail}')
        return body.encode("utf-8"), self.labels[idx[0]]

"""What the worker answers: a frame's result (the most likely classes of its row of
probabilities) or error, and the micro service's metadata, as JSON.

Replies writes a result without building a dict per frame: each class's
`{"label":…,"index":…,"confidence":` is encoded once, at start; a frame's answer is
those pieces joined with its figures. The bytes are the same as
result_json(meta, top_k(…), …) gives (tests/test_replies.py compares them), for about a
third of its CPU (bench/worker/per_frame.py)."""

from __future__ import annotations

import json
import math
from typing import Any, Mapping, Sequence, TypedDict

import numpy as np

from . import contract
from .frame_meta import FrameMeta

_dumps_str = json.encoder.encode_basestring  # what json.dumps(ensure_ascii=False) uses


class Prediction(TypedDict):
    label: str
    index: int
    confidence: float


# Up to this k (the Top-K header allows 10) the argmax passes are faster than sorting.
_ARGMAX_UP_TO = 16


def top_indices(probs: np.ndarray, k: int) -> list[int]:
    """The indices of the k most likely classes, best first; ties keep the lower index
    first, so the answer is deterministic. The same as a stable sort of the whole row,
    for a third of its CPU: k passes of argmax (which takes the first of equal values),
    each taking its class out; a row with NaN or -inf among them is sorted instead."""
    if k > _ARGMAX_UP_TO:  # k passes over the row would cost more than one sort
        return np.argsort(-np.asarray(probs, dtype=np.float64).ravel(),
                          kind="stable")[:k].tolist()
    work = np.array(probs, dtype=np.float64).ravel()  # a copy, exact for float32
    out = []
    for _ in range(min(k, work.size)):
        i = int(work.argmax())
        if not work[i] > -np.inf:  # NaN (argmax takes it first) or -inf left
            row = np.asarray(probs, dtype=np.float64).ravel()
            return np.argsort(-row, kind="stable")[:k].tolist()
        out.append(i)
        work[i] = -np.inf
    return out


def top_k(probs: np.ndarray, labels: Sequence[str], k: int) -> list[Prediction]:
    """The k most likely classes, best first (ties: the lower index first)."""
    return [
        {"label": labels[i], "index": int(i), "confidence": round(float(probs[i]), 4)}
        for i in top_indices(probs, k)
    ]


def dumps(obj: Mapping[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def result_json(meta: FrameMeta, predictions: Sequence[Prediction], decode_ms: float,
                decode_cpu_ms: float, infer_ms: float, batch: int, worker: str, model: str,
                version: int, task: str = contract.TASK_CLASSIFICATION) -> bytes:
    return dumps({
        "type": contract.TYPE_RESULT,
        "seq": meta.seq,
        "session": meta.session,
        "model": model,
        "version": version,
        "task": task,
        "predictions": list(predictions),
        "timing": {"decode_ms": round(decode_ms, 2), "decode_cpu_ms": round(decode_cpu_ms, 2),
                   "infer_ms": round(infer_ms, 2), "batch": batch},
        "worker": worker,
    })


def error_json(meta: FrameMeta, code: str, message: str) -> bytes:
    return dumps({"type": contract.TYPE_ERROR, "seq": meta.seq, "session": meta.session,
                  "code": code, "message": message})


def service_metadata(worker: str, batch_max: int, models: Sequence[str],
                     model_errors: Mapping[str, str]) -> dict[str, str]:
    """The micro service's metadata (strings only, docs/asyncapi.yaml ServiceMetadata):
    which worker answers its ping, the model-versions it serves now (`models`:
    name@version each) and those that failed to load, with why."""
    return {contract.META_WORKER: worker, contract.META_BATCH_MAX: str(batch_max),
            contract.META_MODELS: " ".join(sorted(models)),
            contract.META_MODEL_ERRORS: json.dumps(dict(sorted(model_errors.items())),
                                                   ensure_ascii=False)}


class Replies:
    """Result bodies for one worker and one model-version (its labels)."""

    def __init__(self, labels: Sequence[str], worker: str, model: str, version: int,
                 task: str = contract.TASK_CLASSIFICATION) -> None:
        self.labels = labels
        self.worker = worker
        self.model, self.version, self.task = model, version, task
        self._prediction_heads = [
            f'{{"label":{_dumps_str(label)},"index":{i},"confidence":'
            for i, label in enumerate(labels)]
        self._head = f'{{"type":{_dumps_str(contract.TYPE_RESULT)},"seq":'
        self._model = (f',"model":{_dumps_str(model)},"version":{int(version)},'
                       f'"task":{_dumps_str(task)},"predictions":[')
        self._tail = f'}},"worker":{_dumps_str(worker)}}}'

    def result(self, meta: FrameMeta, probs: np.ndarray, k: int, decode_ms: float,
               decode_cpu_ms: float, infer_ms: float, batch: int) -> tuple[bytes, str]:
        """The body of a result with the `k` most likely classes, and the top label."""
        idx = top_indices(probs, k)
        confidences = [round(float(probs[i]), 4) for i in idx]
        decode_ms, decode_cpu_ms = round(decode_ms, 2), round(decode_cpu_ms, 2)
        infer_ms = round(infer_ms, 2)
        if not all(map(math.isfinite, (*confidences, decode_ms, decode_cpu_ms, infer_ms))):
            # json writes NaN and Infinity where repr writes nan and inf: leave it to json.
            return (result_json(meta, top_k(probs, self.labels, k), decode_ms, decode_cpu_ms,
                                infer_ms, batch, self.worker, self.model, self.version,
                                self.task),
                    self.labels[idx[0]])
        heads = self._prediction_heads
        predictions = "},".join(heads[i] + repr(c) for i, c in zip(idx, confidences))
        body = (f'{self._head}{meta.seq},"session":{_dumps_str(meta.session)}{self._model}'
                f'{predictions}}}],"timing":{{"decode_ms":{decode_ms!r},'
                f'"decode_cpu_ms":{decode_cpu_ms!r},"infer_ms":{infer_ms!r},'
                f'"batch":{batch}{self._tail}')
        return body.encode("utf-8"), self.labels[idx[0]]

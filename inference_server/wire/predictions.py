"""Turn a row of class probabilities into the result's `predictions` list."""

from __future__ import annotations

from typing import Sequence, TypedDict

import numpy as np


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

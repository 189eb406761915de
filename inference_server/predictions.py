"""Turn a row of class probabilities into the result's `predictions` list."""

from __future__ import annotations

from typing import Sequence, TypedDict

import numpy as np


class Prediction(TypedDict):
    label: str
    index: int
    confidence: float


def top_k(probs: np.ndarray, labels: Sequence[str], k: int) -> list[Prediction]:
    """The k most likely classes, best first. Ties keep the lower index first."""
    k = min(k, probs.shape[-1])
    # argpartition is O(n); then sort only the k winners (stable on -p, then index).
    idx = np.argpartition(-probs, k - 1)[:k]
    idx = sorted(idx.tolist(), key=lambda i: (-float(probs[i]), i))
    return [
        {"label": labels[i], "index": int(i), "confidence": round(float(probs[i]), 4)}
        for i in idx
    ]

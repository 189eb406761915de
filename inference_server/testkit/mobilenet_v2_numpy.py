"""The folded MobileNetV2 of models/mobilenet_v2/layout.py computed with numpy: the
reference that checks the layout (Keras' asymmetric padding, the folded batch
normalisation) against Keras itself on this machine, without torch, and a real model
function for the bucket tests."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from inference_server.models.mobilenet_v2.layout import LAYOUT, Conv


def _conv(x: np.ndarray, conv: Conv, t: Mapping[str, np.ndarray]) -> np.ndarray:
    """x: (N, H, W, C) float32."""
    w, b = t[f"{conv.name}.weight"], t[f"{conv.name}.bias"]
    if conv.kernel == 1:
        y = x @ w[:, :, 0, 0].T
    else:
        left, right, top, bottom = conv.pad
        xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
        s, k = conv.stride, conv.kernel
        ho = (xp.shape[1] - k) // s + 1
        wo = (xp.shape[2] - k) // s + 1
        y = np.zeros((x.shape[0], ho, wo, conv.cout), np.float32)
        for dy in range(k):
            for dx in range(k):
                patch = xp[:, dy:dy + s * (ho - 1) + 1:s, dx:dx + s * (wo - 1) + 1:s, :]
                if conv.depthwise:
                    y += patch * w[:, 0, dy, dx]
                else:
                    y += patch @ w[:, :, dy, dx].T
    y = y + b
    return np.clip(y, 0.0, 6.0) if conv.relu6 else y


def features(tensors: Mapping[str, np.ndarray], images: np.ndarray,
             blocks: int | None = None) -> np.ndarray:
    """(N, 224, 224, 3) uint8 RGB -> (N, 7, 7, 1280), Keras' layer out_relu; or with
    `blocks` the output of the first that many blocks (Keras' block_<i>_add or
    block_<i>_project_BN), where a wrong padding shows at every border position
    (deeper in a random network the signal fades, and pooling averages it away)."""
    x = images.astype(np.float32) / 127.5 - 1.0
    x = _conv(x, LAYOUT.stem, tensors)
    for i, block in enumerate(LAYOUT.blocks):
        if blocks is not None and i == blocks:
            return x
        inp = x
        if block.expand is not None:
            x = _conv(x, block.expand, tensors)
        x = _conv(x, block.depthwise, tensors)
        x = _conv(x, block.project, tensors)
        if block.residual:
            x = x + inp
    return _conv(x, LAYOUT.head, tensors)


def forward(tensors: Mapping[str, np.ndarray], images: np.ndarray) -> np.ndarray:
    """(N, 224, 224, 3) uint8 RGB -> (N, 1000) probabilities, preprocessing included."""
    x = features(tensors, images)
    logits = x.mean(axis=(1, 2)) @ tensors["predictions.weight"].T + tensors["predictions.bias"]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)

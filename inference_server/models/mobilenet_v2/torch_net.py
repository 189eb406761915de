"""The folded MobileNetV2 of layout.py as a torch module (imports torch:
only the torch engine imports this file).

Input: uint8 RGB (N, 224, 224, 3) on the device, as the frames arrive; the module
permutes it (a view whose strides are channels-last already), converts it to the
compute dtype and scales it to [-1, 1] as mobilenet_v2.preprocess_input does, so the
host sends a quarter of the bytes of float32 and the arithmetic happens on the GPU.
Output: float32 class probabilities (N, 1000).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .layout import LAYOUT, Conv, Layout


class FoldedConv(nn.Module):
    """Convolution with the batch normalisation folded into weight and bias, Keras'
    zero padding (explicit where it is asymmetric), ReLU6 where Keras has one."""

    def __init__(self, spec: Conv, weight: torch.Tensor, bias: torch.Tensor) -> None:
        super().__init__()
        left, right, top, bottom = spec.pad
        self.symmetric = left == right == top == bottom
        self.conv = nn.Conv2d(spec.cin, spec.cout, spec.kernel, spec.stride,
                              padding=left if self.symmetric else 0, groups=spec.groups,
                              bias=True)
        with torch.no_grad():
            self.conv.weight.copy_(weight)
            self.conv.bias.copy_(bias)
        self.pad = (left, right, top, bottom)
        self.relu6 = spec.relu6

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.symmetric:
            x = F.pad(x, self.pad)
        x = self.conv(x)
        return F.hardtanh(x, 0.0, 6.0) if self.relu6 else x


class InvertedResidual(nn.Module):
    def __init__(self, convs: list[FoldedConv], residual: bool) -> None:
        super().__init__()
        self.convs = nn.Sequential(*convs)
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.convs(x)
        return x + y if self.residual else y


class MobileNetV2(nn.Module):
    def __init__(self, tensors: Mapping[str, np.ndarray], layout: Layout = LAYOUT) -> None:
        super().__init__()

        def folded(spec: Conv) -> FoldedConv:
            return FoldedConv(spec, torch.from_numpy(np.ascontiguousarray(
                tensors[f"{spec.name}.weight"])), torch.from_numpy(np.ascontiguousarray(
                    tensors[f"{spec.name}.bias"])))

        self.stem = folded(layout.stem)
        self.blocks = nn.Sequential(*[
            InvertedResidual([folded(c) for c in (b.expand, b.depthwise, b.project)
                              if c is not None], b.residual) for b in layout.blocks])
        self.head = folded(layout.head)
        self.classifier = nn.Linear(layout.features, len(tensors[f"{layout.dense}.bias"]))
        with torch.no_grad():
            self.classifier.weight.copy_(torch.from_numpy(tensors[f"{layout.dense}.weight"]))
            self.classifier.bias.copy_(torch.from_numpy(tensors[f"{layout.dense}.bias"]))

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        """rgb: uint8 (N, H, W, 3) -> float32 probabilities (N, classes)."""
        dtype = self.classifier.weight.dtype
        x = rgb.permute(0, 3, 1, 2).to(dtype) * (1.0 / 127.5) - 1.0  # channels-last strides
        x = self.blocks(self.stem(x.contiguous(memory_format=torch.channels_last)))
        x = self.head(x).mean(dim=(2, 3))
        return torch.softmax(self.classifier(x).float(), dim=1)

"""MobileNetV2 (alpha 1.0, 224x224) exactly as keras.applications builds it, as data:
every convolution by its Keras layer name, with its batch normalisation folded in.

This file needs neither Keras nor torch: the converter (convert.py, where
Keras is installed) writes the folded tensors to an .npz file with it, and the torch
engine (torch_net.py, on the GPU machine, no Keras there) builds its network
from it. The tensors are in torch's layout: a convolution's weight is
(out, in / groups, kh, kw) and its bias the folded batch normalisation.

Two details of Keras' network that a stock torch MobileNetV2 gets wrong:
- a stride-2 3x3 convolution pads asymmetrically: 0 rows/columns before, 1 after
  (TensorFlow's 'same' for an even input; Keras' ZeroPadding2D(correct_pad) in the
  blocks), where torch's padding=1 pads 1 on both sides and shifts every window;
- batch normalisation uses epsilon 1e-3 (torch's default is 1e-5).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

import numpy as np

INPUT_SIZE = 224
NUM_CLASSES = 1000
BN_EPSILON = 1e-3
# Written into every converted file; a file of another format is refused.
FORMAT = "webcamhub/mobilenet_v2/keras-folded/v1"
FORMAT_KEY = "__format__"
LABELS_KEY = "__labels__"  # optional: the 1000 class names, when known at conversion
SOURCE_KEY = "__source__"  # what was converted (file hash, "keras-random seed 0", ...)


class WeightsError(ValueError):
    """Weights that do not fit this network; the message says which tensor and why."""


@dataclass(frozen=True)
class Conv:
    """A convolution followed by its batch normalisation (folded) and maybe ReLU6."""

    name: str  # the Keras Conv2D / DepthwiseConv2D layer
    bn: str  # the Keras BatchNormalization layer after it
    cin: int
    cout: int
    kernel: int
    stride: int
    depthwise: bool
    relu6: bool

    @property
    def pad(self) -> tuple[int, int, int, int]:
        """(left, right, top, bottom) zero padding, as Keras pads: 'same' at stride 1,
        (0, 1) at stride 2 (224 and 112 etc. are even)."""
        if self.kernel == 1:
            return (0, 0, 0, 0)
        if self.stride == 1:
            half = self.kernel // 2
            return (half, half, half, half)
        return (0, 1, 0, 1)

    @property
    def groups(self) -> int:
        return self.cin if self.depthwise else 1

    @property
    def weight_shape(self) -> tuple[int, int, int, int]:
        return (self.cout, self.cin // self.groups, self.kernel, self.kernel)

    @property
    def keras_kernel_shape(self) -> tuple[int, int, int, int]:
        if self.depthwise:
            return (self.kernel, self.kernel, self.cin, 1)
        return (self.kernel, self.kernel, self.cin, self.cout)


@dataclass(frozen=True)
class Block:
    """An inverted residual block: expand (1x1, absent in the first), depthwise 3x3,
    project (1x1, linear), and the shortcut when shapes allow."""

    expand: Conv | None
    depthwise: Conv
    project: Conv

    @property
    def residual(self) -> bool:
        return (self.depthwise.stride == 1
                and (self.expand.cin if self.expand else self.depthwise.cin) == self.project.cout)


def _make_divisible(v: float, divisor: int = 8) -> int:
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


# (expansion, output channels, stride) of blocks 0..16, as keras.applications lists them.
_BLOCKS = [(1, 16, 1),
           (6, 24, 2), (6, 24, 1),
           (6, 32, 2), (6, 32, 1), (6, 32, 1),
           (6, 64, 2), (6, 64, 1), (6, 64, 1), (6, 64, 1),
           (6, 96, 1), (6, 96, 1), (6, 96, 1),
           (6, 160, 2), (6, 160, 1), (6, 160, 1),
           (6, 320, 1)]


@dataclass(frozen=True)
class Layout:
    stem: Conv
    blocks: tuple[Block, ...]
    head: Conv
    dense: str = "predictions"
    features: int = 1280

    def convs(self) -> Iterator[Conv]:
        yield self.stem
        for block in self.blocks:
            if block.expand is not None:
                yield block.expand
            yield block.depthwise
            yield block.project
        yield self.head

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Every tensor of a converted file, by key, with its shape."""
        out: dict[str, tuple[int, ...]] = {}
        for conv in self.convs():
            out[f"{conv.name}.weight"] = conv.weight_shape
            out[f"{conv.name}.bias"] = (conv.cout,)
        out[f"{self.dense}.weight"] = (NUM_CLASSES, self.features)
        out[f"{self.dense}.bias"] = (NUM_CLASSES,)
        return out


def mobilenet_v2_layout() -> Layout:
    stem = Conv("Conv1", "bn_Conv1", 3, 32, 3, 2, depthwise=False, relu6=True)
    blocks = []
    cin = 32
    for block_id, (expansion, filters, stride) in enumerate(_BLOCKS):
        cout = _make_divisible(filters)
        prefix = f"block_{block_id}_" if block_id else "expanded_conv_"
        expand = None
        mid = cin
        if block_id:
            mid = expansion * cin
            expand = Conv(prefix + "expand", prefix + "expand_BN", cin, mid, 1, 1,
                          depthwise=False, relu6=True)
        depthwise = Conv(prefix + "depthwise", prefix + "depthwise_BN", mid, mid, 3, stride,
                         depthwise=True, relu6=True)
        project = Conv(prefix + "project", prefix + "project_BN", mid, cout, 1, 1,
                       depthwise=False, relu6=False)
        blocks.append(Block(expand, depthwise, project))
        cin = cout
    head = Conv("Conv_1", "Conv_1_bn", cin, 1280, 1, 1, depthwise=False, relu6=True)
    return Layout(stem, tuple(blocks), head)


LAYOUT = mobilenet_v2_layout()


def fold_keras_weights(layers: Mapping[str, list[np.ndarray]],
                       layout: Layout = LAYOUT) -> dict[str, np.ndarray]:
    """{Keras layer name: layer.get_weights()} -> the folded tensors, by key.

    Every Keras layer with weights must be used and every tensor the network needs
    must be there with Keras' shape: a model that is not this MobileNetV2 is refused
    with the first layer that differs."""
    used: set[str] = set()

    def take(name: str, count: int) -> list[np.ndarray]:
        if name not in layers:
            raise WeightsError(f"the Keras model has no layer {name!r}: not a MobileNetV2 "
                               "(alpha 1.0, 224x224, 1000 classes)")
        weights = [np.asarray(w, dtype=np.float64) for w in layers[name]]
        if len(weights) != count:
            raise WeightsError(f"Keras layer {name!r} has {len(weights)} weight tensors, "
                               f"expected {count}")
        used.add(name)
        return weights

    out: dict[str, np.ndarray] = {}
    for conv in layout.convs():
        (kernel,) = take(conv.name, 1)
        if kernel.shape != conv.keras_kernel_shape:
            raise WeightsError(f"Keras layer {conv.name!r} has a kernel of shape "
                               f"{kernel.shape}, expected {conv.keras_kernel_shape}")
        gamma, beta, mean, var = take(conv.bn, 4)
        for what, t in (("gamma", gamma), ("beta", beta), ("moving mean", mean),
                        ("moving variance", var)):
            if t.shape != (conv.cout,):
                raise WeightsError(f"Keras layer {conv.bn!r}: {what} has shape {t.shape}, "
                                   f"expected ({conv.cout},)")
        scale = gamma / np.sqrt(var + BN_EPSILON)
        if conv.depthwise:  # (kh, kw, c, 1) -> (c, 1, kh, kw)
            weight = kernel[:, :, :, 0].transpose(2, 0, 1)[:, None, :, :]
        else:  # (kh, kw, in, out) -> (out, in, kh, kw)
            weight = kernel.transpose(3, 2, 0, 1)
        out[f"{conv.name}.weight"] = (weight * scale[:, None, None, None]).astype(np.float32)
        out[f"{conv.name}.bias"] = (beta - mean * scale).astype(np.float32)
    kernel, bias = take(layout.dense, 2)
    if kernel.shape != (layout.features, NUM_CLASSES) or bias.shape != (NUM_CLASSES,):
        raise WeightsError(f"Keras layer {layout.dense!r} has shapes {kernel.shape} and "
                           f"{bias.shape}, expected ({layout.features}, {NUM_CLASSES}) and "
                           f"({NUM_CLASSES},)")
    out[f"{layout.dense}.weight"] = kernel.T.astype(np.float32)
    out[f"{layout.dense}.bias"] = bias.astype(np.float32)
    unused = sorted(name for name, w in layers.items() if w and name not in used)
    if unused:
        raise WeightsError(f"Keras layers with weights this network does not have: "
                           f"{', '.join(unused[:5])}: not a stock MobileNetV2")
    return out


def random_weights(seed: int = 0, layout: Layout = LAYOUT) -> dict[str, np.ndarray]:
    """Seeded random weights of the same network (Glorot-uniform kernels as Keras
    initialises them, batch normalisation at its initial state, folded): what
    WORKER_MODEL=keras-random means for an engine that runs without Keras. Same work per
    image as the real weights; the labels mean nothing."""
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    bn_scale = 1.0 / np.sqrt(1.0 + BN_EPSILON)
    for conv in layout.convs():
        kh = conv.kernel
        fan_in = kh * kh * (conv.cin // conv.groups)
        fan_out = kh * kh * (1 if conv.depthwise else conv.cout)
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        w = rng.uniform(-limit, limit, conv.weight_shape) * bn_scale
        out[f"{conv.name}.weight"] = w.astype(np.float32)
        out[f"{conv.name}.bias"] = np.zeros(conv.cout, np.float32)
    limit = np.sqrt(6.0 / (layout.features + NUM_CLASSES))
    out[f"{layout.dense}.weight"] = rng.uniform(
        -limit, limit, (NUM_CLASSES, layout.features)).astype(np.float32)
    out[f"{layout.dense}.bias"] = np.zeros(NUM_CLASSES, np.float32)
    return out


def check_tensors(tensors: Mapping[str, np.ndarray], source: str,
                  layout: Layout = LAYOUT) -> None:
    """Raise WeightsError unless `tensors` holds exactly this network's tensors, finite."""
    expected = layout.shapes()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise WeightsError(f"{source}: missing {missing[:5]}, unexpected {extra[:5]}")
    for key, shape in expected.items():
        t = tensors[key]
        if tuple(t.shape) != shape:
            raise WeightsError(f"{source}: {key} has shape {tuple(t.shape)}, expected {shape}")
        if not np.all(np.isfinite(t)):
            raise WeightsError(f"{source}: {key} has values that are not finite")


def save_npz(path: str | Path, tensors: Mapping[str, np.ndarray], source: str,
             labels: list[str] | None = None, dtype: str = "float32") -> Path:
    """Write the folded tensors (float32, or float16 to halve the file for carrying),
    through a temporary file and a rename so a reader never sees half a file."""
    check_tensors(tensors, source)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {k: np.asarray(v, dtype=dtype) for k, v in tensors.items()}
    arrays[FORMAT_KEY] = np.array(FORMAT)
    arrays[SOURCE_KEY] = np.array(source)
    if labels is not None:
        arrays[LABELS_KEY] = np.array(labels)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)  # type: ignore[arg-type]
    tmp.replace(path)
    return path


@dataclass(frozen=True)
class ConvertedWeights:
    tensors: dict[str, np.ndarray]  # float32
    source: str
    labels: list[str] | None


def load_npz(path: str | Path) -> ConvertedWeights:
    """Read a converted file (no pickles); WeightsError when it is not one."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as exc:
        raise WeightsError(f"{path} is not a converted weights file ({exc})") from None
    fmt = str(arrays.pop(FORMAT_KEY, ""))
    if fmt != FORMAT:
        raise WeightsError(f"{path} is not a converted MobileNetV2 weights file of format "
                           f"{FORMAT!r} (found {fmt or 'none'}): convert it with "
                           "python -m inference_server.models.mobilenet_v2.convert")
    source = str(arrays.pop(SOURCE_KEY, "unknown"))
    labels_arr = arrays.pop(LABELS_KEY, None)
    labels = [str(x) for x in labels_arr] if labels_arr is not None else None
    tensors = {k: v.astype(np.float32) for k, v in arrays.items()}
    check_tensors(tensors, str(path))
    return ConvertedWeights(tensors, source, labels)

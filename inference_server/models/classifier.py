"""What makes a model an image classifier this worker can serve, whatever its format:
one image input (NHWC or NCHW, 3 colours) and one class vector out. The runtimes read
the shapes from the file; the functions here decide what they mean, apply model.yaml's
overrides, build the pixel table that turns decoded RGB pixels into the model's input
values, and describe the loaded model (ModelInfo) for the worker to advertise."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .base import ModelLoadError
from .labels import ClassLabels, LabelsError, check_class_count
from .model_config import LAYOUTS, InputOverrides

LAYOUT_NHWC, LAYOUT_NCHW = LAYOUTS  # the contract's EndpointMetadata.layout values

# A float input's normalisation when neither the model nor model.yaml says:
# (pixel - 127.5) / 127.5, the [-1, 1] of MobileNet and Teachable Machine.
DEFAULT_MEAN = (127.5, 127.5, 127.5)
DEFAULT_STD = (127.5, 127.5, 127.5)
CHANNELS = 3
INPUT_DTYPES = {"uint8": np.uint8, "int8": np.int8, "float32": np.float32}

Dims = Sequence[int | None]  # a shape; None where the file leaves a dimension open


def shape_text(shape: Dims) -> str:
    return "[" + ", ".join("?" if d is None or d < 0 else str(d) for d in shape) + "]"


def class_vector(shape: Dims, where: str) -> int:
    """The class count of an output of `shape`: one vector per image, [N, classes]
    (or [N, 1, 1, classes], as some convolutional heads end). Anything else (a
    detector's boxes, a segmentation map, a 1-class output) is refused saying what
    was found."""
    dims = list(shape)
    inner = dims[1:]
    if (len(dims) < 2 or any(d is None or d < 1 for d in inner)
            or any(d != 1 for d in inner[:-1])):
        raise ModelLoadError(f"{where} gives an output of shape {shape_text(shape)}; expected "
                             "one class vector per image, [1, classes]")
    classes = int(inner[-1])  # type: ignore[arg-type]
    try:
        check_class_count(classes, where)
    except LabelsError as exc:
        raise ModelLoadError(f"{exc} (output shape {shape_text(shape)}); expected one "
                             "class vector per image") from None
    return classes


@dataclass(frozen=True)
class ImageInput:
    """The model's image input as fed: height, width, layout (NHWC|NCHW) and how decoded
    RGB 0-255 pixels become its values (colour order, per-channel mean and std)."""

    height: int
    width: int
    layout: str
    color_order: str = "RGB"
    mean: tuple[float, float, float] = DEFAULT_MEAN
    std: tuple[float, float, float] = DEFAULT_STD
    normalisation_given: bool = False  # mean/std from model.yaml, not the default

    @property
    def size(self) -> int:
        return self.height


def image_input(shape: Dims, overrides: InputOverrides, where: str) -> ImageInput:
    """The image input of `shape` (4 dimensions; batch first) with model.yaml's
    overrides: the layout when the shape does not tell (or tells wrong), the size
    where the file leaves it open. Raises ModelLoadError saying what was found."""
    dims = [None if d is None or d < 0 else int(d) for d in shape]
    if len(dims) != 4:
        raise ModelLoadError(f"{where} takes input of shape {shape_text(shape)}; expected "
                             "images [N, height, width, 3] or [N, 3, height, width]")
    layout = overrides.layout
    if layout is None:
        if dims[3] == CHANNELS:
            layout = LAYOUT_NHWC
        elif dims[1] == CHANNELS:
            layout = LAYOUT_NCHW
        else:
            raise ModelLoadError(f"{where} takes input of shape {shape_text(shape)}; expected "
                                 "3-colour images [N, height, width, 3] or [N, 3, height, "
                                 "width] (input.layout in model.yaml says which)")
    channels, height, width = ((dims[3], dims[1], dims[2]) if layout == LAYOUT_NHWC
                               else (dims[1], dims[2], dims[3]))
    if channels not in (None, CHANNELS):
        raise ModelLoadError(f"{where} takes input of shape {shape_text(shape)}, {channels} "
                             f"channels in {layout}; expected 3 colours")
    if overrides.size is not None:
        want_h, want_w = overrides.size
        if (height not in (None, want_h)) or (width not in (None, want_w)):
            raise ModelLoadError(f"{where} takes {height}x{width} images; model.yaml's "
                                 f"input.size {want_h}x{want_w} does not fit it")
        height, width = want_h, want_w
    if height is None or width is None:
        raise ModelLoadError(f"{where} takes input of shape {shape_text(shape)}, its size "
                             "left open; say it with input.size in model.yaml")
    if height != width:
        raise ModelLoadError(f"{where} takes {height}x{width} images; this worker feeds "
                             "square images (centre crop) only")
    given = overrides.mean is not None or overrides.std is not None
    return ImageInput(height, width, layout, overrides.color_order or "RGB",
                      overrides.mean or DEFAULT_MEAN, overrides.std or DEFAULT_STD, given)


def pixel_table(inp: ImageInput, dtype: np.dtype, scale: float = 0.0,
                zero_point: float = 0.0) -> np.ndarray | None:
    """Pixel value -> model input value, per channel: shape (256,) when the channels
    agree, else (3, 256); None when the raw uint8 pixels are the input (a uint8 model
    not quantized, or quantized so that its real input is the normalised pixel, e.g.
    MobileNet's scale 1/128 zero point 128)."""
    pixels = np.arange(256, dtype=np.float64)
    mean = np.asarray(inp.mean, np.float64)[:, None]
    std = np.asarray(inp.std, np.float64)[:, None]
    real = (pixels[None, :] - mean) / std  # (3, 256)
    if dtype == np.float32:
        table = real.astype(np.float32)
    else:
        info = np.iinfo(dtype)
        if scale <= 0:  # not quantized: the model takes the integer pixels themselves
            if dtype == np.uint8:
                return None
            table = np.broadcast_to(np.clip(pixels, info.min, info.max), (3, 256)).astype(dtype)
        else:
            q = np.round(real / scale + zero_point)
            if (dtype == np.uint8 and not inp.normalisation_given
                    and np.all(np.abs(q - pixels[None, :]) <= 1.0)):
                return None  # within a step of the raw pixels: feed them as they are
            table = np.clip(q, info.min, info.max).astype(dtype)
    return table[0] if np.all(table == table[0]) else table


def to_model_input(batch: np.ndarray, inp: ImageInput, table: np.ndarray | None) -> np.ndarray:
    """(N, h, w, 3) uint8 RGB -> the model's input values, colour order and layout."""
    x = batch[..., ::-1] if inp.color_order == "BGR" else batch
    if table is not None:
        if table.ndim == 1:
            x = table[x]
        else:
            order = [2, 1, 0] if inp.color_order == "BGR" else [0, 1, 2]
            x = np.stack([table[order[c]][x[..., c]] for c in range(CHANNELS)], axis=-1)
    if inp.layout == LAYOUT_NCHW:
        x = x.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(x)


@dataclass(frozen=True)
class ModelInfo:
    """What the worker advertises about a loaded model (endpoint metadata)."""

    labels: list[str]
    labels_source: str  # the contract's LABELS_* values
    labels_sha256: str
    classes: int  # len(labels): the classes in results
    input: tuple[int, int, int]  # (height, width, channels)
    input_dtype: str  # uint8 | int8 | float32: what the model file takes
    layout: str  # NHWC | NCHW
    platform: str  # the contract's PLATFORM_* values

    @classmethod
    def of(cls, labels: ClassLabels, inp: ImageInput, input_dtype: np.dtype | str,
           platform: str) -> ModelInfo:
        dtype = np.dtype(input_dtype).name
        return cls(labels=list(labels.labels), labels_source=labels.source,
                   labels_sha256=labels.sha256, classes=len(labels.labels),
                   input=(inp.height, inp.width, CHANNELS),
                   input_dtype=dtype if dtype in INPUT_DTYPES else "float32",
                   layout=inp.layout, platform=platform)

    def metadata(self) -> dict[str, str]:
        """The endpoint metadata keys this describes, as strings."""
        from ..wire import contract as c

        h, w, ch = self.input
        return {c.META_CLASSES: str(self.classes), c.META_LABELS_SHA256: self.labels_sha256,
                c.META_LABELS_SOURCE: self.labels_source, c.META_INPUT: f"{h}x{w}x{ch}",
                c.META_INPUT_DTYPE: self.input_dtype, c.META_LAYOUT: self.layout,
                c.META_PLATFORM: self.platform}

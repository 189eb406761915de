"""Safe image decoding: sniff the format, read the header, refuse what would cost more
than a 224x224 classification needs, decode (reduced where the format allows), then
center-crop and resize before any conversion."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, PngImagePlugin

from ..wire.contract import CODE_BAD_IMAGE, CODE_TOO_LARGE
from .budget import BudgetError, admit
from .probe import Probe, ProbeError, probe

_EXIF_ORIENTATION = 0x0112
# EXIF is parsed by Pillow in Python, entry by entry: larger blocks (possible in PNG and
# WebP, not in JPEG whose segments stop at 64 KiB) are ignored rather than parsed.
MAX_EXIF_BYTES = 65535
# PNG text chunks (tEXt, zTXt, iTXt) are read and inflated by Pillow at open. One chunk
# may hold an ICC profile (up to about 1 MiB); all of them together may not exceed
# this (Pillow's default is 64 MiB, inflated from a few kilobytes).
MAX_PNG_TEXT_BYTES = 2 * 1024 * 1024
_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I")
_ALPHA = ("RGBA", "LA", "RGBa", "La")
# EXIF orientation -> the transpose that shows the image upright.
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


class ImageError(Exception):
    """A frame that cannot be classified. `code` is the error code of the result JSON;
    `message` the reason, for the worker's log (clients see the code's fixed sentence)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def sniff_format(data: bytes) -> str | None:
    """The Pillow format name from the magic bytes, or None when not an allowed format."""
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[:2] == b"BM":
        return "BMP"
    return None


@dataclass(frozen=True)
class Decoder:
    """Turns encoded bytes into an RGB uint8 array of shape (size, size, 3)."""

    size: int = 224
    max_bytes: int = 8 * 1024 * 1024
    max_pixels: int = 40_000_000

    def __post_init__(self) -> None:
        # Pillow's own bomb check (raises at 2x this) backs up the budget; its PNG text
        # limit is lowered for every decoder in the process (a module setting).
        Image.MAX_IMAGE_PIXELS = max(self.max_pixels, Image.MAX_IMAGE_PIXELS or 0)
        PngImagePlugin.MAX_TEXT_MEMORY = min(PngImagePlugin.MAX_TEXT_MEMORY,
                                             MAX_PNG_TEXT_BYTES)

    def decode(self, data: bytes) -> np.ndarray:
        head = self.inspect(data)
        try:
            return self._decode(data, head)
        except ImageError:
            raise
        except Image.DecompressionBombError:
            raise ImageError(CODE_BAD_IMAGE, "image dimensions are too large") from None
        except Exception as exc:  # Pillow raises many types on corrupt input.
            raise ImageError(CODE_BAD_IMAGE, _describe(exc)) from None

    def inspect(self, data: bytes) -> Probe:
        """The header of `data` when decoding it is allowed and affordable; raises
        ImageError otherwise. Costs microseconds whatever the body."""
        if len(data) > self.max_bytes:
            raise ImageError(CODE_TOO_LARGE,
                             f"image is {len(data)} bytes, the limit is {self.max_bytes}")
        if not data:
            raise ImageError(CODE_BAD_IMAGE, "empty body, expected an image")
        fmt = sniff_format(data)
        if fmt is None:
            raise ImageError(CODE_BAD_IMAGE, "not a JPEG, PNG, WebP or BMP image")
        try:
            head = probe(data, fmt)
            admit(head, self.size, self.max_pixels)
        except (ProbeError, BudgetError) as exc:
            raise ImageError(CODE_BAD_IMAGE, str(exc)) from None
        return head

    def _decode(self, data: bytes, head: Probe) -> np.ndarray:
        with Image.open(io.BytesIO(data), formats=[head.fmt]) as im:
            if im.size != (head.width, head.height) or getattr(im, "n_frames", 1) > 1:
                raise ImageError(CODE_BAD_IMAGE, "image header is inconsistent")
            if head.fmt == "JPEG":
                # libjpeg decodes at 1/2, 1/4 or 1/8 scale while the short side stays
                # >= size (the budget checked the reduced size).
                im.draft("RGB", (self.size, self.size))
            im.load()  # decodes; truncated data raises OSError here
            orientation = _orientation(im, head)
            small = self._crop_resize(im)
        # Everything below works on size x size pixels.
        rgb = _to_rgb(small)
        if orientation in _UPRIGHT:
            # The center square of the upright image is the upright center square.
            rgb = rgb.transpose(_UPRIGHT[orientation])
        arr = np.asarray(rgb, dtype=np.uint8)
        if arr.shape != (self.size, self.size, 3):
            raise ImageError(CODE_BAD_IMAGE, "image could not be converted to RGB")
        return arr

    def _crop_resize(self, img: Image.Image) -> Image.Image:
        """The center square, resized to size x size, in the decoded mode where Pillow
        resizes it (palette and 1-bit are expanded first: it only resizes those by
        nearest neighbour)."""
        if img.mode == "1":
            img = img.convert("L")
        elif img.mode == "P":
            img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        elif img.mode == "PA":
            img = img.convert("RGBA")
        w, h = img.size
        side = min(w, h)
        if (w, h) == (self.size, self.size):
            return img
        left = (w - side) // 2
        top = (h - side) // 2
        # reducing_gap pre-shrinks by an integer factor first: faster for big downscales
        # (large PNG/BMP), slower for small ones (JPEG after draft). Pillow cannot
        # pre-shrink 16-bit grey.
        gap = 2.0 if side >= 3 * self.size and img.mode not in _SIXTEEN_BIT else None
        return img.resize((self.size, self.size), Image.Resampling.BILINEAR,
                          box=(left, top, left + side, top + side), reducing_gap=gap)


def _orientation(im: Image.Image, head: Probe) -> int:
    if head.exif_bytes == 0 or head.exif_bytes > MAX_EXIF_BYTES:
        return 1
    raw = im.info.get("exif")
    if not isinstance(raw, (bytes, bytearray)) or len(raw) > MAX_EXIF_BYTES:
        return 1
    exif = Image.Exif()
    exif.load(bytes(raw))
    value = exif.get(_EXIF_ORIENTATION, 1)
    return value if isinstance(value, int) else 1


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode in _ALPHA:
        # Transparent pixels are shown on white, as a browser shows them.
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if img.mode in _SIXTEEN_BIT:
        # 16-bit grey: scale to 8 bits rather than clipping.
        arr = np.asarray(img, dtype=np.uint32) >> 8
        return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), mode="L").convert("RGB")
    if img.mode == "RGB":
        return img  # already what the model takes: convert() would copy it
    return img.convert("RGB")


def _describe(exc: Exception) -> str:
    text = str(exc).lower()
    if "truncated" in text or isinstance(exc, EOFError):
        return "image data is truncated"
    return "image data is corrupt or unsupported"

"""Safe image decoding: sniff the format, refuse bombs, center-crop and resize."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from .contract import CODE_BAD_IMAGE, CODE_TOO_LARGE

# Only these formats are ever handed to Pillow (it would otherwise try every plugin).
FORMATS = ("JPEG", "PNG", "WEBP", "BMP")
_EXIF_ORIENTATION = 0x0112


class ImageError(Exception):
    """A frame that cannot be classified. `code` is the error code of the result JSON."""

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
        # Pillow's own bomb check (raises at 2x this) backs up the explicit check below.
        Image.MAX_IMAGE_PIXELS = max(self.max_pixels, Image.MAX_IMAGE_PIXELS or 0)

    def decode(self, data: bytes) -> np.ndarray:
        if len(data) > self.max_bytes:
            raise ImageError(CODE_TOO_LARGE,
                             f"image is {len(data)} bytes, the limit is {self.max_bytes}")
        if not data:
            raise ImageError(CODE_BAD_IMAGE, "empty body, expected an image")
        fmt = sniff_format(data)
        if fmt is None:
            raise ImageError(CODE_BAD_IMAGE, "not a JPEG, PNG, WebP or BMP image")
        try:
            return self._decode(data, fmt)
        except ImageError:
            raise
        except Image.DecompressionBombError:
            raise ImageError(CODE_BAD_IMAGE, "image dimensions are too large") from None
        except Exception as exc:  # Pillow raises many types on corrupt input.
            raise ImageError(CODE_BAD_IMAGE, _describe(exc)) from None

    def _decode(self, data: bytes, fmt: str) -> np.ndarray:
        with Image.open(io.BytesIO(data), formats=[fmt]) as im:
            width, height = im.size  # from the header only; no pixels decoded yet
            if width < 1 or height < 1:
                raise ImageError(CODE_BAD_IMAGE, "image has no pixels")
            if width * height > self.max_pixels:
                raise ImageError(CODE_BAD_IMAGE,
                                 f"image dimensions {width}x{height} are too large")
            if fmt == "JPEG":
                # Let libjpeg decode at 1/2, 1/4 or 1/8 scale while the short side
                # stays >= size: far less work for big frames.
                im.draft("RGB", (self.size, self.size))
            im.load()  # decodes; truncated data raises OSError here
            img: Image.Image = im
            if fmt in ("JPEG", "WEBP", "PNG"):
                orientation = img.getexif().get(_EXIF_ORIENTATION, 1)
                if orientation != 1:
                    img = ImageOps.exif_transpose(img)
            if img.mode != "RGB":
                img = _to_rgb(img)
            return self._crop_resize(img)

    def _crop_resize(self, img: Image.Image) -> np.ndarray:
        w, h = img.size
        side = min(w, h)
        left = (w - side) // 2
        top = (h - side) // 2
        box = (left, top, left + side, top + side)
        if side == self.size and (w, h) == (side, side):
            out = img
        else:
            # reducing_gap pre-shrinks by an integer factor first: faster for big
            # downscales (large PNG/BMP), slower for small ones (JPEG after draft).
            gap = 2.0 if side >= 3 * self.size else None
            out = img.resize((self.size, self.size), Image.Resampling.BILINEAR, box=box,
                             reducing_gap=gap)
        arr = np.asarray(out, dtype=np.uint8)
        if arr.shape != (self.size, self.size, 3):
            raise ImageError(CODE_BAD_IMAGE, "image could not be converted to RGB")
        return arr


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grey: scale to 8 bits rather than clipping.
        arr = np.asarray(img, dtype=np.uint32) >> 8
        return Image.fromarray(arr.astype(np.uint8), mode="L").convert("RGB")
    return img.convert("RGB")


def _describe(exc: Exception) -> str:
    text = str(exc).lower()
    if "truncated" in text or isinstance(exc, EOFError):
        return "image data is truncated"
    return "image data is corrupt or unsupported"

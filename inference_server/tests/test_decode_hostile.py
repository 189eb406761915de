"""Hostile images (made by testkit/hostile_images.py): each is refused from its
header, before a pixel is decoded, or decoded within a bounded amount of memory.
Memory is the kernel's peak resident size of this process around one decode (reset
before it); nothing here is timed."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from inference_server.ops import memory
from inference_server.wire.contract import CODE_BAD_IMAGE
from inference_server.imaging.budget import (JPEG_MULTI_SCAN_PIXELS, PALETTE_PIXELS,
                                             PNG_SAMPLE_BYTES, WEBP_PIXELS)
from inference_server.imaging.decoder import Decoder, ImageError
from inference_server.imaging.probe import probe

from inference_server.testkit import hostile_images

# The issue's target: any accepted input decodes in under 64 MB (one decode; the worker
# runs two at once).
DECODE_PEAK_LIMIT = 64 * 1024 * 1024
# Refused from the header, yet only after Pillow read part of the file: text chunks
# are inflated at open (bounded by decode.MAX_PNG_TEXT_BYTES).
REFUSED_AFTER_OPEN = {"PNG with 60 zTXt chunks of 1 MB"}

KINDS = hostile_images.catalogue()


def peak_of_decode(decoder: Decoder, data: bytes) -> tuple[np.ndarray | ImageError, int]:
    """(the array or the ImageError, peak resident bytes above the size before)."""
    gc.collect()
    memory.trim()  # so that freed heap memory reused by the decode does not hide it
    if not memory.reset_peak():
        pytest.fail("/proc/self/clear_refs is not writable: cannot measure peak memory",
                    pytrace=False)
    before = memory.rss_bytes()
    try:
        result: np.ndarray | ImageError = decoder.decode(data)
    except ImageError as exc:
        result = exc
    return result, memory.peak_rss_bytes() - before


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_hostile_image_is_refused_or_bounded(kind: hostile_images.Hostile) -> None:
    decoder = Decoder(size=224)
    data = kind.make()
    result, peak = peak_of_decode(decoder, data)
    if kind.accepted:
        assert isinstance(result, np.ndarray), f"refused: {result}"
        assert result.shape == (224, 224, 3) and result.dtype == np.uint8
    else:
        assert isinstance(result, ImageError), "decoded a frame meant to be refused"
        assert result.code == CODE_BAD_IMAGE
        if kind.name not in REFUSED_AFTER_OPEN:
            # From the header alone: the same answer without decoding anything.
            with pytest.raises(ImageError) as early:
                decoder.inspect(data)
            assert early.value.message == result.message
    assert peak < DECODE_PEAK_LIMIT, f"{kind.name}: peak {peak / 1e6:.0f} MB"


def test_the_issue_bomb_is_refused_with_a_reason_that_names_it() -> None:
    data = hostile_images.png(6300, 6300, 16, hostile_images.RGBA)
    assert len(data) < 400_000  # a small file...
    with pytest.raises(ImageError) as info:
        Decoder(size=224).inspect(data)  # ...refused from its header
    assert info.value.code == CODE_BAD_IMAGE
    assert "16-bit PNG of 6300x6300" in info.value.message
    assert "megapixels" in info.value.message


@pytest.mark.parametrize("data,why", [
    (hostile_images.png(2048, 1366, 8, hostile_images.RGBA), "MiB of samples"),
    (hostile_images.png(1500, 1500, 8, hostile_images.PALETTE), "palette PNG"),
    (hostile_images.png(1100, 1000, 16, hostile_images.RGBA), "16-bit PNG"),
    (hostile_images.png(1600, 1400, 8, hostile_images.RGB, interlace=1), "interlaced PNG"),
    (hostile_images.jpeg_claiming(2100, 2000, progressive=True), "progressive JPEG"),
    (hostile_images.jpeg_claiming(1100, 1000, progressive=True, mode="CMYK"),
     "CMYK progressive JPEG"),
    (hostile_images.jpeg_claiming(4100, 1000, mode="CMYK"), "CMYK JPEG"),
    (hostile_images.webp_claiming(1500, 1400), "WebP"),
    (hostile_images.png(64, 64, frames=2), "animated PNG"),
    (hostile_images.animated("WEBP", frames=2), "animated WebP"),
    (hostile_images.bmp_rle8(64, 64), "compressed BMP"),
])
def test_just_over_a_cap_is_refused_from_the_header(data: bytes, why: str) -> None:
    with pytest.raises(ImageError) as info:
        Decoder(size=224).inspect(data)
    assert why in info.value.message


def test_caps_in_the_catalogue_are_at_the_limits() -> None:
    """The accepted kinds are the worst of their kind (the bound they show is the
    bound), so their size must follow the budget's constants."""
    sizes = {k.name: probe(k.make(), fmt) for k, fmt in [
        (_kind("progressive JPEG 2400x1660 (4 MP)"), "JPEG"),
        (_kind("palette PNG 1730x1150 with transparency (2 MP)"), "PNG"),
        (_kind("RGB PNG 1670x1670 (8 MiB of samples)"), "PNG"),
        (_kind("lossy WebP 1730x1150 (2 MP)"), "WEBP"),
    ]}
    assert 0.95 * JPEG_MULTI_SCAN_PIXELS < sizes["progressive JPEG 2400x1660 (4 MP)"].pixels
    assert 0.95 * PALETTE_PIXELS < sizes[
        "palette PNG 1730x1150 with transparency (2 MP)"].pixels <= PALETTE_PIXELS
    rgb = sizes["RGB PNG 1670x1670 (8 MiB of samples)"]
    assert 0.95 * PNG_SAMPLE_BYTES < rgb.pixels * 3 <= PNG_SAMPLE_BYTES
    assert 0.95 * WEBP_PIXELS < sizes["lossy WebP 1730x1150 (2 MP)"].pixels <= WEBP_PIXELS


def _kind(name: str) -> hostile_images.Hostile:
    return next(k for k in KINDS if k.name == name)


def test_sequential_jpeg_decodes_reduced_within_its_cap() -> None:
    """A 16 MP JPEG is decoded at 1/8 scale: far less memory than its pixels."""
    data = _kind("JPEG 4800x3300 (16 MP, decoded at 1/8)").make()
    result, peak = peak_of_decode(Decoder(size=224), data)
    assert isinstance(result, np.ndarray)
    assert peak < 4800 * 3300  # under one byte a pixel of the full image


def _tiff_orientation_6(padding: int) -> bytes:
    """A little-endian TIFF/EXIF block whose IFD0 says orientation 6, padded."""
    import struct

    ifd = struct.pack("<H", 1) + struct.pack("<HHIHH", 0x0112, 3, 1, 6, 0) + b"\x00" * 4
    return b"II*\x00" + struct.pack("<I", 8) + ifd + b"\x00" * padding


@pytest.mark.parametrize("padding,upright", [(0, True), (70_000, False)])
def test_exif_over_64k_is_ignored_not_parsed(padding: int, upright: bool) -> None:
    """EXIF is parsed by Pillow in Python, entry by entry; a block over 64 KiB (possible
    in PNG and WebP, not JPEG) is ignored: the image stays as stored."""
    from PIL import Image

    arr = np.zeros((100, 200, 3), np.uint8)
    arr[:, :100, 0] = 255  # left red
    arr[:, 100:, 2] = 255  # right blue
    data = hostile_images.encode(Image.fromarray(arr), "PNG", exif=_tiff_orientation_6(padding))
    out = Decoder(size=224).decode(data).astype(int)
    left, right = out[112, 20], out[112, 203]
    rotated = np.abs(left - right).max() < 60  # halves now top and bottom
    assert rotated == upright

"""What one frame may cost to decode, decided from its header before any pixel is.

A 224x224 classification needs 150 KB of pixels. JPEG can decode at 1/2, 1/4 or 1/8
scale while decoding (libjpeg's DCT scaling, Pillow's `draft`), so a large JPEG costs
little more than its file; PNG, BMP and WebP always decode at full size in Pillow, and
a progressive (multi-scan) JPEG buffers every coefficient of the full image whatever the
scale. Each kind gets the pixel cap (and, where decoding time grows with the file, a
byte cap) that keeps its worst accepted frame under 100 ms of CPU and 64 MB on a small
machine (measured in docs/benchmarks.md, "Worker: hostile images"); anything larger is
refused from its header, in microseconds.
"""

from __future__ import annotations

from .probe import Probe

MP = 1_000_000
MIB = 1 << 20

# JPEG decoded in one pass: entropy decoding still reads every block, the IDCT and
# the pixels are at the reduced size. 16 MP (a 12 MP phone photo fits) took 25 ms of
# CPU as a 2 MB photo, 67 ms as 7.5 MB of noise.
JPEG_SEQUENTIAL_PIXELS = 16 * MP
# Four components (CMYK/YCCK), usually without chroma subsampling: 4 MP took 28 ms as
# a photo, 56 ms as 6 MB of noise.
JPEG_SEQUENTIAL_CMYK_PIXELS = 4 * MP
# What Pillow allocates after DCT scaling (4 bytes a pixel): a long thin JPEG cannot
# be scaled far (its short side must stay >= 224) and would still be large.
JPEG_REDUCED_PIXELS = 2 * MP
# Progressive or multi-scan: libjpeg keeps 2 bytes per sample of the whole image
# between scans (up to 6 bytes a pixel at 4:4:4, 8 for CMYK) and revisits them per scan.
JPEG_MULTI_SCAN_PIXELS = 4 * MP
JPEG_MULTI_SCAN_CMYK_PIXELS = 1 * MP
# Their entropy decoding costs about 25 ms per MB of file on top (4 MP of noise in
# 4 MB took 104 ms of CPU; in 2 MB, 67 ms).
JPEG_MULTI_SCAN_BYTES = 2 * MIB
# PNG inflates and unfilters every sample (about 40 ms of CPU for 8 MiB of them here),
# at 16 bits twice the bytes a pixel. Adam7 interlacing adds a pass over the image.
PNG_PIXELS = 4 * MP
PNG_SAMPLE_BYTES = 8 * MIB
PNG_INTERLACED_SAMPLE_BYTES = 4 * MIB
# Palette and 1-bit images are expanded to RGB(A) at full size (4 bytes a pixel) before
# resizing: Pillow resizes palette images only by nearest neighbour.
PALETTE_PIXELS = 2 * MP
# BMP rows are copied, not decompressed: memory, not time, is the limit.
BMP_PIXELS = 4 * MP
# libwebp decodes the whole canvas (RGBA) plus its own buffers: about 20 ms per
# megapixel lossy, 40 lossless, and 10 bytes a pixel all told.
WEBP_PIXELS = 2 * MP
# Lossy WebP's decoding grows with the file too: 2 MP of noise took 70 ms of CPU in
# 1 MB, 133 ms in 2.2 MB (lossless is cheaper per byte: 45 ms in 6 MB).
WEBP_LOSSY_BYTES = 1 * MIB


class BudgetError(ValueError):
    """The frame would cost more than its kind allows; the message says why."""


def jpeg_scale(width: int, height: int, size: int) -> int:
    """The DCT scale denominator Pillow's `draft(mode, (size, size))` picks: the largest
    of 8, 4, 2, 1 that keeps both sides >= size."""
    fits = min(width // size, height // size)
    for scale in (8, 4, 2):
        if fits >= scale:
            return scale
    return 1


def admit(p: Probe, size: int, max_pixels: int) -> None:
    """Raise BudgetError when decoding `p` to a `size` x `size` frame costs too much."""
    dims = f"{p.width}x{p.height}"
    if p.pixels > max_pixels:
        raise BudgetError(f"image dimensions {dims} are too large "
                          f"(the limit is {_mp(max_pixels)} megapixels)")
    if p.animated:
        raise BudgetError(f"animated {_name(p)} is not accepted: send a single frame")
    cap, what = _cap(p)
    if p.pixels > cap:
        raise BudgetError(f"{what} of {dims} is too large to decode cheaply "
                          f"(the limit is {_mp(cap)} megapixels)")
    byte_cap = _byte_cap(p)
    if byte_cap is not None and p.body_bytes > byte_cap:
        raise BudgetError(f"{what} of {p.body_bytes / MIB:.1f} MiB is too large to decode "
                          f"cheaply (the limit is {byte_cap // MIB} MiB)")
    if p.fmt == "PNG":
        sample_bytes = p.pixels * p.channels * p.bit_depth // 8
        limit = PNG_INTERLACED_SAMPLE_BYTES if p.interlaced else PNG_SAMPLE_BYTES
        if sample_bytes > limit:
            raise BudgetError(f"{what} of {dims} is too large to decode cheaply "
                              f"({sample_bytes // MIB} MiB of samples, the limit is "
                              f"{limit // MIB} MiB)")
    if p.fmt == "JPEG" and not p.multi_scan:
        scale = jpeg_scale(p.width, p.height, size)
        w, h = -(-p.width // scale), -(-p.height // scale)
        if w * h > JPEG_REDUCED_PIXELS:
            raise BudgetError(f"JPEG of {dims} is too large to decode cheaply: even at "
                              f"1/{scale} scale it is {w}x{h} (the limit is "
                              f"{_mp(JPEG_REDUCED_PIXELS)} megapixels)")


def _cap(p: Probe) -> tuple[int, str]:
    """The pixel cap of `p`'s kind, and the kind in words."""
    if p.fmt == "JPEG":
        cmyk = p.channels == 4
        if p.multi_scan:
            kind = "progressive JPEG" if p.progressive else "multi-scan JPEG"
            return ((JPEG_MULTI_SCAN_CMYK_PIXELS, f"CMYK {kind}") if cmyk
                    else (JPEG_MULTI_SCAN_PIXELS, kind))
        return ((JPEG_SEQUENTIAL_CMYK_PIXELS, "CMYK JPEG") if cmyk
                else (JPEG_SEQUENTIAL_PIXELS, "JPEG"))
    if p.fmt == "PNG":
        what = "PNG"
        if p.bit_depth == 16:
            what = "16-bit PNG"
        if p.interlaced:
            what = f"interlaced {what}"
        if p.palette or p.bit_depth == 1:
            return PALETTE_PIXELS, f"palette {what}" if p.palette else f"1-bit {what}"
        return PNG_PIXELS, what
    if p.fmt == "BMP":
        if p.palette:
            return PALETTE_PIXELS, f"{p.bit_depth}-bit palette BMP"
        return BMP_PIXELS, "BMP"
    return WEBP_PIXELS, "lossless WebP" if p.lossless else "WebP"


def _byte_cap(p: Probe) -> int | None:
    """The cap on the encoded size of `p`'s kind, where its decoding time grows with it
    beyond what the pixel cap bounds."""
    if p.fmt == "JPEG" and p.multi_scan:
        return JPEG_MULTI_SCAN_BYTES
    if p.fmt == "WEBP" and not p.lossless:
        return WEBP_LOSSY_BYTES
    return None


def _name(p: Probe) -> str:
    return {"WEBP": "WebP"}.get(p.fmt, p.fmt)


def _mp(pixels: int) -> str:
    return f"{pixels / MP:g}"

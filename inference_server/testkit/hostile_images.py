"""Hostile images, made in memory for the decoder's tests (here) and its benchmark
(bench/worker/hostile.py).

Each is small on the wire and costly for a naive decoder: huge dimensions behind a few
hundred kilobytes of deflate, 16-bit samples, palettes, animations, progressive and CMYK
JPEGs, structures that make a parser loop in Python. They are built without ever holding
the decoded pixels (a 6300x6300 16-bit RGBA image is 317 MB; its PNG is 0.3 MB).
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# PNG colour types (IHDR byte 9).
GREY, RGB, PALETTE, GREY_ALPHA, RGBA = 0, 2, 3, 4, 6
_CHANNELS = {GREY: 1, RGB: 3, PALETTE: 1, GREY_ALPHA: 2, RGBA: 4}
_ADLER_BASE = 65521


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def _adler32_combine(adler1: int, adler2: int, len2: int) -> int:
    """zlib's adler32_combine: the checksum of A+B from those of A and B."""
    rem = len2 % _ADLER_BASE
    sum1 = adler1 & 0xFFFF
    sum2 = (rem * sum1) % _ADLER_BASE
    sum1 += (adler2 & 0xFFFF) + _ADLER_BASE - 1
    sum2 += ((adler1 >> 16) & 0xFFFF) + ((adler2 >> 16) & 0xFFFF) + _ADLER_BASE - rem
    sum1 %= _ADLER_BASE
    sum2 %= _ADLER_BASE
    return sum1 | (sum2 << 16)


def repeated_zlib(block: bytes, count: int, tail: bytes = b"") -> bytes:
    """zlib stream of `block` repeated `count` times then `tail`, at the cost of
    compressing `block` once: after a full flush deflate starts afresh, so every repeat
    compresses to the same bytes."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    segment = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
    end = comp.compress(tail) + comp.flush(zlib.Z_FINISH)
    one = zlib.adler32(block)
    adler = 1
    for _ in range(count):
        adler = _adler32_combine(adler, one, len(block))
    adler = _adler32_combine(adler, zlib.adler32(tail), len(tail))
    return b"\x78\xda" + segment * count + end + struct.pack(">I", adler)


def png(width: int, height: int, bit_depth: int = 8, color_type: int = RGB, *,
        fill: int = 0x5A, palette_size: int = 0, interlace: int = 0,
        before_idat: bytes = b"", frames: int = 1) -> bytes:
    """A valid PNG whose every row is the same (filter 0, bytes `fill`): it deflates
    about 1000:1 — the shape of a decompression bomb. `frames` > 1 adds an acTL chunk and
    fcTL/fdAT frames (an APNG)."""
    channels = _CHANNELS[color_type]
    row_bytes = (width * channels * bit_depth + 7) // 8
    row = b"\x00" + bytes([fill]) * row_bytes
    rows_per_block = max(1, min(height, (4 << 20) // len(row)))
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, interlace)
    parts = [PNG_MAGIC, png_chunk(b"IHDR", ihdr)]
    if color_type == PALETTE:
        n = palette_size or 256
        parts.append(png_chunk(b"PLTE", bytes(i % 256 for i in range(3 * n))))
    if frames > 1:
        parts.append(png_chunk(b"acTL", struct.pack(">II", frames, 0)))
    parts.append(before_idat)
    full, left = divmod(height, rows_per_block)
    data = repeated_zlib(row * rows_per_block, full, row * left)
    if frames > 1:
        parts.append(png_chunk(b"fcTL", _fctl(0, width, height)))
    # IDAT in chunks of at most 1 MiB, as encoders write them.
    for i in range(0, len(data), 1 << 20):
        parts.append(png_chunk(b"IDAT", data[i:i + (1 << 20)]))
    seq = 1
    for _ in range(1, frames):
        parts.append(png_chunk(b"fcTL", _fctl(seq, width, height)))
        parts.append(png_chunk(b"fdAT", struct.pack(">I", seq + 1) + data))
        seq += 2
    parts.append(png_chunk(b"IEND", b""))
    return b"".join(parts)


def _fctl(seq: int, width: int, height: int) -> bytes:
    return struct.pack(">IIIIIHHBB", seq, width, height, 0, 0, 1, 10, 0, 0)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG header claiming width x height, followed by a few bytes of data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, RGB, 0, 0, 0)
    return (PNG_MAGIC + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(bytes(64)))
            + png_chunk(b"IEND", b""))


def png_many_chunks(count: int) -> bytes:
    """A small PNG with `count` empty private chunks before its data: a parser that
    walks chunks in Python spends seconds on a few megabytes."""
    filler = png_chunk(b"prVt", b"") * count
    return png(64, 64, before_idat=filler)


def png_text_bomb(chunks: int, each: int = 1 << 20) -> bytes:
    """A small PNG with `chunks` zTXt chunks that each inflate to `each` bytes."""
    text = b"t\x00\x00" + zlib.compress(b"a" * each, 9)
    return png(64, 64, before_idat=png_chunk(b"zTXt", text) * chunks)


def encode(img: Image.Image, fmt: str, **options: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **options)
    return buf.getvalue()


def _sof_offset(data: bytes) -> int:
    """Offset of the first start-of-frame marker (SOF0..SOF15 but DHT/JPG/DAC)."""
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise ValueError("not a marker")
        marker = data[i + 1]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return i
        i += 2 + struct.unpack(">H", data[i + 2:i + 4])[0]
    raise ValueError("no SOF marker")


def jpeg_claiming(width: int, height: int, *, progressive: bool = False,
                  mode: str = "RGB") -> bytes:
    """A small real JPEG whose frame header says width x height (the scan data is that
    of a 64x64 image: a decoder allocates for the header, then runs out of data)."""
    small = encode(Image.new(mode, (64, 64), (90,) * len(mode)), "JPEG",
                   progressive=progressive, quality=90)
    out = bytearray(small)
    sof = _sof_offset(small)
    struct.pack_into(">HH", out, sof + 5, height, width)
    return bytes(out)


def jpeg_fill_bytes(count: int) -> bytes:
    """SOI, then `count` 0xFF fill bytes before the first marker (legal padding), then a
    small JPEG's markers: Pillow reads fill bytes one at a time in Python."""
    body = encode(Image.new("RGB", (64, 64), (1, 2, 3)), "JPEG")
    return body[:2] + b"\xff" * count + body[2:]


def jpeg_many_scans(scans: int) -> bytes:
    """A progressive JPEG with `scans` extra (empty) scan headers before its end."""
    body = encode(Image.new("RGB", (64, 64), (1, 2, 3)), "JPEG", progressive=True)
    sos = body.rfind(b"\xff\xda")
    length = struct.unpack(">H", body[sos + 2:sos + 4])[0]
    header = body[sos:sos + 2 + length]
    return body[:-2] + header * scans + body[-2:]


def webp_claiming(width: int, height: int) -> bytes:
    """A small lossy WebP whose VP8 frame header says width x height (up to 16383)."""
    small = bytearray(encode(Image.new("RGB", (64, 64), (7, 8, 9)), "WEBP", quality=50))
    if small[12:16] != b"VP8 ":
        raise ValueError("expected a simple lossy WebP")
    struct.pack_into("<HH", small, 26, width & 0x3FFF, height & 0x3FFF)
    return bytes(small)


def animated(fmt: str, frames: int = 3, size: tuple[int, int] = (64, 64)) -> bytes:
    images = [Image.new("RGB", size, (40 * i, 90, 200 - 40 * i)) for i in range(frames)]
    return encode(images[0], fmt, save_all=True, append_images=images[1:], duration=100)


def bmp_rle8(width: int, height: int) -> bytes:
    """An 8-bit RLE BMP of width x height in a few bytes per row: runs of 255 pixels."""
    runs, rest = divmod(width, 255)
    row = b"\xff\x01" * runs + (bytes([rest, 1]) if rest else b"") + b"\x00\x00"
    rows = row * height + b"\x00\x01"
    palette = b"".join(bytes([i, i, i, 0]) for i in range(256))
    offset = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(rows), 2835, 2835,
                       256, 0)
    head = b"BM" + struct.pack("<IHHI", offset + len(rows), 0, 0, offset)
    return head + info + palette + rows


def photo_like(width: int, height: int, mode: str = "RGB", seed: int = 0) -> Image.Image:
    """Smooth gradients with sensor-like noise: compresses like a photo (a flat image
    would flatter PNG and WebP decode times). One byte a sample while making it."""
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 13, (height, width, 3), dtype=np.uint8)
    arr[..., 0] += np.linspace(0, 242, width).astype(np.uint8)[None, :]
    arr[..., 1] += np.linspace(0, 242, height).astype(np.uint8)[:, None]
    arr[..., 2] += (arr[..., 0] >> 1) + (arr[..., 1] >> 1) - 6
    img = Image.fromarray(arr)
    return img if mode == "RGB" else img.convert(mode)


def noise(width: int, height: int, seed: int = 0) -> Image.Image:
    """Random pixels: the most entropy-coded data a JPEG or WebP of that size can hold,
    which is what their decoders' time grows with."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def png16(width: int, height: int, mode: str = "RGBA") -> bytes:
    """A photo-like 16-bit PNG (RGBA or RGB; Pillow writes 16-bit colour only from
    arrays, so it is assembled here)."""
    channels = 4 if mode == "RGBA" else 3
    rgb = np.asarray(photo_like(width, height), dtype=np.uint16) * 257
    if channels == 4:
        rgb = np.concatenate([rgb, np.full((height, width, 1), 65535, np.uint16)], axis=-1)
    rows = np.concatenate([np.zeros((height, 1), np.uint8),
                           rgb.astype(">u2").view(np.uint8).reshape(height, -1)], axis=1)
    ihdr = struct.pack(">IIBBBBB", width, height, 16, RGBA if channels == 4 else RGB, 0, 0, 0)
    return (PNG_MAGIC + png_chunk(b"IHDR", ihdr)
            + png_chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + png_chunk(b"IEND", b""))


@dataclass(frozen=True)
class Hostile:
    name: str
    make: Callable[[], bytes]
    accepted: bool = False  # True: within the budget, decoded (and bounded)


def catalogue() -> list[Hostile]:
    """The hostile kinds of the issue ("Hold the edges") and a few found on the way."""
    return [
        Hostile("16-bit RGBA PNG 6300x6300 (the issue's bomb)",
                lambda: png(6300, 6300, 16, RGBA)),
        Hostile("8-bit RGB PNG 6300x6300 (deflate bomb)", lambda: png(6300, 6300, 8, RGB)),
        Hostile("palette PNG 6000x6000", lambda: png(6000, 6000, 8, PALETTE)),
        Hostile("16-bit grey PNG 6000x6000", lambda: png(6000, 6000, 16, GREY)),
        Hostile("interlaced RGBA PNG 4000x4000", lambda: png(4000, 4000, 8, RGBA, interlace=1)),
        Hostile("PNG claiming 100000x100000", lambda: png_header_only(100_000, 100_000)),
        Hostile("animated PNG, 3 frames 3000x3000", lambda: png(3000, 3000, frames=3)),
        Hostile("animated WebP, 3 frames", lambda: animated("WEBP")),
        Hostile("animated GIF, 3 frames", lambda: animated("GIF")),
        Hostile("WebP claiming 16383x16383", lambda: webp_claiming(16383, 16383)),
        Hostile("JPEG claiming 60000x600", lambda: jpeg_claiming(60000, 600)),
        Hostile("progressive JPEG claiming 6000x6000",
                lambda: jpeg_claiming(6000, 6000, progressive=True)),
        Hostile("CMYK progressive JPEG claiming 6000x6000",
                lambda: jpeg_claiming(6000, 6000, progressive=True, mode="CMYK")),
        Hostile("progressive JPEG with 2000 scans", lambda: jpeg_many_scans(2000)),
        Hostile("JPEG with 4 MB of fill bytes", lambda: jpeg_fill_bytes(4 << 20)),
        Hostile("PNG with 300,000 empty chunks", lambda: png_many_chunks(300_000)),
        Hostile("PNG with 60 zTXt chunks of 1 MB", lambda: png_text_bomb(60)),
        Hostile("RLE8 BMP 6000x6000", lambda: bmp_rle8(6000, 6000)),
        # At the caps of imaging/budget.py: accepted, and what they cost is the bound.
        Hostile("JPEG 4800x3300 (16 MP, decoded at 1/8)",
                lambda: encode(photo_like(4800, 3300), "JPEG", quality=90), accepted=True),
        Hostile("JPEG 11000x400 (too long to scale down)",
                lambda: encode(photo_like(11000, 400), "JPEG", quality=90)),
        Hostile("progressive JPEG 2400x1660 (4 MP)",
                lambda: encode(photo_like(2400, 1660), "JPEG", quality=90, progressive=True),
                accepted=True),
        Hostile("CMYK JPEG 2400x1660 (4 MP)",
                lambda: encode(photo_like(2400, 1660, "CMYK"), "JPEG", quality=90),
                accepted=True),
        Hostile("CMYK progressive JPEG 1200x830 (1 MP)",
                lambda: encode(photo_like(1200, 830, "CMYK"), "JPEG", quality=90,
                               progressive=True), accepted=True),
        Hostile("16-bit RGBA PNG 1024x1024 (8 MiB of samples)", lambda: png16(1024, 1024),
                accepted=True),
        Hostile("RGB PNG 1670x1670 (8 MiB of samples)",
                lambda: encode(photo_like(1670, 1670), "PNG"), accepted=True),
        Hostile("palette PNG 1730x1150 with transparency (2 MP)",
                lambda: encode(photo_like(1730, 1150).convert("P"), "PNG", transparency=0),
                accepted=True),
        Hostile("16-bit grey PNG 2300x1730 (4 MP)",
                lambda: encode(Image.fromarray(np.asarray(photo_like(2300, 1730, "L"),
                                                          np.uint16) * 257), "PNG"),
                accepted=True),
        Hostile("1-bit BMP 1730x1150 (2 MP)",
                lambda: encode(photo_like(1730, 1150, "1"), "BMP"), accepted=True),
        Hostile("progressive JPEG 2400x1660 of noise (2.0 MB)",
                lambda: encode(noise(2400, 1660), "JPEG", quality=70, progressive=True),
                accepted=True),
        Hostile("progressive JPEG 2400x1660 of noise (2.8 MB)",
                lambda: encode(noise(2400, 1660), "JPEG", quality=85, progressive=True)),
        Hostile("lossy WebP 1730x1150 of noise (1.0 MB)",
                lambda: encode(noise(1730, 1150), "WEBP", quality=40), accepted=True),
        Hostile("lossy WebP 1730x1150 of noise (2.2 MB)",
                lambda: encode(noise(1730, 1150), "WEBP", quality=100)),
        Hostile("lossy WebP 1730x1150 (2 MP)",
                lambda: encode(photo_like(1730, 1150), "WEBP", quality=90), accepted=True),
        Hostile("lossless WebP 1730x1150 (2 MP)",
                lambda: encode(photo_like(1730, 1150), "WEBP", lossless=True, method=0),
                accepted=True),
    ]

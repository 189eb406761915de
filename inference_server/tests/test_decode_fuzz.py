"""Property-based tests of the decoder: whatever the bytes (random, truncated, mutated
real images, hand-built headers with hostile fields), decode() returns a (224, 224, 3)
uint8 array or raises ImageError with a worker error code, and inspect() raises nothing
else either. No deadline: nothing here is timed (every accepted input is bounded by
the budget, which test_decode_hostile.py checks)."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from inference_server.wire.contract import CODE_BAD_IMAGE, CODE_TOO_LARGE
from inference_server.imaging.decoder import Decoder, ImageError

from inference_server.testkit import hostile_images as hi

DECODER = Decoder(size=224, max_bytes=1 << 20)
FUZZ = settings(max_examples=150, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def check(data: bytes) -> None:
    """The property: an array of the right shape, or ImageError; nothing else."""
    try:
        DECODER.inspect(data)
    except ImageError as exc:
        assert exc.code in (CODE_BAD_IMAGE, CODE_TOO_LARGE)
    try:
        out = DECODER.decode(data)
    except ImageError as exc:
        assert exc.code in (CODE_BAD_IMAGE, CODE_TOO_LARGE)
        assert exc.message and "Traceback" not in exc.message
        return
    assert isinstance(out, np.ndarray)
    assert out.shape == (224, 224, 3) and out.dtype == np.uint8


def _encode(img: Image.Image, fmt: str, **options: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **options)
    return buf.getvalue()


def _seeds() -> list[bytes]:
    """Small real images of every accepted format and several modes."""
    rgb = hi.photo_like(48, 40)
    return [
        _encode(rgb, "JPEG", quality=80),
        _encode(rgb, "JPEG", progressive=True),
        _encode(rgb.convert("CMYK"), "JPEG"),
        _encode(rgb.convert("L"), "JPEG"),
        _encode(rgb, "PNG"),
        _encode(rgb.convert("RGBA"), "PNG"),
        _encode(rgb.convert("P"), "PNG", transparency=3),
        _encode(rgb.convert("1"), "PNG"),
        hi.png(40, 30, 16, hi.RGBA),
        hi.png(40, 30, 16, hi.GREY),
        _encode(rgb, "WEBP", quality=70),
        _encode(rgb.convert("RGBA"), "WEBP", lossless=True),
        _encode(rgb, "BMP"),
        _encode(rgb.convert("P"), "BMP"),
        _encode(rgb.convert("1"), "BMP"),
    ]


SEEDS = _seeds()


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A real image with a few bytes overwritten, cut short, spliced or duplicated."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["set", "truncate", "insert", "delete", "repeat",
                                   "header"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "set" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "truncate":
            del data[pos:]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=64))
        elif op == "delete":
            del data[pos:pos + draw(st.integers(1, 64))]
        elif op == "repeat":
            data[pos:pos] = data[pos:pos + draw(st.integers(1, 256))] * draw(
                st.integers(1, 20))
        elif op == "header":  # the first 64 bytes hold every format's dimensions
            at = draw(st.integers(0, 60))
            data[at:at + 4] = draw(st.binary(min_size=4, max_size=4))
    return bytes(data)


@st.composite
def png_structures(draw: st.DrawFn) -> bytes:
    """PNGs built from chunks with hostile fields: dimensions, depth, colour type,
    interlace, animation frames, text, lengths that lie."""
    width = draw(st.sampled_from([0, 1, 7, 224, 1000, 5000, 1 << 20, 0xFFFFFFFF]))
    height = draw(st.sampled_from([0, 1, 9, 224, 1000, 5000, 1 << 20, 0xFFFFFFFF]))
    depth = draw(st.sampled_from([1, 2, 4, 8, 16, 3, 32]))
    colour = draw(st.sampled_from([0, 2, 3, 4, 6, 1, 7]))
    interlace = draw(st.sampled_from([0, 1, 2]))
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace)
    chunks = [hi.png_chunk(b"IHDR", ihdr)]
    extra = draw(st.lists(st.sampled_from(["PLTE", "tRNS", "acTL", "zTXt", "iCCP", "eXIf",
                                           "junk", "badcrc", "hugelen"]), max_size=5))
    for kind in extra:
        if kind == "PLTE":
            chunks.append(hi.png_chunk(b"PLTE", bytes(range(48))))
        elif kind == "tRNS":
            chunks.append(hi.png_chunk(b"tRNS", b"\x00" * draw(st.integers(0, 8))))
        elif kind == "acTL":
            chunks.append(hi.png_chunk(b"acTL", struct.pack(">II", draw(st.integers(0, 9)), 0)))
        elif kind == "zTXt":
            chunks.append(hi.png_chunk(b"zTXt", b"k\x00\x00" + zlib.compress(b"x" * 300_000)))
        elif kind == "iCCP":
            chunks.append(hi.png_chunk(b"iCCP", b"p\x00\x00" + draw(st.binary(max_size=40))))
        elif kind == "eXIf":
            chunks.append(hi.png_chunk(b"eXIf", draw(st.binary(max_size=80))))
        elif kind == "junk":
            chunks.append(hi.png_chunk(b"juNk", draw(st.binary(max_size=40))))
        elif kind == "badcrc":
            chunks.append(hi.png_chunk(b"tEXt", b"a\x00b")[:-1] + b"\x00")
        else:
            chunks.append(struct.pack(">I", 0x7FFFFFF0) + b"IDAT" + b"\x00" * 16)
    row = draw(st.binary(min_size=0, max_size=64))
    chunks.append(hi.png_chunk(b"IDAT", zlib.compress(row * draw(st.integers(0, 200)))))
    if draw(st.booleans()):
        chunks.append(hi.png_chunk(b"IEND", b""))
    return hi.PNG_MAGIC + b"".join(chunks)


@st.composite
def jpeg_structures(draw: st.DrawFn) -> bytes:
    """A real JPEG's segments reordered, dropped, repeated, or with hostile frame
    headers (dimensions, precision, components, SOF type) and fill bytes."""
    base = draw(st.sampled_from(SEEDS[:4]))
    segments = _jpeg_segments(base)
    head, scan = segments[:-1], segments[-1]
    ops = draw(st.lists(st.sampled_from(["drop", "dup", "swap", "sof", "fill", "scans"]),
                        max_size=4))
    for op in ops:
        if not head:
            break
        i = draw(st.integers(0, len(head) - 1))
        if op == "drop":
            del head[i]
        elif op == "dup":
            head.insert(i, head[i])
        elif op == "swap":
            j = draw(st.integers(0, len(head) - 1))
            head[i], head[j] = head[j], head[i]
        elif op == "sof":
            for k, seg in enumerate(head):
                if 0xC0 <= seg[1] <= 0xCF and seg[1] not in (0xC4, 0xC8, 0xCC):
                    seg = bytearray(seg)
                    seg[1] = draw(st.sampled_from([0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC9, 0xCA,
                                                   0xCB, 0xCF]))
                    seg[4] = draw(st.sampled_from([8, 12, 16, 0]))
                    struct.pack_into(">HH", seg, 5, draw(st.integers(0, 65535)),
                                     draw(st.integers(0, 65535)))
                    seg[9] = draw(st.sampled_from([1, 2, 3, 4, 0, 255]))
                    head[k] = bytes(seg)
        elif op == "fill":
            head[i] = b"\xff" * draw(st.integers(1, 40)) + head[i]
        else:
            scan = scan[:-2] + scan[:draw(st.integers(4, 40))] * draw(st.integers(1, 150)) + (
                b"\xff\xd9")
    return b"\xff\xd8" + b"".join(head) + scan


def _jpeg_segments(data: bytes) -> list[bytes]:
    """SOI stripped; the marker segments up to the first scan, then the rest whole."""
    out = []
    pos = 2
    while pos + 4 <= len(data):
        marker = data[pos + 1]
        length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        if marker == 0xDA:
            out.append(data[pos:])
            return out
        out.append(data[pos:pos + 2 + length])
        pos += 2 + length
    out.append(data[pos:])
    return out


@st.composite
def webp_structures(draw: st.DrawFn) -> bytes:
    """RIFF/WEBP containers: simple lossy/lossless with lying dimensions, VP8X with
    flags, canvas sizes and chunk lists (ANMF, ALPH, EXIF) chosen freely."""
    kind = draw(st.sampled_from(["VP8 ", "VP8L", "VP8X"]))
    if kind == "VP8 ":
        return hi.webp_claiming(draw(st.integers(0, 16383)), draw(st.integers(0, 16383)))
    if kind == "VP8L":
        bits = draw(st.integers(0, (1 << 32) - 1))
        body = b"\x2f" + struct.pack("<I", bits) + draw(st.binary(max_size=64))
        return _riff(b"VP8L" + struct.pack("<I", len(body)) + body + b"\x00" * (len(body) & 1))
    flags = draw(st.integers(0, 255))
    canvas = draw(st.integers(0, (1 << 24) - 1)).to_bytes(3, "little") + draw(
        st.integers(0, (1 << 24) - 1)).to_bytes(3, "little")
    chunks = b"VP8X" + struct.pack("<I", 10) + bytes([flags, 0, 0, 0]) + canvas
    inner = SEEDS[10][12:]  # the VP8 chunk of a real lossy WebP
    for name in draw(st.lists(st.sampled_from([b"ANMF", b"ALPH", b"EXIF", b"VP8 "]),
                              max_size=4)):
        payload = inner if name == b"VP8 " else draw(st.binary(max_size=40))
        if name == b"VP8 ":
            chunks += payload
        else:
            chunks += name + struct.pack("<I", len(payload)) + payload + b"\x00" * (
                len(payload) & 1)
    return _riff(chunks)


def _riff(chunks: bytes) -> bytes:
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WEBP" + chunks


@st.composite
def bmp_structures(draw: st.DrawFn) -> bytes:
    """BMP headers with every field chosen: header size, dimensions (negative too), bit
    count, compression, palette size, data offset; then some pixel bytes."""
    info_size = draw(st.sampled_from([12, 40, 52, 56, 64, 108, 124, 16, 0]))
    width = draw(st.integers(-70000, 70000))
    height = draw(st.integers(-70000, 70000))
    bits = draw(st.sampled_from([1, 4, 8, 16, 24, 32, 0, 2, 64]))
    compression = draw(st.sampled_from([0, 1, 2, 3, 4, 5, 6, 99]))
    colours = draw(st.integers(0, 300))
    if info_size == 12:
        info = struct.pack("<IHHHH", 12, width & 0xFFFF, height & 0xFFFF, 1, bits)
    else:
        info = struct.pack("<IiiHHIIiiII", info_size, width, height, 1, bits, compression,
                           0, 2835, 2835, colours, 0).ljust(max(info_size, 4), b"\x00")
    pixels = draw(st.binary(max_size=2048))
    offset = draw(st.integers(0, 200)) if draw(st.booleans()) else 14 + len(info)
    return b"BM" + struct.pack("<IHHI", 14 + len(info) + len(pixels), 0, 0, offset) + (
        info + pixels)


@FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes(data: bytes) -> None:
    check(data)


@FUZZ
@given(st.sampled_from([b"\xff\xd8\xff", hi.PNG_MAGIC, b"RIFF\x00\x00\x00\x00WEBP", b"BM"]),
       st.binary(max_size=2048))
def test_right_magic_then_random_bytes(magic: bytes, rest: bytes) -> None:
    check(magic + rest)


@FUZZ
@given(mutated())
def test_mutated_real_images(data: bytes) -> None:
    check(data)


@FUZZ
@given(st.sampled_from(SEEDS), st.floats(0.0, 1.0))
def test_truncated_real_images(data: bytes, keep: float) -> None:
    check(data[:int(len(data) * keep)])


@FUZZ
@given(png_structures())
def test_png_structures(data: bytes) -> None:
    check(data)


@FUZZ
@given(jpeg_structures())
def test_jpeg_structures(data: bytes) -> None:
    check(data)


@FUZZ
@given(webp_structures())
def test_webp_structures(data: bytes) -> None:
    check(data)


@FUZZ
@given(bmp_structures())
def test_bmp_structures(data: bytes) -> None:
    check(data)


@pytest.mark.parametrize("data", SEEDS)
def test_every_seed_decodes(data: bytes) -> None:
    """The seeds are valid images (so the mutations start from something real)."""
    assert DECODER.decode(data).shape == (224, 224, 3)

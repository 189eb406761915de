"""Makes the image files of image-headers.tsv and the table itself.

    .venv/bin/python testdata/make_image_headers.py

The table is what both header readers must answer for each file: the hub's
(hub/internal/imagesniff, Inspect) and the worker's (inference_server/imaging/probe.py,
after sniff_format). Columns: the file (under image-headers/), its format as a content
type of the contract, its width and height; "-" for a format when neither takes the
bytes for an image, and for the size when the header is refused or cannot be read.
Each file is made here from the size the table states, so the table does not come from
either reader; the files are committed (a few hundred bytes each) and the tests only
read them. Rerunning rewrites them (Pillow's encoders may change their bytes, never
the headers' answers).
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
FILES = HERE / "image-headers"
TABLE = HERE / "image-headers.tsv"

JPEG, PNG, WEBP, BMP = "image/jpeg", "image/png", "image/webp", "image/bmp"


@dataclass(frozen=True)
class Case:
    file: str
    fmt: str | None  # None: not an image for either reader
    size: tuple[int, int] | None  # None: the header is refused
    what: str
    make: Callable[[], bytes]


def pixels(w: int, h: int, channels: int, dtype: type = np.uint8) -> np.ndarray:
    """A gradient: deterministic, and small once compressed."""
    top = np.iinfo(dtype).max
    y, x = np.mgrid[0:h, 0:w]
    planes = [(x * top // max(1, w - 1)), (y * top // max(1, h - 1)), ((x + y) * top // (w + h))]
    planes.append(top - y * (top // 2) // max(1, h - 1))  # alpha that is not all opaque
    return np.stack(planes[:channels], axis=-1).astype(dtype).reshape(h, w, channels)


def pillow(img: Image.Image, fmt: str, **kw: object) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **kw)
    return out.getvalue()


def rgb(w: int, h: int) -> Image.Image:
    return Image.fromarray(pixels(w, h, 3), "RGB")


# --- PNG by hand, for what Pillow does not write (16-bit colour, Adam7, odd headers) ---

def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def ihdr(w: int, h: int, depth: int, colour: int, interlace: int = 0) -> bytes:
    return chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, colour, 0, 0, interlace))


def png_raw(arr: np.ndarray, colour: int, interlace: bool = False) -> bytes:
    """An 8- or 16-bit PNG of `arr` (h, w, channels), filter 0, optionally Adam7."""
    h, w = arr.shape[:2]
    depth = arr.dtype.itemsize * 8
    big_endian = arr.astype(arr.dtype.newbyteorder(">"))

    def rows(a: np.ndarray) -> bytes:
        return b"".join(b"\x00" + row.tobytes() for row in a)

    if interlace:  # Adam7: seven passes, each a sub-image of its own rows
        passes = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4),
                  (1, 0, 2, 2), (0, 1, 1, 2))
        raw = b"".join(rows(big_endian[y0::dy, x0::dx]) for x0, y0, dx, dy in passes
                       if big_endian[y0::dy, x0::dx].size)
    else:
        raw = rows(big_endian)
    return (b"\x89PNG\r\n\x1a\n" + ihdr(w, h, depth, colour, int(interlace))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def png_header_only(w: int, h: int, depth: int, colour: int) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + ihdr(w, h, depth, colour) + chunk(b"IEND", b"")


# --- JPEG edits ------------------------------------------------------------------------

def jpeg(img: Image.Image, **kw: object) -> bytes:
    return pillow(img, "JPEG", quality=75, **kw)


def exif_orientation(value: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = value
    return exif.tobytes()


def jpeg_segments(data: bytes) -> list[tuple[int, bytes]]:
    """(marker, whole segment) up to and including the first SOS (its header only)."""
    out, pos = [], 2
    while True:
        marker = data[pos + 1]
        (length,) = struct.unpack_from(">H", data, pos + 2)
        out.append((marker, data[pos:pos + 2 + length]))
        if marker == 0xDA:
            return out
        pos += 2 + length


def jpeg_edit(edit: Callable[[list[tuple[int, bytes]]], list[bytes]]) -> bytes:
    """A baseline JPEG whose header segments are rewritten, then its scan, then EOI."""
    data = jpeg(rgb(24, 16))
    segments = jpeg_segments(data)
    scan = data[sum(len(s) for _, s in segments) + 2:]
    return b"\xff\xd8" + b"".join(edit(segments)) + scan


def sof_height(h: int) -> Callable[[list[tuple[int, bytes]]], list[bytes]]:
    def edit(segments: list[tuple[int, bytes]]) -> list[bytes]:
        return [s[:5] + struct.pack(">H", h) + s[7:] if m == 0xC0 else s for m, s in segments]
    return edit


def sof_components(n: int) -> Callable[[list[tuple[int, bytes]]], list[bytes]]:
    def edit(segments: list[tuple[int, bytes]]) -> list[bytes]:
        return [s[:9] + bytes([n]) + s[10:] if m == 0xC0 else s for m, s in segments]
    return edit


def scan_first(segments: list[tuple[int, bytes]]) -> list[bytes]:
    sos = [s for m, s in segments if m == 0xDA]
    return sos + [s for m, s in segments if m != 0xDA]


def fill_before_frame(segments: list[tuple[int, bytes]]) -> list[bytes]:
    return [b"\xff" * 3 + s if m == 0xC0 else s for m, s in segments]


# --- WebP and BMP edits ----------------------------------------------------------------

def riff(body: bytes, form: bytes = b"WEBP") -> bytes:
    return b"RIFF" + struct.pack("<I", len(body) + 4) + form + body


def webp_chunk(kind: bytes, data: bytes) -> bytes:
    """`data`, checked to start with the chunk its row describes."""
    assert data[12:16] == kind, data[12:16]
    return data


def webp_vp8_bad_start_code() -> bytes:
    data = bytearray(webp_chunk(b"VP8 ", pillow(rgb(24, 16), "WEBP", quality=80)))
    data[23:26] = b"\x00\x00\x00"
    return bytes(data)


def webp_vp8_zero_width() -> bytes:
    data = bytearray(webp_chunk(b"VP8 ", pillow(rgb(24, 16), "WEBP", quality=80)))
    struct.pack_into("<H", data, 26, 0)
    return bytes(data)


def webp_vp8l_bad_signature() -> bytes:
    data = bytearray(webp_chunk(b"VP8L", pillow(rgb(24, 16), "WEBP", lossless=True)))
    data[20] = 0x2E
    return bytes(data)


def bmp_edit(offset: int, fmt: str, value: int) -> Callable[[], bytes]:
    def make() -> bytes:
        data = bytearray(pillow(rgb(12, 10), "BMP"))
        struct.pack_into(fmt, data, offset, value)
        return bytes(data)
    return make


def bmp_os2(w: int, h: int) -> bytes:
    """OS/2 1.x: a 12-byte BITMAPCOREHEADER, 24 bits per pixel."""
    stride = (w * 3 + 3) & ~3
    rows = b"".join(bytes(pixels(w, 1, 3)[0].tobytes()).ljust(stride, b"\0") for _ in range(h))
    header = struct.pack("<IHHHH", 12, w, h, 1, 24)
    return b"BM" + struct.pack("<IHHI", 14 + 12 + len(rows), 0, 0, 26) + header + rows


def animated(fmt: str) -> bytes:
    frames = [rgb(20, 14), Image.fromarray(255 - pixels(20, 14, 3), "RGB")]
    return pillow(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100,
                  **({"lossless": True} if fmt == "WEBP" else {}))


CASES = [
    # PNG
    Case("png-rgb8.png", PNG, (33, 21), "8-bit RGB", lambda: pillow(rgb(33, 21), "PNG")),
    Case("png-rgba8.png", PNG, (33, 21), "8-bit RGBA",
         lambda: pillow(Image.fromarray(pixels(33, 21, 4), "RGBA"), "PNG")),
    Case("png-palette8.png", PNG, (31, 17), "8-bit palette",
         lambda: pillow(rgb(31, 17).quantize(200), "PNG")),
    Case("png-palette2.png", PNG, (31, 17), "2-bit palette",
         lambda: pillow(rgb(31, 17).quantize(4), "PNG", bits=2)),
    Case("png-rgb16.png", PNG, (19, 13), "16-bit RGB",
         lambda: png_raw(pixels(19, 13, 3, np.uint16), colour=2)),
    Case("png-rgba16.png", PNG, (19, 13), "16-bit RGBA",
         lambda: png_raw(pixels(19, 13, 4, np.uint16), colour=6)),
    Case("png-grey8.png", PNG, (29, 23), "8-bit grey",
         lambda: pillow(rgb(29, 23).convert("L"), "PNG")),
    Case("png-grey16.png", PNG, (29, 23), "16-bit grey",
         lambda: png_raw(pixels(29, 23, 1, np.uint16), colour=0)),
    Case("png-grey1.png", PNG, (29, 23), "1-bit grey",
         lambda: pillow(rgb(29, 23).convert("1"), "PNG")),
    Case("png-grey-alpha8.png", PNG, (29, 23), "8-bit grey + alpha",
         lambda: pillow(rgb(29, 23).convert("LA"), "PNG")),
    Case("png-adam7.png", PNG, (21, 19), "8-bit RGB, Adam7 interlaced",
         lambda: png_raw(pixels(21, 19, 3), colour=2, interlace=True)),
    Case("png-animated.png", PNG, (20, 14), "APNG of 2 frames (the canvas)",
         lambda: animated("PNG")),
    Case("png-zero-width.png", PNG, None, "refused: no pixels",
         lambda: png_header_only(0, 20, 8, 2)),
    Case("png-width-top-bit.png", PNG, None,
         "refused: a width past the format's 2^31 - 1",
         lambda: png_header_only(0x80000010, 16, 8, 2)),
    Case("png-colour-type-5.png", PNG, None, "refused: no such colour type",
         lambda: png_header_only(20, 20, 8, 5)),
    Case("png-first-chunk-not-ihdr.png", PNG, None, "refused: a chunk before the header chunk",
         lambda: b"\x89PNG\r\n\x1a\n" + chunk(b"gAMA", struct.pack(">I", 45455))
         + pillow(rgb(33, 21), "PNG")[8:]),
    Case("png-truncated.png", PNG, None, "refused: cut inside the header chunk",
         lambda: pillow(rgb(33, 21), "PNG")[:20]),
    # JPEG
    Case("jpeg-baseline.jpg", JPEG, (40, 30), "baseline, YCbCr 4:2:0",
         lambda: jpeg(rgb(40, 30))),
    Case("jpeg-progressive.jpg", JPEG, (40, 30), "progressive",
         lambda: jpeg(rgb(40, 30), progressive=True)),
    Case("jpeg-grey.jpg", JPEG, (37, 22), "baseline, one component",
         lambda: jpeg(rgb(37, 22).convert("L"))),
    Case("jpeg-cmyk.jpg", JPEG, (24, 18), "baseline, four components (CMYK)",
         lambda: jpeg(rgb(24, 18).convert("CMYK"))),
    Case("jpeg-exif.jpg", JPEG, (40, 30), "an EXIF segment before the frame header",
         lambda: jpeg(rgb(40, 30), exif=exif_orientation(1))),
    Case("jpeg-fill-bytes.jpg", JPEG, (24, 16), "three fill bytes before the frame header",
         lambda: jpeg_edit(fill_before_frame)),
    Case("jpeg-zero-height.jpg", JPEG, None, "refused: height 0 (left to a DNL marker)",
         lambda: jpeg_edit(sof_height(0))),
    Case("jpeg-zero-components.jpg", JPEG, None, "refused: a frame header of no components",
         lambda: jpeg_edit(sof_components(0))),
    Case("jpeg-scan-before-frame.jpg", JPEG, None, "refused: a scan before any frame header",
         lambda: jpeg_edit(scan_first)),
    Case("jpeg-truncated.jpg", JPEG, None, "refused: cut inside the first segment",
         lambda: jpeg(rgb(40, 30))[:10]),
    # WebP
    Case("webp-lossy.webp", WEBP, (41, 27), "lossy (VP8)",
         lambda: webp_chunk(b"VP8 ", pillow(rgb(41, 27), "WEBP", quality=80))),
    Case("webp-lossless.webp", WEBP, (41, 27), "lossless (VP8L)",
         lambda: webp_chunk(b"VP8L", pillow(rgb(41, 27), "WEBP", lossless=True))),
    Case("webp-lossy-alpha.webp", WEBP, (41, 27), "lossy with alpha (VP8X canvas)",
         lambda: webp_chunk(b"VP8X", pillow(Image.fromarray(pixels(41, 27, 4), "RGBA"), "WEBP",
                                            quality=80))),
    Case("webp-animated.webp", WEBP, (20, 14), "animated (VP8X canvas)",
         lambda: webp_chunk(b"VP8X", animated("WEBP"))),
    Case("webp-unknown-chunk.webp", WEBP, None, "refused: no image chunk first",
         lambda: riff(b"JUNK" + struct.pack("<I", 4) + b"abcd")),
    Case("webp-vp8-bad-start-code.webp", WEBP, None, "refused: lossy frame without its start code",
         webp_vp8_bad_start_code),
    Case("webp-vp8-zero-width.webp", WEBP, None, "refused: lossy frame of width 0",
         webp_vp8_zero_width),
    Case("webp-vp8l-bad-signature.webp", WEBP, None,
         "refused: lossless frame without its signature", webp_vp8l_bad_signature),
    Case("webp-truncated.webp", WEBP, None, "refused: cut after the chunk name",
         lambda: riff(b"VP8 ")),
    # BMP
    Case("bmp-rgb24.bmp", BMP, (12, 10), "24-bit, BITMAPINFOHEADER",
         lambda: pillow(rgb(12, 10), "BMP")),
    Case("bmp-palette8.bmp", BMP, (13, 9), "8-bit palette",
         lambda: pillow(rgb(13, 9).quantize(16), "BMP")),
    Case("bmp-1bit.bmp", BMP, (13, 9), "1-bit",
         lambda: pillow(rgb(13, 9).convert("1"), "BMP")),
    Case("bmp-top-down.bmp", BMP, (12, 10), "24-bit, negative height (rows top-down)",
         bmp_edit(22, "<i", -10)),
    Case("bmp-os2.bmp", BMP, (7, 5), "OS/2 1.x, BITMAPCOREHEADER",
         lambda: bmp_os2(7, 5)),
    Case("bmp-negative-width.bmp", BMP, None, "refused: negative width",
         bmp_edit(18, "<i", -12)),
    Case("bmp-zero-width.bmp", BMP, None, "refused: width 0",
         bmp_edit(18, "<i", 0)),
    Case("bmp-dib-20.bmp", BMP, None, "refused: an information header of 20 bytes",
         bmp_edit(14, "<I", 20)),
    Case("bmp-truncated.bmp", BMP, None, "refused: cut inside the information header",
         lambda: pillow(rgb(12, 10), "BMP")[:28]),
    # Not images for either
    Case("not-an-image.txt", None, None, "text", lambda: b"hello, not an image\n"),
    Case("gif.gif", None, None, "GIF: not an allowed format",
         lambda: pillow(rgb(8, 8).quantize(4), "GIF")),
    Case("riff-wave.wav", None, None, "RIFF, but a WAVE", lambda: riff(b"fmt ", b"WAVE")),
]


def main() -> None:
    FILES.mkdir(exist_ok=True)
    lines = [
        "# What the hub's and the worker's image header readers must both answer for each",
        "# file of image-headers/ (made by make_image_headers.py; read by",
        "# hub/internal/imagesniff/header_test.go and inference_server/tests/test_probe.py).",
        "# format: the content type, - when neither takes the bytes for an image;",
        "# width, height: - when the header is refused or cannot be read.",
        "file\tformat\twidth\theight\tcase",
    ]
    for case in CASES:
        (FILES / case.file).write_bytes(case.make())
        w, h = case.size if case.size else ("-", "-")
        lines.append(f"{case.file}\t{case.fmt or '-'}\t{w}\t{h}\t{case.what}")
    TABLE.write_text("\n".join(lines) + "\n")
    print(f"{len(CASES)} files, {sum(f.stat().st_size for f in FILES.iterdir())} bytes")


if __name__ == "__main__":
    main()

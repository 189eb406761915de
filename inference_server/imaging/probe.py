"""What an image's header says, read from the bytes before any decoder sees them.

Every loop here is bounded by a small constant, so reading the header of any body costs
microseconds, whatever it holds. Pillow reads some structures one byte or one chunk at a
time in Python (JPEG fill bytes, PNG chunks) and allocates a WebP canvas as soon as it
opens the file: the decoder decides from this probe first, and hands Pillow only bodies
whose structure and size it has accepted.
"""

from __future__ import annotations

import dataclasses
import re
import struct
from dataclasses import dataclass


class ProbeError(ValueError):
    """The body's structure is corrupt, unsupported or hostile; the message says which."""


# --- limits on structure (not on pixels: see budget.py) ------------------------------

# PNG chunks in one file. Encoders write the data in chunks of 8 KiB to 1 MiB, so an
# 8 MiB image has at most about a thousand; Pillow handles each chunk in Python (about
# 2.5 µs each: 300,000 empty chunks took 0.77 s).
MAX_PNG_CHUNKS = 4096
# JPEG marker segments (tables, APPn, scans). A camera JPEG has 10 to 30; a progressive
# one adds a few per scan.
MAX_JPEG_SEGMENTS = 512
# Scans of one JPEG: libjpeg-turbo's own tools refuse more than 500 (-maxscans); a
# progressive encoder writes about 10. Each scan may touch every coefficient again.
MAX_JPEG_SCANS = 100
# 0xFF fill bytes allowed before one marker: legal, never more than a few in practice,
# and Pillow reads them one at a time in Python (4 MiB of them took 1.6 s).
MAX_JPEG_FILL = 16
# WebP chunks (VP8X files: ICCP, ANIM, ANMF, ALPH, VP8, EXIF, XMP).
MAX_WEBP_CHUNKS = 64

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# PNG colour type -> (channels, palette)
# The PNG format caps each side at 2^31 - 1 (the top bit of the field is reserved).
_PNG_MAX_SIDE = 0x7FFFFFFF
_PNG_COLOUR = {0: (1, False), 2: (3, False), 3: (1, True), 4: (2, False), 6: (4, False)}
_PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
# JPEG start-of-frame markers: SOF0 baseline, SOF1 extended, SOF2 progressive (Huffman);
# SOF9, SOF10 the same with arithmetic coding. Lossless and hierarchical are refused.
_JPEG_SOF = {0xC0: False, 0xC1: False, 0xC2: True, 0xC9: False, 0xCA: True}
_JPEG_SOF_REFUSED = {0xC3, 0xC5, 0xC6, 0xC7, 0xCB, 0xCD, 0xCE, 0xCF}
_JPEG_SOS, _JPEG_EOI, _JPEG_SOI = 0xDA, 0xD9, 0xD8
# After the first scan: the next marker that is not byte stuffing (FF00), a restart
# (FFD0-FFD7) or fill (FFFF).
_JPEG_NEXT_MARKER = re.compile(rb"\xff[\xc0-\xcf\xd8-\xfe]")
_BMP_INFO_SIZES = (12, 40, 52, 56, 64, 108, 124)  # those Pillow reads


@dataclass(frozen=True)
class Probe:
    """The header of a frame, as its format's decoder will see it."""

    fmt: str  # JPEG, PNG, WEBP or BMP (Pillow's names)
    width: int
    height: int
    channels: int = 3  # samples per pixel in the file (JPEG components, PNG channels)
    bit_depth: int = 8  # bits per sample (bits per pixel for BMP)
    frames: int = 1
    palette: bool = False
    progressive: bool = False  # JPEG
    scans: int = 1  # JPEG
    interlaced: bool = False  # PNG Adam7
    lossless: bool = False  # WebP VP8L
    exif_bytes: int = 0  # size of the EXIF block, 0 when none
    body_bytes: int = 0  # size of the whole encoded image

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def multi_scan(self) -> bool:
        """A JPEG libjpeg buffers whole (every coefficient) between its scans."""
        return self.progressive or self.scans > 1

    @property
    def animated(self) -> bool:
        return self.frames > 1


def probe(data: bytes, fmt: str) -> Probe:
    """Read the header of `data` (already sniffed as `fmt`). Raises ProbeError."""
    reader = _READERS.get(fmt)
    if reader is None:
        raise ProbeError(f"no reader for {fmt}")
    try:
        found = reader(data)
    except (struct.error, IndexError):
        raise ProbeError(f"{_NAMES[fmt]} header is truncated") from None
    if found.width < 1 or found.height < 1:
        raise ProbeError("image has no pixels")
    return dataclasses.replace(found, body_bytes=len(data))


_NAMES = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP", "BMP": "BMP"}


def _png(data: bytes) -> Probe:
    pos = len(PNG_MAGIC)
    length, kind = struct.unpack_from(">I4s", data, pos)
    if kind != b"IHDR" or length != 13:
        raise ProbeError("PNG does not start with its header chunk")
    width, height, depth, colour, _, _, interlace = struct.unpack_from(">IIBBBBB", data,
                                                                        pos + 8)
    if not 0 < width <= _PNG_MAX_SIDE or not 0 < height <= _PNG_MAX_SIDE:
        raise ProbeError(f"PNG claims {width}x{height}, outside the format's 1..2^31-1")
    if colour not in _PNG_COLOUR or depth not in _PNG_DEPTHS[colour]:
        raise ProbeError(f"PNG colour type {colour} at bit depth {depth} is not valid")
    channels, palette = _PNG_COLOUR[colour]
    frames = 1
    exif = 0
    chunks = 0
    pos += 12 + length
    end = len(data)
    while pos + 8 <= end:
        chunks += 1
        if chunks > MAX_PNG_CHUNKS:
            raise ProbeError(f"PNG has more than {MAX_PNG_CHUNKS} chunks")
        length, kind = struct.unpack_from(">I4s", data, pos)
        if kind == b"acTL" and length >= 8:
            frames = max(1, struct.unpack_from(">I", data, pos + 8)[0])
        elif kind == b"eXIf":
            exif = length
        elif kind == b"IEND":
            break
        pos += 12 + length
    return Probe("PNG", width, height, channels=channels, bit_depth=depth, frames=frames,
                 palette=palette, interlaced=interlace == 1, exif_bytes=exif)


def _jpeg(data: bytes) -> Probe:
    pos = 2  # after SOI
    segments = 0
    sof: tuple[int, int, int, int, bool] | None = None  # width, height, comps, depth, prog
    exif = 0
    while True:
        pos = _jpeg_marker_start(data, pos)
        marker = data[pos + 1]
        segments += 1
        if segments > MAX_JPEG_SEGMENTS:
            raise ProbeError(f"JPEG has more than {MAX_JPEG_SEGMENTS} marker segments")
        if marker in (_JPEG_SOI, _JPEG_EOI) or 0xD0 <= marker <= 0xD7:
            raise ProbeError("JPEG has no image data before its end")
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if length < 2 or pos + 2 + length > len(data):
            raise ProbeError("JPEG header is truncated")
        if marker in _JPEG_SOF_REFUSED:
            raise ProbeError("lossless and hierarchical JPEGs are not supported")
        if marker in _JPEG_SOF:
            if sof is not None:  # libjpeg refuses it too, but after Pillow sized it
                raise ProbeError("JPEG has more than one frame header")
            depth, height, width, comps = struct.unpack_from(">BHHB", data, pos + 4)
            sof = (width, height, comps, depth, _JPEG_SOF[marker])
        elif marker == 0xE1 and data[pos + 4:pos + 10] == b"Exif\x00\x00" and not exif:
            exif = length - 2
        elif marker == _JPEG_SOS:
            break
        pos += 2 + length
    if sof is None:
        raise ProbeError("JPEG has no frame header before its first scan")
    width, height, comps, depth, progressive = sof
    if depth != 8:
        raise ProbeError(f"{depth}-bit JPEG is not supported")
    if comps not in (1, 3, 4):
        raise ProbeError(f"JPEG with {comps} components is not supported")
    if height == 0:
        raise ProbeError("JPEG without its height in the frame header is not supported")
    scans = _jpeg_scans(data, pos, segments)
    return Probe("JPEG", width, height, channels=comps, bit_depth=depth,
                 progressive=progressive, scans=scans, exif_bytes=exif)


def _jpeg_marker_start(data: bytes, pos: int) -> int:
    """Position of the marker at `pos`, after at most MAX_JPEG_FILL fill bytes."""
    if data[pos] != 0xFF:
        raise ProbeError("JPEG structure is corrupt (expected a marker)")
    window = data[pos:pos + MAX_JPEG_FILL + 2]
    fill = len(window) - len(window.lstrip(b"\xff"))
    if fill > MAX_JPEG_FILL:
        raise ProbeError("JPEG has a run of fill bytes")
    if pos + fill >= len(data):
        raise ProbeError("JPEG header is truncated")
    return pos + fill - 1


def _jpeg_scans(data: bytes, sos: int, segments: int) -> int:
    """Scans from the first one to the end of the image, counted by walking the markers
    between them (tables inside a segment or an EXIF thumbnail are skipped)."""
    scans = 1
    (length,) = struct.unpack_from(">H", data, sos + 2)
    pos = sos + 2 + length
    while True:
        found = _JPEG_NEXT_MARKER.search(data, pos)
        if found is None:
            return scans  # no end marker: the decoder will say truncated
        pos = found.start()
        marker = data[pos + 1]
        if marker == _JPEG_EOI:
            return scans
        segments += 1
        if segments > MAX_JPEG_SEGMENTS:
            raise ProbeError(f"JPEG has more than {MAX_JPEG_SEGMENTS} marker segments")
        if marker == _JPEG_SOI or marker in _JPEG_SOF:
            return scans  # a second image (MPO) or garbage: libjpeg stops before it
        if pos + 4 > len(data):
            return scans
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if marker == _JPEG_SOS:
            scans += 1
            if scans > MAX_JPEG_SCANS:
                raise ProbeError(f"JPEG has more than {MAX_JPEG_SCANS} scans")
        pos += 2 + max(length, 2)


def _webp(data: bytes) -> Probe:
    kind = data[12:16]
    if kind == b"VP8 ":
        return _vp8(data, 20)
    if kind == b"VP8L":
        return _vp8l(data, 20)
    if kind != b"VP8X":
        raise ProbeError("WebP has no image chunk")
    flags = data[20]
    width = int.from_bytes(data[24:27], "little") + 1
    height = int.from_bytes(data[27:30], "little") + 1
    if flags & 0x02:  # the animation flag: no need to count the frames
        return Probe("WEBP", width, height, frames=2)
    frames = 0
    exif = 0
    lossless = False
    pos = 30
    for _ in range(MAX_WEBP_CHUNKS):
        if pos + 8 > len(data):
            break
        chunk, length = struct.unpack_from("<4sI", data, pos)
        if chunk == b"ANMF":
            frames += 1
        elif chunk == b"EXIF":
            exif = length
        elif chunk == b"VP8L":
            lossless = True
        pos += 8 + length + (length & 1)
    else:
        raise ProbeError(f"WebP has more than {MAX_WEBP_CHUNKS} chunks")
    return Probe("WEBP", width, height, channels=4 if flags & 0x10 else 3,
                 frames=max(frames, 1), lossless=lossless, exif_bytes=exif)


def _vp8(data: bytes, pos: int) -> Probe:
    if data[pos + 3:pos + 6] != b"\x9d\x01\x2a":
        raise ProbeError("WebP lossy frame header is corrupt")
    width, height = struct.unpack_from("<HH", data, pos + 6)
    return Probe("WEBP", width & 0x3FFF, height & 0x3FFF)


def _vp8l(data: bytes, pos: int) -> Probe:
    if data[pos] != 0x2F:
        raise ProbeError("WebP lossless header is corrupt")
    (bits,) = struct.unpack_from("<I", data, pos + 1)
    width = (bits & 0x3FFF) + 1
    height = ((bits >> 14) & 0x3FFF) + 1
    return Probe("WEBP", width, height, channels=4, lossless=True)


def _bmp(data: bytes) -> Probe:
    (info_size,) = struct.unpack_from("<I", data, 14)
    if info_size not in _BMP_INFO_SIZES:
        raise ProbeError(f"BMP header of {info_size} bytes is not supported")
    if info_size == 12:  # OS/2 1.x: 16-bit dimensions, never compressed
        width, height, _, bits = struct.unpack_from("<HHHH", data, 18)
        compression = 0
    else:
        width, height, _, bits, compression = struct.unpack_from("<iiHHI", data, 18)
        if width < 0:  # Pillow reads it unsigned: a negative width is 4 billion pixels
            raise ProbeError("BMP width is negative")
    if compression not in (0, 3, 6):  # BI_RGB, BI_BITFIELDS, BI_ALPHABITFIELDS
        # RLE runs are decoded by a Python loop in Pillow, one run at a time; embedded
        # JPEG/PNG is a way around the other checks.
        raise ProbeError("compressed BMP (RLE, JPEG, PNG) is not supported")
    if bits not in (1, 4, 8, 16, 24, 32):
        raise ProbeError(f"BMP with {bits} bits per pixel is not supported")
    # A negative height is a top-down image.
    return Probe("BMP", width, abs(height), channels=3, bit_depth=bits,
                 palette=bits <= 8)


_READERS = {"PNG": _png, "JPEG": _jpeg, "WEBP": _webp, "BMP": _bmp}

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from inference_server.wire.contract import CODE_BAD_IMAGE, CODE_TOO_LARGE
from inference_server.imaging.decoder import Decoder, ImageError, sniff_format


def encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def huge_png(width: int, height: int) -> bytes:
    """A valid-looking PNG header claiming width x height, with a few bytes of data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat)
            + png_chunk(b"IEND", b""))


def stripes(width: int, height: int, vertical: bool = True) -> Image.Image:
    """Three equal bands red | green | blue (left to right, or top to bottom)."""
    arr = np.zeros((height, width, 3), np.uint8)
    if vertical:
        third = width // 3
        arr[:, :third, 0] = 255
        arr[:, third:2 * third, 1] = 255
        arr[:, 2 * third:, 2] = 255
    else:
        third = height // 3
        arr[:third, :, 0] = 255
        arr[third:2 * third, :, 1] = 255
        arr[2 * third:, :, 2] = 255
    return Image.fromarray(arr)


def code_of(decoder: Decoder, data: bytes) -> ImageError:
    with pytest.raises(ImageError) as info:
        decoder.decode(data)
    return info.value


def test_sniff_formats() -> None:
    img = Image.new("RGB", (8, 8), (1, 2, 3))
    assert sniff_format(encode(img, "JPEG")) == "JPEG"
    assert sniff_format(encode(img, "PNG")) == "PNG"
    assert sniff_format(encode(img, "WEBP")) == "WEBP"
    assert sniff_format(encode(img, "BMP")) == "BMP"
    assert sniff_format(encode(img, "GIF")) is None
    assert sniff_format(encode(img, "TIFF")) is None
    assert sniff_format(b"") is None
    assert sniff_format(b"hello world") is None


def test_all_test_photos_decode_to_224_rgb(decoded: dict[str, np.ndarray]) -> None:
    assert {"cat.bmp", "cat_720p.jpg", "grace_hopper.bmp", "parrot.jpg"} <= set(decoded)
    for name, arr in decoded.items():
        assert arr.shape == (224, 224, 3), name
        assert arr.dtype == np.uint8, name
        assert arr.std() > 10, f"{name} decoded to a flat image"


@pytest.mark.parametrize("mode,fmt,kw", [
    ("RGB", "PNG", {}),
    ("RGBA", "PNG", {}),
    ("L", "PNG", {}),
    ("P", "PNG", {}),
    ("RGB", "WEBP", {"quality": 90}),
    ("RGBA", "WEBP", {"lossless": True}),
    ("L", "JPEG", {}),
    ("CMYK", "JPEG", {}),
    ("RGB", "BMP", {}),
])
def test_formats_and_modes(decoder: Decoder, mode: str, fmt: str, kw: dict) -> None:
    img = Image.new("RGB", (320, 240), (200, 40, 40)).convert(mode)
    out = decoder.decode(encode(img, fmt, **kw))
    assert out.shape == (224, 224, 3)
    assert out.dtype == np.uint8


def test_sixteen_bit_png_is_scaled_not_clipped(decoder: Decoder) -> None:
    arr = np.full((50, 50), 40000, np.uint16)
    out = decoder.decode(encode(Image.fromarray(arr), "PNG"))
    assert out.shape == (224, 224, 3)
    assert abs(int(out[100, 100, 0]) - 40000 // 256) <= 1


def test_center_crop_wide_and_tall(decoder: Decoder) -> None:
    wide = decoder.decode(encode(stripes(672, 224, vertical=True), "PNG"))
    assert (wide[..., 1] == 255).all() and (wide[..., 0] == 0).all() and (wide[..., 2] == 0).all()
    tall = decoder.decode(encode(stripes(100, 300, vertical=False), "PNG"))
    inner = tall[8:-8, 8:-8]  # bilinear may blend the outermost rows
    assert (inner[..., 1] > 240).all() and (inner[..., 0] < 15).all()


def test_jpeg_draft_decode_matches_full_decode(image_bytes: dict[str, bytes],
                                               decoder: Decoder) -> None:
    data = image_bytes["cat_720p.jpg"]
    fast = decoder.decode(data).astype(np.int16)
    with Image.open(io.BytesIO(data)) as im:
        full = im.convert("RGB").resize((224, 224), Image.Resampling.BILINEAR,
                                        box=(280, 0, 1000, 720))
    assert np.abs(fast - np.asarray(full, np.int16)).mean() < 4.0


def test_exif_orientation_is_applied(decoder: Decoder) -> None:
    arr = np.zeros((100, 200, 3), np.uint8)
    arr[:, :100, 0] = 255  # left red
    arr[:, 100:, 2] = 255  # right blue
    img = Image.fromarray(arr)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when shown
    out = decoder.decode(encode(img, "JPEG", exif=exif, quality=95)).astype(int)
    # Shown upright the halves are top and bottom, not left and right.
    top, bottom = out[20, 112], out[203, 112]
    assert abs(top[0] - bottom[0]) > 150 and abs(top[2] - bottom[2]) > 150
    left, right = out[112, 20], out[112, 203]
    assert np.abs(left - right).max() < 60


def test_garbage_is_bad_image(decoder: Decoder) -> None:
    err = code_of(decoder, b"this is not an image at all")
    assert err.code == CODE_BAD_IMAGE
    assert code_of(decoder, b"").code == CODE_BAD_IMAGE
    # The right magic bytes followed by junk.
    assert code_of(decoder, b"\xff\xd8\xff" + b"\x00" * 200).code == CODE_BAD_IMAGE
    assert code_of(decoder, b"\x89PNG\r\n\x1a\n" + b"junk" * 50).code == CODE_BAD_IMAGE
    assert code_of(decoder, b"BM" + b"\x01" * 100).code == CODE_BAD_IMAGE
    assert code_of(decoder, b"RIFF\x00\x00\x00\x00WEBPjunk").code == CODE_BAD_IMAGE


def test_unsupported_formats_are_bad_image(decoder: Decoder) -> None:
    img = Image.new("RGB", (64, 64), (9, 9, 9))
    for fmt in ("GIF", "TIFF", "ICO", "PPM"):
        assert code_of(decoder, encode(img, fmt)).code == CODE_BAD_IMAGE, fmt


def test_truncated_jpeg_is_bad_image(image_bytes: dict[str, bytes], decoder: Decoder) -> None:
    data = image_bytes["cat_720p.jpg"]
    err = code_of(decoder, data[: len(data) // 2])
    assert err.code == CODE_BAD_IMAGE
    assert "truncated" in err.message
    # The decoder is fine afterwards.
    assert decoder.decode(data).shape == (224, 224, 3)


def test_truncated_png_and_bmp_are_bad_image(image_bytes: dict[str, bytes],
                                             decoder: Decoder) -> None:
    png = encode(Image.fromarray(np.random.default_rng(1).integers(
        0, 255, (200, 200, 3), dtype=np.uint8)), "PNG")
    assert code_of(decoder, png[: len(png) // 2]).code == CODE_BAD_IMAGE
    bmp = image_bytes["cat.bmp"]
    assert code_of(decoder, bmp[: len(bmp) // 2]).code == CODE_BAD_IMAGE


def test_huge_dimensions_refused_from_the_header(decoder: Decoder) -> None:
    data = huge_png(100_000, 100_000)
    assert len(data) < 200
    err = code_of(decoder, data)
    assert err.code == CODE_BAD_IMAGE
    assert "too large" in err.message


def test_huge_jpeg_dimensions_refused(image_bytes: dict[str, bytes], decoder: Decoder) -> None:
    data = bytearray(image_bytes["cat_720p.jpg"])
    sof = data.find(b"\xff\xc0")
    if sof < 0:
        sof = data.find(b"\xff\xc2")
    assert sof > 0
    struct.pack_into(">HH", data, sof + 5, 60000, 60000)  # height, width
    err = code_of(decoder, bytes(data))
    assert err.code == CODE_BAD_IMAGE
    assert "too large" in err.message


def test_pixel_limit_is_configurable() -> None:
    small = Decoder(size=224, max_pixels=100 * 100)
    ok = encode(Image.new("RGB", (100, 100)), "PNG")
    too_big = encode(Image.new("RGB", (101, 100)), "PNG")
    assert small.decode(ok).shape == (224, 224, 3)
    assert code_of(small, too_big).code == CODE_BAD_IMAGE


def test_oversize_body_is_too_large() -> None:
    dec = Decoder(size=224, max_bytes=1000)
    data = encode(Image.new("RGB", (300, 300)), "BMP")
    assert len(data) > 1000
    err = code_of(dec, data)
    assert err.code == CODE_TOO_LARGE
    # Garbage that is also too big is too_large: the size is checked first.
    assert code_of(dec, b"x" * 1001).code == CODE_TOO_LARGE


def test_error_messages_carry_no_internals(image_bytes: dict[str, bytes],
                                           decoder: Decoder) -> None:
    data = image_bytes["parrot.jpg"]
    for bad in (data[:5000], b"\xff\xd8\xff" + b"\x13" * 99, huge_png(99999, 99999)):
        msg = code_of(decoder, bad).message
        assert "/" not in msg and "Traceback" not in msg and "File " not in msg

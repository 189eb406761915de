"""The worker's header reader against the table it shares with the hub's
(testdata/image-headers.tsv; hub/internal/imagesniff/header_test.go reads the same):
for every file, the same format and the same size, or the same refusal."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from inference_server.wire import contract as c
from inference_server.imaging.decoder import sniff_format
from inference_server.imaging.probe import ProbeError, probe

from .procs import REPO_ROOT

TABLE = REPO_ROOT / "testdata" / "image-headers.tsv"
# Pillow's format names (sniff_format, probe) as the contract's content types.
CONTENT_TYPES = {"JPEG": c.CONTENT_TYPE_JPEG, "PNG": c.CONTENT_TYPE_PNG,
                 "WEBP": c.CONTENT_TYPE_WEBP, "BMP": c.CONTENT_TYPE_BMP}


@dataclass(frozen=True)
class Row:
    file: Path
    content_type: str | None  # None: not an image
    size: tuple[int, int] | None  # None: the header is refused
    case: str


def read_table() -> list[Row]:
    rows = []
    lines = [line for line in TABLE.read_text().splitlines() if not line.startswith("#")]
    assert lines[0].split("\t") == ["file", "format", "width", "height", "case"]
    for line in lines[1:]:
        file, fmt, width, height, case = line.split("\t")
        size = None if width == "-" else (int(width), int(height))
        rows.append(Row(TABLE.parent / "image-headers" / file, None if fmt == "-" else fmt,
                        size, case))
    return rows


ROWS = read_table()


def test_the_table_covers_every_format_and_refusals() -> None:
    formats = {row.content_type for row in ROWS}
    assert formats == {None, *c.IMAGE_CONTENT_TYPES}
    for fmt in c.IMAGE_CONTENT_TYPES:
        sizes = [row.size for row in ROWS if row.content_type == fmt]
        assert None in sizes and len(sizes) - sizes.count(None) >= 4, fmt


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.file.name)
def test_probe_answers_as_the_table(row: Row) -> None:
    data = row.file.read_bytes()
    fmt = sniff_format(data)
    assert (CONTENT_TYPES[fmt] if fmt else None) == row.content_type, row.case
    if fmt is None:
        return
    if row.size is None:
        with pytest.raises(ProbeError):
            probe(data, fmt)
        return
    found = probe(data, fmt)
    assert (found.width, found.height) == row.size, row.case
    # The table describes real images: Pillow reads the same size from them.
    with Image.open(io.BytesIO(data)) as img:
        assert img.size == row.size, row.case

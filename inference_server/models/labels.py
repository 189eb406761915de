"""Class labels: from a labels file or from the file embedded in a TFLite model."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

NUM_CLASSES = 1000  # ImageNet; `index` in results is always 0..999


class LabelsError(ValueError):
    """Labels could not be read or do not fit the model."""


def parse_labels(text: str) -> list[str]:
    """One label a line; blank lines at the end are ignored, lines kept as they are."""
    lines = [line.strip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def imagenet_labels(labels: list[str], source: str) -> list[str]:
    """Normalize to the 1000 ImageNet classes: a 1001-line list whose first line is
    `background` (the TFLite models' class 0) loses that line."""
    if len(labels) == NUM_CLASSES + 1 and labels[0].lower() == "background":
        labels = labels[1:]
    if len(labels) != NUM_CLASSES:
        raise LabelsError(f"{source} has {len(labels)} labels, expected {NUM_CLASSES} "
                          f"(or {NUM_CLASSES + 1} starting with 'background')")
    if any(not label for label in labels):
        raise LabelsError(f"{source} has empty labels")
    return labels


def read_labels_file(path: str | Path) -> list[str]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise LabelsError(f"cannot read labels file {p}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise LabelsError(f"labels file {p} is not UTF-8 text") from None
    return imagenet_labels(parse_labels(text), f"labels file {p}")


def embedded_labels(model_bytes: bytes) -> list[str] | None:
    """Labels from the TFLite metadata's associated files: a ZIP appended to the
    .tflite file. Returns None when the model carries no label file."""
    try:
        with zipfile.ZipFile(io.BytesIO(model_bytes)) as zf:
            names = [n for n in zf.namelist() if n.lower().endswith(".txt")]
            if not names:
                return None
            # Prefer a file that says it holds labels (e.g. imagenet_labels.txt).
            names.sort(key=lambda n: (0 if "label" in n.lower() else 1, n))
            text = zf.read(names[0]).decode("utf-8")
    except (zipfile.BadZipFile, KeyError, UnicodeDecodeError, OSError):
        return None
    return parse_labels(text)

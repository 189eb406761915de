"""Class labels: read from a labels file, from the file embedded in a TFLite model, or
from ONNX/OpenVINO metadata, and matched to a model's output classes."""

from __future__ import annotations

import ast
import hashlib
import io
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..wire.contract import LABELS_FROM_FILE, LABELS_FROM_IMAGENET, LABELS_FROM_METADATA

NUM_CLASSES = 1000  # ImageNet; `index` in its results is 0..999 (a leading background dropped)
MIN_CLASSES = 2
MAX_CLASSES = 100_000
BACKGROUND = "background"
LABELS_TXT = "labels.txt"

# Teachable Machine writes `0 cat`, `1 dog`: each line starts with its own index.
_INDEXED_LINE = re.compile(r"^(\d+)\s+(.*)$")


class LabelsError(ValueError):
    """Labels could not be read or do not fit the model."""


def parse_labels(text: str) -> list[str]:
    """One label a line; blank lines at the end are ignored, lines kept as they are,
    except that lines which all start with their own index (`0 cat`, `1 dog`:
    Teachable Machine's labels.txt) lose that index."""
    lines = [line.strip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    matches = [_INDEXED_LINE.match(line) for line in lines]
    if lines and all(m is not None and int(m.group(1)) == i for i, m in enumerate(matches)):
        return [m.group(2).strip() for m in matches if m is not None]
    return lines


def imagenet_labels(labels: list[str], source: str) -> list[str]:
    """Normalize to the 1000 ImageNet classes: a 1001-line list whose first line is
    `background` (the TFLite models' class 0) loses that line."""
    if len(labels) == NUM_CLASSES + 1 and labels[0].lower() == BACKGROUND:
        labels = labels[1:]
    if len(labels) != NUM_CLASSES:
        raise LabelsError(f"{source} has {len(labels)} labels, expected {NUM_CLASSES} "
                          f"(or {NUM_CLASSES + 1} starting with 'background')")
    if any(not label for label in labels):
        raise LabelsError(f"{source} has empty labels")
    return labels


def read_label_lines(path: str | Path) -> list[str]:
    """The labels of a labels file as they are (parse_labels), any count."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise LabelsError(f"cannot read labels file {p}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise LabelsError(f"labels file {p} is not UTF-8 text") from None
    return parse_labels(text)


def read_labels_file(path: str | Path) -> list[str]:
    """The 1000 ImageNet labels of a labels file (MobileNetV2 weights, torch-cuda)."""
    return imagenet_labels(read_label_lines(path), f"labels file {path}")


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


def labels_from_text(value: str) -> list[str] | None:
    """Labels written into a metadata string: a JSON list, a Python dict literal
    `{0: 'cat', 1: 'dog'}` (Ultralytics' `names`), or one label a line. None when
    it holds fewer than two."""
    text = value.strip()
    found: Any = None
    if text[:1] in "[{":
        try:
            found = json.loads(text)
        except ValueError:
            try:
                found = ast.literal_eval(text)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                found = None
    if isinstance(found, dict):
        try:
            found = [str(found[k]) for k in sorted(found, key=int)]
        except (TypeError, ValueError):
            found = None
    elif isinstance(found, list):
        found = [str(v) for v in found]
    if found is None:
        found = parse_labels(text)
    return found if len(found) >= MIN_CLASSES else None


@dataclass(frozen=True)
class ClassLabels:
    """A model's labels as matched to its output: `labels[i]` names output
    `offset + i` (offset 1: an ImageNet model's leading background output, dropped
    from results); `source` is one of the contract's LABELS_* values."""

    labels: list[str]
    source: str
    offset: int = 0

    @property
    def sha256(self) -> str:
        """sha256 of the labels, one a line, UTF-8 (hex): the same list, the same digest."""
        return hashlib.sha256(("\n".join(self.labels) + "\n").encode("utf-8")).hexdigest()


def check_class_count(classes: int, where: str) -> None:
    if not MIN_CLASSES <= classes <= MAX_CLASSES:
        raise LabelsError(f"{where} has {classes} output class{'es' if classes != 1 else ''}; "
                          f"a classifier here has {MIN_CLASSES} to {MAX_CLASSES:,}")


def match_labels(labels: list[str], outputs: int, source: str, where: str) -> ClassLabels:
    """`labels` fitted to a model of `outputs` classes. A list one longer whose first
    label is `background` loses it; an ImageNet model of 1001 outputs with 1000 labels
    (or `background` first) has its output 0 dropped, so results keep ImageNet's 0..999.
    Any other count that differs is an error naming both numbers."""
    named = "the labels in the model's metadata" if source == LABELS_FROM_METADATA else (
        f"labels file {where}" if source == LABELS_FROM_FILE else f"the {source} labels")
    has_background = bool(labels) and labels[0].strip().lower() == BACKGROUND
    if outputs == NUM_CLASSES + 1 and (
            len(labels) == NUM_CLASSES or (len(labels) == outputs and has_background)):
        kept, offset = labels[len(labels) - NUM_CLASSES:], 1
    elif len(labels) == outputs + 1 and has_background:
        kept, offset = labels[1:], 0
    elif len(labels) == outputs:
        kept, offset = labels, 0
    else:
        raise LabelsError(f"{named} has {len(labels)} labels but the model has {outputs} "
                          "output classes")
    if any(not label for label in kept):
        raise LabelsError(f"{named} has empty labels")
    return ClassLabels(list(kept), source, offset)


def resolve_labels(outputs: int, where: str, labels_path: str | None,
                   metadata: list[str] | None) -> ClassLabels:
    """The labels of a model of `outputs` classes: a labels file when one is given
    (LABELS, or labels.txt beside the model), else those in the model's own metadata.
    Raises LabelsError when there are none or they do not fit."""
    check_class_count(outputs, where)
    if labels_path:
        return match_labels(read_label_lines(labels_path), outputs, LABELS_FROM_FILE,
                            str(labels_path))
    if metadata is not None:
        return match_labels(metadata, outputs, LABELS_FROM_METADATA, where)
    raise LabelsError(f"{where} carries no class names in its metadata; put a {LABELS_TXT} "
                      "beside it (one label a line) or pass --labels <file> (WORKER_LABELS=...)")


def imagenet_class_labels(labels: list[str]) -> ClassLabels:
    """The 1000 ImageNet class names Keras knows (the `keras` model)."""
    return ClassLabels(list(labels), LABELS_FROM_IMAGENET)

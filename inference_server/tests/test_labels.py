from __future__ import annotations

from pathlib import Path

import pytest

from inference_server.models.labels import (LabelsError, embedded_labels, imagenet_labels, parse_labels,
                                     read_labels_file)


def test_parse_keeps_lines_as_they_are() -> None:
    assert parse_labels("a\ntabby, tabby cat\n\n\n") == ["a", "tabby, tabby cat"]
    assert parse_labels("x\r\ny\r\n") == ["x", "y"]


def test_background_line_is_dropped_from_1001() -> None:
    names = [f"c{i}" for i in range(1000)]
    assert imagenet_labels(["background", *names], "t") == names
    assert imagenet_labels(names, "t") == names


def test_wrong_counts_are_refused() -> None:
    with pytest.raises(LabelsError, match="999 labels"):
        imagenet_labels([f"c{i}" for i in range(999)], "t")
    with pytest.raises(LabelsError):
        imagenet_labels([f"c{i}" for i in range(1001)], "t")  # 1001 without background


def test_shared_labels_file(labels_file: Path) -> None:
    labels = read_labels_file(labels_file)
    assert len(labels) == 1000
    assert labels[0] == "tench, Tinca tinca"
    assert labels[285] == "Egyptian cat"
    assert labels[652] == "military uniform"
    assert labels[88] == "macaw"


def test_missing_labels_file(tmp_path: Path) -> None:
    with pytest.raises(LabelsError, match="cannot read labels file"):
        read_labels_file(tmp_path / "nope.txt")


@pytest.mark.parametrize("which", ["quant", "ptq"])
def test_embedded_labels_from_tflite_metadata(which: str, quant_model_path: Path,
                                              ptq_model_path: Path, labels_file: Path) -> None:
    path = quant_model_path if which == "quant" else ptq_model_path
    found = embedded_labels(path.read_bytes())
    assert found is not None
    assert len(found) == 1001 and found[0] == "background"
    assert imagenet_labels(found, "x") == read_labels_file(labels_file)


def test_no_embedded_labels() -> None:
    assert embedded_labels(b"TFL3" + b"\x00" * 1000) is None

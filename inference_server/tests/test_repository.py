"""models/repository.py on real folders: what a scan serves, what it reports, --serve,
and the name of a MODEL= model."""

from __future__ import annotations

from pathlib import Path

import pytest

from inference_server.config import ConfigError, load_config
from inference_server.models.repository import (ServeSelection, ServeSelectionError,
                                                is_repository, one_model_version,
                                                scan_repository, single_model_name)
from inference_server.wire import contract as c


def put(root: Path, rel: str, text: str = "x") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_scan_finds_versions_and_reports_each_bad_one_alone(tmp_path: Path) -> None:
    put(tmp_path, "birds/1/birds.tflite")
    put(tmp_path, "birds/2/birds.onnx")
    put(tmp_path, "birds/2/labels.txt", "a\nb\n")
    put(tmp_path, "birds/2/model.yaml", "display_name: Birds\ntop_k: 5\n")
    put(tmp_path, "birds/10/model.xml")
    put(tmp_path, "birds/10/model.bin")
    put(tmp_path, "cars/1/a.tflite")
    put(tmp_path, "cars/1/b.tflite")  # two model files
    put(tmp_path, "cars/2/readme.md")  # none
    put(tmp_path, "cars/3/m.keras")
    put(tmp_path, "cars/3/model.yaml", "colour: red\n")  # unknown key
    put(tmp_path, "cars/03/m.h5")  # not a version
    put(tmp_path, "cars/4/m.xml")  # an IR without its .bin
    put(tmp_path, "bad.name/1/m.tflite")
    put(tmp_path, "notes.txt")
    scan = scan_repository(tmp_path)
    assert [(v.name, v.version, v.platform) for v in scan.versions] == [
        ("birds", 1, c.PLATFORM_TFLITE), ("birds", 2, c.PLATFORM_ONNX),
        ("birds", 10, c.PLATFORM_OPENVINO)]
    birds2 = scan.versions[1]
    assert birds2.model == f"onnx:{tmp_path / 'birds/2/birds.onnx'}"
    assert birds2.labels == str(tmp_path / "birds/2/labels.txt")
    assert (birds2.config.display_name, birds2.config.top_k) == ("Birds", 5)
    assert scan.versions[0].labels is None and birds2.ref == "birds@2"
    assert sorted(scan.errors) == ["bad.name", "cars/03", "cars@1", "cars@2", "cars@3",
                                   "cars@4"]
    assert "2 model files" in scan.errors["cars@1"]
    assert "no model file" in scan.errors["cars@2"]
    assert "colour" in scan.errors["cars@3"]
    assert ".bin" in scan.errors["cars@4"]
    assert is_repository(tmp_path)


def test_a_folder_of_model_files_is_not_a_repository(tmp_path: Path) -> None:
    put(tmp_path, "mobilenet.tflite")
    put(tmp_path, "other/readme.md")
    assert not is_repository(tmp_path)
    assert not is_repository(tmp_path / "missing")


def test_serve_selection() -> None:
    sel = ServeSelection.parse(" a, b@2 ,")
    assert sel.refs == (("a", None), ("b", 2)) and sel.text == "a,b@2"
    assert sel.wants("a", 7) and sel.wants("b", 2)
    assert not sel.wants("b", 1) and not sel.wants("c", 1)
    assert ServeSelection.parse("").wants("anything", 1)
    for bad in ("a@0", "a.b", "a@x", "a@1@2"):
        with pytest.raises(ServeSelectionError, match="--serve"):
            ServeSelection.parse(bad)


def test_the_name_of_a_model_given_by_MODEL() -> None:
    assert single_model_name("keras") == "mobilenet_v2"
    assert single_model_name("keras-random") == "mobilenet_v2"
    assert single_model_name("tflite:/m/mobilenet_v2_1.0_224_quant.tflite") == (
        "mobilenet_v2_1_0_224_quant")
    assert single_model_name("openvino:/m/my model.xml") == "my_model"
    one = one_model_version("onnx:/m/x.onnx", None, "/l.txt")
    assert (one.name, one.version, one.labels, one.ref) == ("x", 1, "/l.txt", "x@1")
    assert one_model_version("keras", "imagenet", None).name == "imagenet"
    for name in ("a", "mobilenet_v2_1_0_224_quant", "my_model"):
        assert c.MODEL_NAME_RE.match(name)


def test_config_checks_model_name_and_serve(tmp_path: Path) -> None:
    cfg = load_config(["--model", "keras", "--model-name", "net-1"], env={})
    assert cfg.model_name == "net-1"
    assert load_config([], env={"WORKER_SERVE": "a,b@2"}).serve == "a,b@2"
    for argv, why in ((["--model", "keras", "--model-name", "a.b"], "--model-name"),
                      (["--model-name", "a"], "--model-name names the --model"),
                      (["--serve", "a@0"], "--serve"),
                      (["--model", "keras", "--serve", "a"], "--serve picks")):
        with pytest.raises(ConfigError, match=why):
            load_config(argv, env={})

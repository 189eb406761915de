"""model.yaml: what it may say, and a clear error naming the key for what it may not."""

from __future__ import annotations

from pathlib import Path

import pytest

from inference_server.models.model_config import (InputOverrides, ModelConfig, ModelConfigError,
                                                  parse_model_config, read_model_config)


def test_no_file_is_an_empty_config(tmp_path: Path) -> None:
    assert read_model_config(tmp_path) == ModelConfig()


def test_every_key_read(tmp_path: Path) -> None:
    (tmp_path / "model.yaml").write_text(
        "display_name: Insects\n"
        "description: iNaturalist insects, 1,022 species\n"
        "top_k: 5\n"
        "input:\n  size: [160, 192]\n  layout: nchw\n  color_order: BGR\n"
        "  mean: 127.5\n  std: [58.4, 57.1, 57.4]\n", encoding="utf-8")
    assert read_model_config(tmp_path) == ModelConfig(
        display_name="Insects", description="iNaturalist insects, 1,022 species", top_k=5,
        input=InputOverrides(size=(160, 192), layout="NCHW", color_order="BGR",
                             mean=(127.5, 127.5, 127.5), std=(58.4, 57.1, 57.4)))


def test_a_single_side_is_a_square() -> None:
    assert parse_model_config({"input": {"size": 224}}, "m").input.size == (224, 224)


@pytest.mark.parametrize("doc, key", [
    ({"topk": 3}, "unknown key topk"),
    ({"input": {"sise": 3}}, "unknown key input.sise"),
    ({"top_k": 11}, "top_k 11"),
    ({"top_k": True}, "top_k True"),
    ({"input": {"size": [224]}}, "input.size"),
    ({"input": {"size": [0, 224]}}, "input.size"),
    ({"input": {"layout": "HWC"}}, "input.layout"),
    ({"input": {"color_order": "GRB"}}, "input.color_order"),
    ({"input": {"mean": [1, 2]}}, "input.mean"),
    ({"input": {"std": 0}}, "input.std"),
    ({"display_name": 3}, "display_name must be text"),
    (["a"], "must be a mapping"),
])
def test_mistakes_name_the_key(doc: object, key: str) -> None:
    with pytest.raises(ModelConfigError, match=key):
        parse_model_config(doc, "repo/m/1/model.yaml")


def test_unreadable_yaml_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "model.yaml").write_text("input: [unclosed\n", encoding="utf-8")
    with pytest.raises(ModelConfigError, match="model.yaml: cannot be read"):
        read_model_config(tmp_path)

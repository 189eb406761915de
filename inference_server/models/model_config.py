"""A model's own configuration: `model.yaml` beside the model file in a repository
version directory (`<name>/<version>/model.yaml`, inference_server/README.md, *Model repository*).

Everything in it is optional. It names the model for people (display name,
description), sets the labels per result, and overrides what the model file says (or
does not say) about its input: size, layout, colour order and normalisation. An unknown
key or a value of the wrong kind is an error naming the file and the key, so a typo
never silently leaves a model running with the wrong input.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

MODEL_CONFIG_FILE = "model.yaml"

LAYOUTS = ("NHWC", "NCHW")
COLOR_ORDERS = ("RGB", "BGR")
MAX_TOP_K = 10


class ModelConfigError(ValueError):
    """model.yaml cannot be read or says something this worker does not accept."""


@dataclass(frozen=True)
class InputOverrides:
    """What model.yaml's `input:` says about the model's input; None: as the file says."""

    size: tuple[int, int] | None = None  # (height, width) in pixels
    layout: str | None = None  # one of LAYOUTS
    color_order: str | None = None  # one of COLOR_ORDERS
    # Normalisation of a float input, per channel on 0-255 pixel values:
    # (pixel - mean) / std; e.g. mean 127.5 and std 127.5 give [-1, 1].
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class ModelConfig:
    """The contents of one model.yaml (all optional)."""

    display_name: str | None = None
    description: str | None = None
    top_k: int | None = None  # labels per result when a frame does not say (1-10)
    input: InputOverrides = InputOverrides()


def read_model_config(directory: str | Path) -> ModelConfig:
    """The model.yaml in `directory`, or an empty ModelConfig when there is none."""
    path = Path(directory) / MODEL_CONFIG_FILE
    if not path.is_file():
        return ModelConfig()
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ModelConfigError(f"{path}: cannot be read: {exc}") from exc
    return parse_model_config(loaded, str(path))


def parse_model_config(loaded: Any, source: str) -> ModelConfig:
    """A ModelConfig from model.yaml's parsed contents (None for an empty file)."""
    if loaded is None:
        return ModelConfig()
    doc = _mapping(loaded, source, "the file")
    _known(doc, {"display_name", "description", "top_k", "input"}, source, "")
    top_k = doc.get("top_k")
    if top_k is not None and (not _is_int(top_k) or not 1 <= top_k <= MAX_TOP_K):
        raise ModelConfigError(f"{source}: top_k {top_k!r} must be an integer from 1 to {MAX_TOP_K}")
    return ModelConfig(
        display_name=_text(doc, "display_name", source),
        description=_text(doc, "description", source),
        top_k=top_k,
        input=_input(doc.get("input"), source),
    )


def _input(loaded: Any, source: str) -> InputOverrides:
    if loaded is None:
        return InputOverrides()
    doc = _mapping(loaded, source, "input")
    _known(doc, {f.name for f in fields(InputOverrides)}, source, "input.")
    size = doc.get("size")
    if size is not None:
        if _is_int(size):
            size = [size, size]
        if (not isinstance(size, list) or len(size) != 2
                or not all(_is_int(s) and 1 <= s <= 8192 for s in size)):
            raise ModelConfigError(f"{source}: input.size {doc['size']!r} must be a side or "
                                   "[height, width], each 1 to 8192 pixels")
        size = (size[0], size[1])
    layout = _choice(doc, "layout", LAYOUTS, source)
    color_order = _choice(doc, "color_order", COLOR_ORDERS, source)
    mean = _triple(doc, "mean", source)
    std = _triple(doc, "std", source)
    if std is not None and any(s <= 0 for s in std):
        raise ModelConfigError(f"{source}: input.std {list(std)} must be positive")
    return InputOverrides(size=size, layout=layout, color_order=color_order, mean=mean, std=std)


def _mapping(loaded: Any, source: str, what: str) -> dict[str, Any]:
    if not isinstance(loaded, dict) or not all(isinstance(k, str) for k in loaded):
        raise ModelConfigError(f"{source}: {what} must be a mapping of names to values")
    return loaded


def _known(doc: dict[str, Any], known: set[str], source: str, prefix: str) -> None:
    unknown = sorted(set(doc) - known)
    if unknown:
        raise ModelConfigError(f"{source}: unknown key {prefix}{unknown[0]} "
                               f"(known: {', '.join(prefix + k for k in sorted(known))})")


def _text(doc: dict[str, Any], key: str, source: str) -> str | None:
    value = doc.get(key)
    if value is not None and not isinstance(value, str):
        raise ModelConfigError(f"{source}: {key} must be text")
    return value


def _choice(doc: dict[str, Any], key: str, choices: tuple[str, ...], source: str) -> str | None:
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or value.upper() not in choices:
        raise ModelConfigError(f"{source}: input.{key} {value!r} must be one of {', '.join(choices)}")
    return value.upper()


def _triple(doc: dict[str, Any], key: str, source: str) -> tuple[float, float, float] | None:
    value = doc.get(key)
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value] * 3
    if (not isinstance(value, list) or len(value) != 3
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        raise ModelConfigError(f"{source}: input.{key} {doc[key]!r} must be a number or three numbers")
    return (float(value[0]), float(value[1]), float(value[2]))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)

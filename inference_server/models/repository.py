"""A model repository: a folder of `<name>/<version>/` folders, each with one model file,
an optional `labels.txt` and an optional `model.yaml` (inference_server/README.md, *Model repository*).

    models/
      mobilenet_v2/1/mobilenet_v2_1.0_224_quant.tflite
      mobilenet_v2/2/model.onnx  labels.txt  model.yaml
      birds/3/birds.xml  birds.bin

A name is one NATS subject token (contract MODEL_NAME_RE); a version is an integer
(its folder's name, no leading zero). The highest version of a name is its default;
every version found is served unless `--serve` picks some. A version that cannot be
served as found (a bad name, no model file or two, an unreadable model.yaml) is an
error of that version alone, reported by its reference, never fatal for the others.

`MODEL=<file>` is a repository of one model (one_model_version): its name is the
file's stem made token-safe (MODEL_NAME to choose another), version 1.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from ..wire import contract
from .base import MODEL_NAME
from .default_model import MODEL_SUFFIXES
from .model_config import ModelConfig, ModelConfigError, read_model_config
from .spec import KERAS, KERAS_RANDOM, ModelSpec, parse_model

LABELS_FILE = "labels.txt"
# The version of a model given by MODEL= (a repository of one).
SINGLE_MODEL_VERSION = 1
# An OpenVINO IR is its .xml; the .bin beside it is part of it, not a second model.
_COMPANION_SUFFIXES = {".bin"}
_NOT_TOKEN = re.compile(r"[^A-Za-z0-9_-]+")


class ServeSelectionError(ValueError):
    """--serve names something that is not a model reference."""


@dataclass(frozen=True)
class ModelVersion:
    """One version of a model, as the repository (or MODEL=) has it."""

    name: str
    version: int
    model: str  # the MODEL text of its file (spec.py): tflite:<path>, keras, ...
    labels: str | None = None  # labels.txt of the version (or LABELS for MODEL=)
    config: ModelConfig = field(default_factory=ModelConfig)
    directory: str | None = None  # <repository>/<name>/<version>; None for MODEL=

    @property
    def ref(self) -> str:
        """name@version (service metadata `models`, `model_errors`)."""
        return contract.model_ref(self.name, self.version)

    @property
    def spec(self) -> ModelSpec:
        return parse_model(self.model)

    @property
    def platform(self) -> str:
        """The model file's format (contract PLATFORM_*): the MODEL kind."""
        return self.spec.kind


@dataclass
class RepositoryScan:
    """What a scan found: the versions that can be served, and why others cannot
    (reference or folder -> message)."""

    versions: list[ModelVersion] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


def is_repository(folder: str | Path) -> bool:
    """True when `folder` holds at least one `<name>/<digits>/` folder: a repository,
    not a folder of model files (the offline default's search path, default_model.py)."""
    root = Path(folder)
    if not root.is_dir():
        return False
    return any(version.is_dir() and version.name.isdigit()
               for name in root.iterdir() if name.is_dir()
               for version in name.iterdir())


def scan_repository(folder: str | Path) -> RepositoryScan:
    """Every `<name>/<version>/` of the repository at `folder`, sorted by name then
    version. Files at the top and second level that are not folders are ignored."""
    scan = RepositoryScan()
    root = Path(folder)
    for name_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        name = name_dir.name
        if name.startswith("."):
            continue  # .git, editors' folders
        versions = sorted((p for p in name_dir.iterdir() if p.is_dir()),
                          key=lambda p: (len(p.name), p.name))
        if not contract.MODEL_NAME_RE.match(name):
            scan.errors[name] = (f"{name_dir}: a model name is 1-64 of A-Z a-z 0-9 _ - "
                                 "(one NATS subject token)")
            continue
        for version_dir in versions:
            if not contract.VERSION_RE.match(version_dir.name):
                scan.errors[f"{name}/{version_dir.name}"] = (
                    f"{version_dir}: a version is a number from {contract.MIN_MODEL_VERSION} "
                    f"to {contract.MAX_MODEL_VERSION} without leading zeros")
                continue
            version = int(version_dir.name)
            try:
                scan.versions.append(read_version(name, version, version_dir))
            except VersionError as exc:
                scan.errors[contract.model_ref(name, version)] = str(exc)
    return scan


class VersionError(ValueError):
    """One version folder cannot be served as it is; the message says why."""


def read_version(name: str, version: int, folder: Path) -> ModelVersion:
    """The ModelVersion of one `<name>/<version>/` folder. Raises VersionError."""
    models = [p for p in sorted(folder.iterdir())
              if p.is_file() and p.suffix.lower() in MODEL_SUFFIXES]
    if not models:
        raise VersionError(f"{folder}: no model file (one of "
                           f"{', '.join(sorted(MODEL_SUFFIXES))})")
    if len(models) > 1:
        raise VersionError(f"{folder}: {len(models)} model files "
                           f"({', '.join(p.name for p in models)}); keep one")
    path = models[0]
    kind = MODEL_SUFFIXES[path.suffix.lower()]
    if kind == "openvino" and not path.with_suffix(".bin").is_file():
        raise VersionError(f"{path}: an OpenVINO IR needs its .bin beside it")
    try:
        config = read_model_config(folder)
    except ModelConfigError as exc:
        raise VersionError(str(exc)) from None
    labels = folder / LABELS_FILE
    return ModelVersion(name=name, version=version, model=f"{kind}:{path}",
                        labels=str(labels) if labels.is_file() else None, config=config,
                        directory=str(folder))


def single_model_name(model: str) -> str:
    """The name of the model MODEL= gives: `mobilenet_v2` for the Keras MobileNetV2
    (`keras`, `keras-random`), else its file's stem with every run of characters a
    subject token cannot hold made one `_` (mobilenet_v2_1.0_224_quant.tflite ->
    mobilenet_v2_1_0_224_quant)."""
    if model in (KERAS, KERAS_RANDOM):
        return MODEL_NAME
    spec = parse_model(model)
    if spec.path is None:
        return MODEL_NAME
    name = _NOT_TOKEN.sub("_", Path(spec.path).stem).strip("_")[:64]
    return name or MODEL_NAME


def one_model_version(model: str, name: str | None, labels: str | None) -> ModelVersion:
    """MODEL= as a repository of one: `name` (MODEL_NAME) or single_model_name, version 1;
    `labels`: LABELS."""
    return ModelVersion(name=name or single_model_name(model), version=SINGLE_MODEL_VERSION,
                        model=model, labels=labels)


# --- --serve ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ServeSelection:
    """`--serve a,b@2`: which model-versions to serve; empty: all of them. A bare name
    serves every version of it found, `name@version` that one."""

    refs: tuple[tuple[str, int | None], ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> "ServeSelection":
        """Raises ServeSelectionError naming the first reference that is not one."""
        refs: list[tuple[str, int | None]] = []
        for part in (text or "").split(","):
            part = part.strip()
            if not part:
                continue
            if not re.match(contract.MODEL_REF_PATTERN, part):
                raise ServeSelectionError(
                    f"--serve {part!r} is not name or name@version (a name is 1-64 of "
                    "A-Z a-z 0-9 _ -, a version a number from 1)")
            name, _, version = part.partition(contract.MODEL_REF_VERSION_SEPARATOR)
            refs.append((name, int(version) if version else None))
        return cls(tuple(refs))

    @property
    def text(self) -> str:
        return ",".join(n if v is None else contract.model_ref(n, v) for n, v in self.refs)

    def wants(self, name: str, version: int) -> bool:
        return not self.refs or any(n == name and v in (None, version) for n, v in self.refs)

    def pick(self, versions: Iterable[ModelVersion]) -> list[ModelVersion]:
        return [v for v in versions if self.wants(v.name, v.version)]

    def missing(self, versions: Sequence[ModelVersion]) -> list[str]:
        """The references no version found answers (for a warning)."""
        return [n if v is None else contract.model_ref(n, v) for n, v in self.refs
                if not any(m.name == n and v in (None, m.version) for m in versions)]

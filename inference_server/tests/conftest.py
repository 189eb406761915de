"""Shared fixtures: the real test data (models and photos) from ../shared/testdata."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from inference_server.models.runtimes.litert import TfliteBackend
from inference_server.imaging.decoder import Decoder

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("SHARED_TESTDATA", REPO_ROOT.parent / "shared" / "testdata"))
MODELS = SHARED / "models"
IMAGES = SHARED / "images"
QUANT_MODEL = MODELS / "mobilenet_v2_1.0_224_quant.tflite"
PTQ_MODEL = MODELS / "tf2_mobilenet_v2_1.0_224_ptq.tflite"
LABELS_FILE = SHARED / "imagenet_labels.txt"


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"test data missing: {path} (set SHARED_TESTDATA to the shared/testdata "
                    "folder holding models/ and images/)", pytrace=False)
    return path


@pytest.fixture(scope="session")
def quant_model_path() -> Path:
    return _require(QUANT_MODEL)


@pytest.fixture(scope="session")
def ptq_model_path() -> Path:
    return _require(PTQ_MODEL)


@pytest.fixture(scope="session")
def labels_file() -> Path:
    return _require(LABELS_FILE)


@pytest.fixture(scope="session")
def image_bytes() -> dict[str, bytes]:
    """All photos of the shared test data, by file name."""
    _require(IMAGES)
    return {p.name: p.read_bytes() for p in sorted(IMAGES.iterdir()) if p.is_file()}


@pytest.fixture(scope="session")
def decoder() -> Decoder:
    return Decoder(size=224)


@pytest.fixture(scope="session")
def decoded(image_bytes: dict[str, bytes], decoder: Decoder) -> dict[str, np.ndarray]:
    return {name: decoder.decode(data) for name, data in image_bytes.items()}


@pytest.fixture(scope="session")
def quant_backend(quant_model_path: Path) -> TfliteBackend:
    return TfliteBackend(str(quant_model_path), num_threads=2)


@pytest.fixture(scope="session")
def ptq_backend(ptq_model_path: Path) -> TfliteBackend:
    return TfliteBackend(str(ptq_model_path), num_threads=2)

"""Selecting the torch-cuda runtime (models/runtimes/torch_cuda.py) where it cannot run,
through the one load path (models/load.py): this machine has no torch (and make test
must not need it) and no GPU. Asked for by name it stops the worker at start with a
message naming what is missing; under WORKER_RUNTIME=auto it is skipped with a warning. Model
files it does not run are refused by kind."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from inference_server.models import ModelLoadError, parse_model, selection
from inference_server.models.load import load_model
from inference_server.models.mobilenet_v2 import convert as mobilenet_v2_convert
from inference_server.models.mobilenet_v2.layout import random_weights, save_npz
from inference_server.models.runtimes import torch_cuda
from inference_server.models.selection import LoadOptions
from inference_server.ops.log import _FIELDS

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    """torch cannot be imported (whether or not this machine has it)."""
    monkeypatch.setitem(sys.modules, "torch", None)


@pytest.fixture
def torch_without_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    """A torch that imports but sees no GPU, as a CUDA build on a machine without a
    driver reports itself (only what unavailable_reason reads)."""
    torch = types.ModuleType("torch")
    torch.__version__ = "2.11.0+cu130"  # type: ignore[attr-defined]
    torch.version = types.SimpleNamespace(cuda="13.0")  # type: ignore[attr-defined]
    torch.cuda = types.SimpleNamespace(is_available=lambda: False)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch", torch)


def test_named_without_torch_names_what_is_missing(no_torch: None) -> None:
    with pytest.raises(ModelLoadError, match=r"WORKER_RUNTIME=torch-cuda cannot run here: PyTorch "
                                             r"is not installed .* needs torch built with CUDA"):
        load_model("keras-random", "torch-cuda")


def test_named_without_a_gpu_names_what_is_missing(torch_without_cuda: None) -> None:
    with pytest.raises(ModelLoadError, match=r"PyTorch 2.11.0\+cu130 sees no CUDA GPU \(built "
                                             r"for CUDA 13.0, but no NVIDIA GPU or driver"):
        load_model("keras-random", "torch-cuda")


class _Stand:
    """A model that loads at once and answers zeros: stands in for the runtimes torch-cuda
    is timed against, so only torch-cuda's own load runs for real."""

    kind = "stand-in"
    input_size = 224
    precision = ""

    def warm_up(self, batch_max: int) -> None:
        pass

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return np.zeros((len(batch), 1000), dtype=np.float32)

    def close(self) -> None:
        pass


def test_auto_skips_it_with_a_warning(no_torch: None, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch,
                                      caplog: pytest.LogCaptureFixture) -> None:
    real = selection.load_runtime

    def others_stand_in(runtime: str, *args: object) -> object:
        if runtime == "torch-cuda":
            return real(runtime, *args)  # type: ignore[arg-type]
        return _Stand()

    monkeypatch.setattr(selection, "load_runtime", others_stand_in)
    weights = tmp_path / "mine.h5"
    weights.write_bytes(b"pretend HDF5")
    with caplog.at_level(logging.WARNING):
        backend, choice = load_model(f"keras:{weights}", "auto",
                                     LoadOptions(timing_s=0.01), batch_max=1)
    assert choice.runtime != "torch-cuda" and "torch-cuda" not in choice.figures
    assert "PyTorch is not installed" in choice.skipped["torch-cuda"]
    (line,) = [r for r in caplog.records if "runtime skipped" in r.getMessage()]
    assert getattr(line, _FIELDS)["runtime"] == "torch-cuda"
    assert "PyTorch is not installed" in getattr(line, _FIELDS)["error"]
    backend.close()


@pytest.mark.parametrize("name", ["m.tflite", "m.onnx", "m.xml"])
def test_other_runtimes_files_are_refused_by_kind(name: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    kind = {"m.tflite": "tflite", "m.onnx": "onnx", "m.xml": "openvino"}[name]
    (tmp_path / name).write_bytes(b"a model file")
    spec = f"{kind}:{tmp_path / name}"
    with pytest.raises(ModelLoadError, match=f"cannot run a {kind} model"):
        load_model(spec, "torch-cuda")
    # Under auto it is never tried for such a file.
    tried: list[str] = []

    def record(runtime: str, *args: object) -> object:
        tried.append(runtime)
        raise ModelLoadError("not loaded by this test")

    monkeypatch.setattr(selection, "load_runtime", record)
    with pytest.raises(ModelLoadError):
        load_model(spec, "auto")
    assert tried and "torch-cuda" not in tried
    # And the runtime itself names the kind, whoever calls it.
    with pytest.raises(ModelLoadError, match=f"not {kind} files"):
        torch_cuda.load_torch_cuda(parse_model(spec))


def test_an_unknown_mode_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch_cuda, "unavailable_reason", lambda: None)
    monkeypatch.setenv("WORKER_TORCH_CUDA_MODE", "fast")
    with pytest.raises(ModelLoadError, match="WORKER_TORCH_CUDA_MODE='fast' is not one of graphs"):
        load_model("keras-random", "torch-cuda")


def test_worker_stops_at_start_with_the_reason(tmp_path: Path) -> None:
    """The real worker process, WORKER_RUNTIME=torch-cuda, no torch here: exit 2 before any
    connection, the reason on stderr."""
    env = {**os.environ, "WORKER_RUNTIME": "torch-cuda"}
    # Hide any torch this machine might have: the check must hold on a CPU-only box.
    (tmp_path / "torch.py").write_text("raise ImportError('torch hidden by the test')\n")
    env["PYTHONPATH"] = f"{tmp_path}{os.pathsep}{REPO}"
    proc = subprocess.run([sys.executable, "-m", "inference_server", "--model", "keras-random",
                           "--nats-url", "nats://127.0.0.1:1"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "WORKER_RUNTIME=torch-cuda cannot run here: PyTorch is not installed" in proc.stderr


# --- weights: found without Keras, or a clear error -------------------------------


def test_keras_random_needs_no_keras() -> None:
    weights = torch_cuda.resolve_weights(parse_model("keras-random"), Path("/nonexistent"))
    assert weights.tensors.keys() == random_weights(0).keys()


def test_a_converted_file_is_used_as_is(tmp_path: Path) -> None:
    path = save_npz(tmp_path / "w.npz", random_weights(1), "test file")
    weights = torch_cuda.resolve_weights(parse_model(f"keras:{path}"), tmp_path / "cache")
    assert weights.source == "test file"


def test_a_cached_conversion_is_found_by_the_weights_hash(tmp_path: Path) -> None:
    weights = tmp_path / "mine.h5"
    weights.write_bytes(b"pretend HDF5")
    cache = tmp_path / "cache"
    save_npz(mobilenet_v2_convert.cached_path(parse_model(f"keras:{weights}"), cache), random_weights(2),
             "converted before")
    found = torch_cuda.resolve_weights(parse_model(f"keras:{weights}"), cache)
    assert found.source == "converted before"


def test_no_cache_and_no_keras_says_how_to_convert(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    weights = tmp_path / "mine.h5"
    weights.write_bytes(b"pretend HDF5")

    def no_keras(spec: object, seed: int = 0) -> None:
        raise ImportError("No module named 'keras'")

    monkeypatch.setattr(mobilenet_v2_convert, "convert", no_keras)
    with pytest.raises(ModelLoadError, match=r"needs Keras, which is not installed here .*"
                                             r"mobilenet_v2.convert --model keras:"):
        torch_cuda.resolve_weights(parse_model(f"keras:{weights}"), tmp_path / "cache")


def test_missing_and_broken_files_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        torch_cuda.resolve_weights(parse_model(f"keras:{tmp_path / 'none.h5'}"), tmp_path)
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros(2))
    with pytest.raises(ModelLoadError, match="not a converted MobileNetV2 weights file"):
        torch_cuda.resolve_weights(parse_model(f"keras:{bad}"), tmp_path)

"""Selecting the torch-cuda runtime (backends/torch_gpu.py) where it cannot run: this
machine has no torch (and make test must not need it) and no GPU. Asked for by name it
stops the worker at start with a message naming what is missing; under RUNTIME=auto it
is skipped with a warning. Model files it does not run are refused by kind."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from inference_server.models import ModelLoadError, load_backend
from inference_server.models.runtimes import torch_cuda as torch_gpu
from inference_server.models.mobilenet_v2 import convert as mobilenet_v2_convert
from inference_server.models.mobilenet_v2.layout import random_weights, save_npz

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


def test_explicit_without_torch_names_what_is_missing(no_torch: None) -> None:
    with pytest.raises(ModelLoadError, match=r"RUNTIME=torch-cuda cannot run here: PyTorch "
                                             r"is not installed .* needs torch built with CUDA"):
        torch_gpu.load_torch_cuda("keras-random", explicit=True)


def test_explicit_without_a_gpu_names_what_is_missing(torch_without_cuda: None) -> None:
    with pytest.raises(ModelLoadError, match=r"PyTorch 2.11.0\+cu130 sees no CUDA GPU \(built "
                                             r"for CUDA 13.0, but no NVIDIA GPU or driver"):
        torch_gpu.load_torch_cuda("keras-random", explicit=True)


def test_auto_skips_it_with_a_warning(no_torch: None, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert torch_gpu.load_torch_cuda("keras-random", explicit=False) is None
    assert "RUNTIME=auto: skipping torch-cuda" in caplog.text
    assert "PyTorch is not installed" in caplog.text


@pytest.mark.parametrize("spec", ["tflite:/models/m.tflite", "onnx:/m.onnx",
                                  "openvino:/m.xml"])
def test_other_runtimes_files_are_refused_by_kind(spec: str, caplog: pytest.LogCaptureFixture
                                                  ) -> None:
    kind = spec.split(":")[0]
    with pytest.raises(ModelLoadError, match=f"not {kind} files"):
        torch_gpu.load_torch_cuda(spec, explicit=True)
    with caplog.at_level(logging.WARNING):
        assert torch_gpu.load_torch_cuda(spec, explicit=False) is None
    assert f"not {kind} files" in caplog.text


def test_an_unknown_mode_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch_gpu, "unavailable_reason", lambda: None)
    with pytest.raises(ModelLoadError, match="TORCH_CUDA_MODE='fast' is not one of graphs"):
        torch_gpu.load_torch_cuda("keras-random", mode="fast")


def test_load_backend_takes_runtime_torch_cuda(no_torch: None) -> None:
    with pytest.raises(ModelLoadError, match="PyTorch is not installed"):
        load_backend("keras-random", runtime="torch-cuda")


def test_worker_stops_at_start_with_the_reason(tmp_path: Path) -> None:
    """The real worker process, RUNTIME=torch-cuda, no torch here: exit 2 before any
    connection, the reason on stderr."""
    env = {**os.environ, "RUNTIME": "torch-cuda"}
    # Hide any torch this machine might have: the check must hold on a CPU-only box.
    (tmp_path / "torch.py").write_text("raise ImportError('torch hidden by the test')\n")
    env["PYTHONPATH"] = f"{tmp_path}{os.pathsep}{REPO}"
    proc = subprocess.run([sys.executable, "-m", "inference_server", "--model", "keras-random",
                           "--nats-url", "nats://127.0.0.1:1"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "RUNTIME=torch-cuda cannot run here: PyTorch is not installed" in proc.stderr


# --- weights: found without Keras, or a clear error -------------------------------


def test_keras_random_needs_no_keras() -> None:
    weights = torch_gpu.resolve_weights("keras-random", Path("/nonexistent"))
    assert weights.tensors.keys() == random_weights(0).keys()


def test_a_converted_file_is_used_as_is(tmp_path: Path) -> None:
    path = save_npz(tmp_path / "w.npz", random_weights(1), "test file")
    assert torch_gpu.resolve_weights(f"keras:{path}", tmp_path / "cache").source == "test file"


def test_a_cached_conversion_is_found_by_the_weights_hash(tmp_path: Path) -> None:
    weights = tmp_path / "mine.h5"
    weights.write_bytes(b"pretend HDF5")
    cache = tmp_path / "cache"
    save_npz(mobilenet_v2_convert.cached_path(f"keras:{weights}", cache), random_weights(2),
             "converted before")
    assert torch_gpu.resolve_weights(f"keras:{weights}", cache).source == "converted before"


def test_no_cache_and_no_keras_says_how_to_convert(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    weights = tmp_path / "mine.h5"
    weights.write_bytes(b"pretend HDF5")

    def no_keras(spec: str, seed: int = 0) -> None:
        raise ImportError("No module named 'keras'")

    monkeypatch.setattr(mobilenet_v2_convert, "convert", no_keras)
    with pytest.raises(ModelLoadError, match=r"needs Keras, which is not installed here .*"
                                             r"mobilenet_v2_convert --model keras:"):
        torch_gpu.resolve_weights(f"keras:{weights}", tmp_path / "cache")


def test_missing_and_broken_files_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        torch_gpu.resolve_weights(f"keras:{tmp_path / 'none.h5'}", tmp_path)
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros(2))
    with pytest.raises(ModelLoadError, match="not a converted MobileNetV2 weights file"):
        torch_gpu.resolve_weights(f"keras:{bad}", tmp_path)

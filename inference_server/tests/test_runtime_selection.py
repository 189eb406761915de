"""WORKER_RUNTIME=auto: timed once per model and CPU, the choice kept in the model cache and
reused (several workers starting at once time once); runtimes that cannot load are
skipped under auto and stop the worker when named; the default model offline."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from inference_server.models import ModelLoadError
from inference_server.models import selection
from inference_server.models.selection import LoadOptions, select_backend
from inference_server.models.spec import parse_model
from inference_server.models.default_model import first_model, resolve_default_model
from inference_server.ops.log import _FIELDS
from inference_server.tests.conftest import REPO_ROOT

TINY_TIMING_S = 0.05


def options(cache_dir: Path | None) -> LoadOptions:
    return LoadOptions(threads=2, cache_dir=str(cache_dir) if cache_dir else None,
                       timing_s=TINY_TIMING_S)


def test_auto_times_once_then_reuses_the_choice(ptq_model_path: Path, tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    spec = parse_model(f"tflite:{ptq_model_path}")
    with caplog.at_level(logging.INFO):
        backend, choice = select_backend(spec, "auto", options(tmp_path), 4)
    assert choice.how == "timed"
    assert set(choice.figures) == {"litert", "openvino"}
    assert all(rate > 0 for rate in choice.figures.values())
    assert choice.runtime == max(choice.figures, key=lambda r: choice.figures[r])
    assert backend.kind == {"litert": "tflite", "openvino": "openvino"}[choice.runtime]
    assert "runtime chosen" in caplog.text
    (entry,) = tmp_path.glob("choices/*.json")
    written = json.loads(entry.read_text())
    assert written["runtime"] == choice.runtime and written["figures"] == choice.figures
    backend.close()

    caplog.clear()
    with caplog.at_level(logging.INFO):
        again, cached = select_backend(spec, "auto", options(tmp_path), 4)
    assert (cached.how, cached.runtime, cached.figures) == ("cached", choice.runtime,
                                                            choice.figures)
    assert "runtime chosen" not in caplog.text and "runtime from the cache" in caplog.text
    assert json.loads(entry.read_text())["timed_at"] == written["timed_at"]  # not re-timed
    assert again.predict(np.zeros((1, 224, 224, 3), np.uint8)).shape == (1, 1000)
    meta = cached.metadata()
    assert meta["runtime"] == choice.runtime and meta["runtime_choice"] == "cached"
    assert "litert=" in meta["runtime_images_per_s"]
    again.close()


def test_workers_starting_at_once_time_once(quant_model_path: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    timed: list[str] = []
    real = selection.time_backend

    def counting(backend: object, batch_max: int, seconds: float) -> float:
        timed.append(type(backend).__name__)
        return real(backend, batch_max, seconds)  # type: ignore[arg-type]

    monkeypatch.setattr(selection, "time_backend", counting)
    spec = parse_model(f"tflite:{quant_model_path}")
    results: list[str] = []

    def start() -> None:
        backend, choice = select_backend(spec, "auto", options(tmp_path), 2)
        results.append(choice.how)
        backend.close()

    threads = [threading.Thread(target=start) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert sorted(results) == ["cached", "timed"]
    assert len(timed) == 2  # each runtime once, by the first worker only


def test_auto_skips_a_runtime_that_cannot_load(quant_model_path: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               caplog: pytest.LogCaptureFixture) -> None:
    real = selection.load_runtime

    def no_openvino(runtime: str, *args: object) -> object:
        if runtime == "openvino":
            raise ModelLoadError("OpenVINO (openvino) is not installed (test)")
        return real(runtime, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(selection, "load_runtime", no_openvino)
    with caplog.at_level(logging.WARNING):
        backend, choice = select_backend(parse_model(f"tflite:{quant_model_path}"), "auto",
                                         options(tmp_path), 2)
    assert (choice.runtime, list(choice.figures)) == ("litert", ["litert"])
    assert "not installed" in choice.skipped["openvino"]
    assert "runtime skipped" in caplog.text
    backend.close()


def test_a_named_runtime_that_cannot_load_says_so(tmp_path: Path) -> None:
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"not a model at all")
    with pytest.raises(ModelLoadError, match="WORKER_RUNTIME=openvino cannot run WORKER_MODEL=tflite:"):
        select_backend(parse_model(f"tflite:{broken}"), "openvino", options(None), 2)
    with pytest.raises(ModelLoadError, match="no runtime can run"):
        select_backend(parse_model(f"tflite:{broken}"), "auto", options(tmp_path), 2)


def test_the_worker_stops_at_start_when_the_named_runtime_cannot_load(tmp_path: Path) -> None:
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"not a model at all")
    proc = subprocess.run(
        [sys.executable, "-m", "inference_server", "--model", f"tflite:{broken}",
         "--runtime", "openvino", "--model-cache-dir", str(tmp_path / "cache")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "WORKER_RUNTIME=openvino cannot run WORKER_MODEL=tflite:" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unwritable_cache_still_serves(quant_model_path: Path, tmp_path: Path,
                                       caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("the cache folder cannot be made under a file")
    with caplog.at_level(logging.WARNING):
        backend, choice = select_backend(parse_model(f"tflite:{quant_model_path}"), "litert",
                                         options(blocker / "cache"), 2)
    assert choice.how == "pinned"
    assert "model cache not writable" in caplog.text
    backend.close()


def test_default_model_offline_takes_the_first_model_at_hand(
        tmp_path: Path, quant_model_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    def offline(_threads: int) -> None:
        raise OSError("Name or service not known")

    empty = tmp_path / "models"
    empty.mkdir()
    shared = str(quant_model_path.parent)
    with caplog.at_level(logging.INFO):
        chosen = resolve_default_model([str(empty), shared], 2, fetch=offline)
    assert chosen == f"tflite:{quant_model_path}"  # the first by name
    (line,) = [r for r in caplog.records if "could not be downloaded" in r.getMessage()]
    assert getattr(line, _FIELDS)["model"] == chosen  # one line: which model and why
    assert "Name or service not known" in getattr(line, _FIELDS)["error"]
    assert resolve_default_model([shared], 2, fetch=lambda _t: None) == "keras"
    with pytest.raises(ModelLoadError, match="the ImageNet weights could not be downloaded"):
        resolve_default_model([str(empty), str(tmp_path / "absent")], 2, fetch=offline)
    (empty / "notes.txt").write_text("not a model")
    (empty / "b.onnx").write_bytes(b"")
    (empty / "a.xml").write_text("")
    assert first_model([str(empty)]) == f"openvino:{empty / 'a.xml'}"

"""The Keras backend on JAX (CPU here; the same code runs on a GPU). Keras fixes its
backend at import, so this runs tests/keras_padding_check.py in a child process with
KERAS_BACKEND=jax and checks what it wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from .keras_padding_check import assert_padding_changes_nothing

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_jax_pads_to_buckets_compiled_at_warm_up(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("XLA_", "PJRT_", "JAX_"))}
    env["KERAS_BACKEND"] = "jax"
    env["JAX_PLATFORMS"] = "cpu"  # the CPU's float32 also on a machine with a GPU
    out = subprocess.run(
        [sys.executable, "-m", "inference_server.tests.keras_padding_check", str(tmp_path)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["keras_backend"] == "jax"
    assert report["pads_by_default"]  # JAX compiles per shape, CPU or GPU
    assert report["batch_sizes"] == [1, 2, 4]
    # Batches of 1..4 after warm-up: all in compiled buckets, nothing compiled.
    assert report["compiles_after_warm_up"] == 0
    # Set before JAX started: it shares a GPU and its CPU pools take WORKER_NUM_THREADS.
    assert report["env"]["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
    assert report["env"]["PJRT_NPROC"] == "2"
    with np.load(tmp_path / "padding.npz") as got:
        assert_padding_changes_nothing(dict(got))

"""What the worker sets before and after Keras imports its backend (models/runtimes/keras_env.py):
the environment JAX and TensorFlow read once at start, and the thread pools."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from inference_server.models.runtimes.keras_env import prepare_environment

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_shared_gpu_by_default() -> None:
    env: dict[str, str] = {}
    prepare_environment(num_threads=3, gpu_memory_fraction=0.0, env=env)
    assert env["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"  # JAX takes memory as needed
    assert "XLA_PYTHON_CLIENT_MEM_FRACTION" not in env
    assert env["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"
    assert env["PJRT_NPROC"] == "3"  # XLA's CPU thread pools
    assert env["KERAS_BACKEND"] == "tensorflow"
    assert "XLA_FLAGS" not in env


def test_memory_fraction_preallocates_that_much() -> None:
    env: dict[str, str] = {}
    prepare_environment(num_threads=2, gpu_memory_fraction=0.45, env=env)
    assert env["XLA_PYTHON_CLIENT_MEM_FRACTION"] == "0.45"
    assert "XLA_PYTHON_CLIENT_PREALLOCATE" not in env


def test_one_thread_turns_off_xla_eigen_threads_and_keeps_other_flags() -> None:
    env = {"XLA_FLAGS": "--xla_dump_to=/tmp/x"}
    prepare_environment(num_threads=1, gpu_memory_fraction=0.0, env=env)
    assert env["XLA_FLAGS"] == "--xla_dump_to=/tmp/x --xla_cpu_multi_thread_eigen=false"
    prepare_environment(num_threads=1, gpu_memory_fraction=0.0, env=env)  # not twice
    assert env["XLA_FLAGS"].count("multi_thread_eigen") == 1


def test_operator_settings_win() -> None:
    env = {"KERAS_BACKEND": "jax", "XLA_PYTHON_CLIENT_PREALLOCATE": "true",
           "XLA_PYTHON_CLIENT_MEM_FRACTION": "0.9", "PJRT_NPROC": "8"}
    prepare_environment(num_threads=2, gpu_memory_fraction=0.3, env=env)
    assert env == {"KERAS_BACKEND": "jax", "XLA_PYTHON_CLIENT_PREALLOCATE": "true",
                   "XLA_PYTHON_CLIENT_MEM_FRACTION": "0.9", "PJRT_NPROC": "8",
                   "TF_CPP_MIN_LOG_LEVEL": "2", "TF_FORCE_GPU_ALLOW_GROWTH": "true"}


def test_tensorflow_threads_applied() -> None:
    """In a fresh process (TensorFlow takes thread settings only before its first op)."""
    code = ("import keras, tensorflow as tf\n"
            "from inference_server.models.runtimes.keras_env import apply_after_import\n"
            "apply_after_import(keras, num_threads=3, gpu_memory_fraction=0.0)\n"
            "print(tf.config.threading.get_intra_op_parallelism_threads(),"
            " tf.config.threading.get_inter_op_parallelism_threads())\n")
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["3", "1"]

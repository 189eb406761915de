"""Process settings for Keras' backend (TensorFlow, JAX or torch): model threads and GPU
memory.

JAX and TensorFlow read their settings from environment variables once, when they
start, so `prepare_environment` runs before Keras is imported; torch's and
TensorFlow's thread pools are set through their APIs right after the import
(`apply_after_import`). A variable already in the environment wins: an operator who
sets XLA_PYTHON_CLIENT_MEM_FRACTION or PJRT_NPROC by hand gets what they asked for.
"""

from __future__ import annotations

import logging
import os
from typing import Any, MutableMapping

log = logging.getLogger(__name__)

# JAX preallocates 75 % of the GPU at its first use by default: a second worker (or
# cuBLAS in the same process) then cannot allocate. Off unless a fraction is asked for.
XLA_PREALLOCATE = "XLA_PYTHON_CLIENT_PREALLOCATE"
XLA_MEM_FRACTION = "XLA_PYTHON_CLIENT_MEM_FRACTION"
# TensorFlow's documented switch for memory growth on every GPU (what
# tf.config.experimental.set_memory_growth does), also for a TensorFlow that Keras
# imports beside another backend.
TF_ALLOW_GROWTH = "TF_FORCE_GPU_ALLOW_GROWTH"
# XLA's CPU client sizes its thread pools from PJRT_NPROC (all cores without it).
PJRT_NPROC = "PJRT_NPROC"
XLA_FLAGS = "XLA_FLAGS"
XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false"


def prepare_environment(num_threads: int, gpu_memory_fraction: float,
                        env: MutableMapping[str, str] | None = None) -> None:
    """Set what the backends read when they start. Call before importing Keras."""
    env = os.environ if env is None else env
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("KERAS_BACKEND", "tensorflow")
    if gpu_memory_fraction > 0:
        env.setdefault(XLA_MEM_FRACTION, f"{gpu_memory_fraction:g}")
    else:
        env.setdefault(XLA_PREALLOCATE, "false")
    env.setdefault(TF_ALLOW_GROWTH, "true")
    env.setdefault(PJRT_NPROC, str(num_threads))
    if num_threads == 1 and XLA_ONE_THREAD not in env.get(XLA_FLAGS, ""):
        env[XLA_FLAGS] = f"{env.get(XLA_FLAGS, '')} {XLA_ONE_THREAD}".strip()


def apply_after_import(keras: Any, num_threads: int, gpu_memory_fraction: float) -> None:
    """Thread pools (TensorFlow, torch) and torch's memory cap, on the imported backend."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(num_threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:
            pass  # TF was already initialised in this process; keep its pools.
        if gpu_memory_fraction > 0 and tf.config.list_physical_devices("GPU"):
            log.warning("WORKER_GPU_MEMORY_FRACTION is not applied on TensorFlow: it takes GPU "
                        "memory as it needs it")
    elif backend == "torch":
        import torch

        torch.set_num_threads(num_threads)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass  # torch already ran parallel work in this process; keep its pool.
        if gpu_memory_fraction > 0 and torch.cuda.is_available():
            torch.cuda.set_per_process_memory_fraction(gpu_memory_fraction)


def on_accelerator(keras: Any) -> bool:
    """Whether the backend computes on a GPU (or another accelerator) rather than the CPU."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return bool(jax.default_backend() != "cpu")
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    if backend == "torch":
        import torch

        return bool(torch.cuda.is_available())
    return False

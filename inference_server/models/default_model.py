"""The model of a worker started without MODEL: the Keras ImageNet weights where they
can be had (downloaded once, then cached by Keras in ~/.keras/models), otherwise the
first model file in the models folders (WORKER_MODELS_DIR: `models`, then
$SHARED_TESTDATA/models), so `make run` works offline on a machine that has a model
at hand. One log line says which model and why."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Sequence

from .base import ModelLoadError
from ..ops.log import log_fields

log = logging.getLogger("inference_server")

# File suffix -> MODEL kind. An IR is its .xml (beside its .bin).
MODEL_SUFFIXES = {".tflite": "tflite", ".onnx": "onnx", ".xml": "openvino",
                  ".keras": "keras", ".h5": "keras"}


def fetch_keras_imagenet(num_threads: int) -> None:
    """Download (or find in Keras' cache) the MobileNetV2 ImageNet weights and class
    names, as keras.applications would. Raises on failure (offline)."""
    from .runtimes.keras import _import_keras

    keras = _import_keras(num_threads, 0.0)
    from keras.src.applications.imagenet_utils import CLASS_INDEX_PATH
    from keras.src.applications.mobilenet_v2 import BASE_WEIGHT_PATH

    name = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5"
    keras.utils.get_file(name, BASE_WEIGHT_PATH + name, cache_subdir="models")
    keras.utils.get_file("imagenet_class_index.json", CLASS_INDEX_PATH, cache_subdir="models")


def first_model(dirs: Sequence[str]) -> str | None:
    """The MODEL of the first model file (by name) in the first folder that has one."""
    for folder in dirs:
        root = Path(folder)
        if not root.is_dir():
            continue
        for path in sorted(p for p in root.iterdir() if p.is_file()):
            kind = MODEL_SUFFIXES.get(path.suffix.lower())
            if kind is not None:
                return f"{kind}:{path}"
    return None


def resolve_default_model(dirs: Sequence[str], num_threads: int,
                          fetch: Callable[[int], None] = fetch_keras_imagenet) -> str:
    """The MODEL to run when none is given. Raises ModelLoadError when neither the
    Keras weights nor a model file can be had."""
    try:
        fetch(num_threads)
    except Exception as exc:  # urllib, OS and Keras errors: offline, or a proxy
        why = " ".join(str(exc).split())[:200] or type(exc).__name__
    else:
        log_fields(log, logging.INFO, "model: keras (ImageNet weights, downloaded once and "
                   "cached by Keras) because MODEL is not set", model="keras")
        return "keras"
    found = first_model(dirs)
    if found is None:
        raise ModelLoadError(f"Keras MobileNetV2: the ImageNet weights could not be "
                             f"downloaded ({why}), and no model file is in "
                             f"{', '.join(dirs) or 'WORKER_MODELS_DIR'}")
    log_fields(log, logging.INFO, "model: the first in the models folders, because MODEL "
               "is not set and the Keras ImageNet weights could not be downloaded",
               model=found, folders=":".join(dirs), error=why)
    return found

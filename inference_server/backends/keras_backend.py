"""Keras backend: keras.applications.MobileNetV2 (TensorFlow backend)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..labels import NUM_CLASSES, LabelsError, read_labels_file
from .base import ModelLoadError, predict_blank_batches

log = logging.getLogger(__name__)

IMAGENET = "imagenet"


def _import_keras(num_threads: int) -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(num_threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:
            pass  # TF was already initialised in this process; keep its pools.
    return keras


def keras_imagenet_labels(keras: Any) -> list[str]:
    """All 1000 class names through Keras' own ImageNet decoder (which downloads and
    caches imagenet_class_index.json on first use). Names get spaces for underscores."""
    from keras.applications.mobilenet_v2 import decode_predictions

    probe = np.arange(NUM_CLASSES, dtype=np.float32)[None, :]  # class i scores i
    decoded = decode_predictions(probe, top=NUM_CLASSES)[0]
    labels = [""] * NUM_CLASSES
    for _wnid, name, score in decoded:
        labels[int(round(float(score)))] = str(name).replace("_", " ")
    return labels


class KerasBackend:
    kind = "keras"
    input_size = 224

    def __init__(self, weights: str | None = IMAGENET, labels_path: str | None = None,
                 num_threads: int = 2) -> None:
        """weights: "imagenet" (downloads the official weights), None (random init,
        for tests and benchmarks), or a local .h5 / .weights.h5 / .keras file."""
        if weights not in (IMAGENET, None) and not Path(weights).is_file():
            raise ModelLoadError(f"Keras weights file {weights} does not exist")
        try:
            keras = _import_keras(num_threads)
        except ImportError as exc:
            raise ModelLoadError(f"Keras with a backend is not installed ({exc})") from None
        self._preprocess = keras.applications.mobilenet_v2.preprocess_input
        try:
            if weights is not None and weights.endswith(".keras"):
                model = keras.saving.load_model(weights, compile=False)
            else:
                model = keras.applications.MobileNetV2(weights=weights)
        except Exception as exc:  # download, HDF5 and shape errors come in many types
            what = ("the ImageNet weights could not be downloaded" if weights == IMAGENET
                    else f"the weights file {weights} could not be loaded")
            raise ModelLoadError(f"Keras MobileNetV2: {what} ({_short(exc)})") from exc
        in_shape = tuple(model.input_shape)
        out_shape = tuple(model.output_shape)
        if in_shape[1:] != (224, 224, 3) or out_shape[1:] != (NUM_CLASSES,):
            raise ModelLoadError(f"Keras model takes {in_shape} and gives {out_shape}; expected "
                                 f"(None, 224, 224, 3) -> (None, {NUM_CLASSES})")
        self.model = model
        self.labels = self._load_labels(keras, labels_path)

    @staticmethod
    def _load_labels(keras: Any, labels_path: str | None) -> list[str]:
        if labels_path:
            try:
                return read_labels_file(labels_path)
            except LabelsError as exc:
                raise ModelLoadError(str(exc)) from None
        try:
            return keras_imagenet_labels(keras)
        except Exception as exc:  # urllib / OS errors while fetching the class index
            raise ModelLoadError("Keras ImageNet class names could not be downloaded "
                                 f"({_short(exc)}); pass --labels <file>") from exc

    def warm_up(self, batch_max: int) -> None:
        predict_blank_batches(self, batch_max)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        x = self._preprocess(batch.astype(np.float32))
        out = self.model.predict_on_batch(x)
        return np.asarray(out, dtype=np.float32)

    def close(self) -> None:
        self.model = None


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] if text else type(exc).__name__

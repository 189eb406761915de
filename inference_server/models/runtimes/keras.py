"""Keras backend: keras.applications.MobileNetV2 on TensorFlow, JAX or torch
(KERAS_BACKEND, TensorFlow by default).

The model is served through one compiled function that takes uint8 RGB and does the
MobileNetV2 preprocessing itself (on the GPU when there is one). Where that function
is compiled per input shape (JAX; XLA on a GPU), batches are padded to fixed bucket
sizes (buckets.py) that are all compiled during warm-up."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..labels import NUM_CLASSES, LabelsError, read_labels_file
from ...ops.log import log_fields
from ..base import ModelLoadError
from ..buckets import bucket_sizes, infer_in_buckets
from .keras_env import apply_after_import, on_accelerator, prepare_environment

log = logging.getLogger(__name__)

IMAGENET = "imagenet"
# The buckets until warm_up names the real batch_max: up to the largest the worker
# takes (config.py).
DEFAULT_BATCH_MAX = 256


def _import_keras(num_threads: int, gpu_memory_fraction: float) -> Any:
    prepare_environment(num_threads, gpu_memory_fraction)
    import keras

    apply_after_import(keras, num_threads, gpu_memory_fraction)
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
                 num_threads: int = 2, gpu_memory_fraction: float = 0.0,
                 pad_to_buckets: bool | None = None) -> None:
        """weights: "imagenet" (downloads the official weights), None (random init,
        for tests and benchmarks), or a local .h5 / .weights.h5 / .keras file.
        pad_to_buckets: None = where shapes are compiled (JAX, or a GPU); on the CPU
        TensorFlow and torch take any batch size as it is, and padding would only
        cost CPU time."""
        if weights not in (IMAGENET, None) and not Path(weights).is_file():
            raise ModelLoadError(f"Keras weights file {weights} does not exist")
        try:
            keras = _import_keras(num_threads, gpu_memory_fraction)
        except ImportError as exc:
            raise ModelLoadError(f"Keras with a backend is not installed ({exc})") from None
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
        self.model = model  # the classifier as loaded: float input, preprocessed
        self.labels = self._load_labels(keras, labels_path)
        self.keras_backend = str(keras.backend.backend())
        self.on_accelerator = on_accelerator(keras)
        self.pads = (self.keras_backend == "jax" or self.on_accelerator
                     if pad_to_buckets is None else pad_to_buckets)
        self.batch_sizes = bucket_sizes(DEFAULT_BATCH_MAX)
        self.shapes_run: set[int] = set()  # batch sizes the compiled function has seen
        self._infer = _compiled_infer(keras, _serving_model(keras, model))
        log_fields(log, logging.INFO, "keras backend", keras_backend=self.keras_backend,
                   accelerator=self.on_accelerator, threads=num_threads,
                   gpu_memory_fraction=gpu_memory_fraction, pads_to_buckets=self.pads)

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
        """Compile and run every batch shape `predict` will use for up to `batch_max`
        frames: each bucket when padding; otherwise batch 1 and `batch_max`, after
        which TensorFlow's trace takes any batch size (reduce_retracing) and torch,
        eager, has nothing to compile."""
        start = time.perf_counter()
        if self.pads:
            self.batch_sizes = bucket_sizes(batch_max)
            sizes: tuple[int, ...] = self.batch_sizes
        else:
            sizes = tuple(sorted({1, batch_max}))
        size = self.input_size
        for n in sizes:
            self._run(np.zeros((n, size, size, 3), np.uint8))
        log_fields(log, logging.INFO, "keras warmed up", batch_sizes=list(sizes),
                   padded=self.pads, ms=round((time.perf_counter() - start) * 1000.0, 1))

    def predict(self, batch: np.ndarray) -> np.ndarray:
        if self.pads:
            return infer_in_buckets(self._run, batch, self.batch_sizes)
        return self._run(batch)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        self.shapes_run.add(len(batch))
        return self._infer(np.ascontiguousarray(batch, dtype=np.uint8))

    def close(self) -> None:
        """Drop the model and its compiled function (and so their GPU memory)."""
        self.model = None
        self._infer = _closed


def _closed(_: np.ndarray) -> np.ndarray:
    raise RuntimeError("the Keras backend is closed")


def _serving_model(keras: Any, model: Any) -> Any:
    """`model` behind MobileNetV2's preprocessing as a layer: uint8 RGB in, x/127.5 - 1
    (what mobilenet_v2.preprocess_input does) inside the compiled function, so on a GPU
    a quarter of the bytes cross to the device and the arithmetic happens there. Shares
    `model`'s weights."""
    rgb = keras.Input((224, 224, 3), dtype="uint8", name="rgb")
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="mobilenet_v2_preprocess")(rgb)
    return keras.Model(rgb, model(x), name="mobilenet_v2_uint8")


def _compiled_infer(keras: Any, serving: Any) -> Callable[[np.ndarray], np.ndarray]:
    """One compiled inference function: uint8 (N, 224, 224, 3) -> float32 (N, 1000).

    JAX: `stateless_call` under jax.jit with the weights passed in (read from the
    variables at each call, so weights changed after loading are used); measured on
    CPU as fast as `predict_on_batch`, which also returns and re-assigns the whole
    model state at every call, and about half its compile time per shape.
    TensorFlow and torch: Keras' own `predict_on_batch` (a tf.function, with XLA on a
    GPU; torch eager under no_grad), measured on CPU as fast as a hand-made
    tf.function."""
    if keras.backend.backend() == "jax":
        import jax

        @jax.jit
        def infer(trainable: list[Any], non_trainable: list[Any], x: Any) -> Any:
            outputs, _ = serving.stateless_call(trainable, non_trainable, x, training=False)
            return outputs

        def run_jax(x: np.ndarray) -> np.ndarray:
            out = infer([v.value for v in serving.trainable_variables],
                        [v.value for v in serving.non_trainable_variables], x)
            return np.asarray(out, dtype=np.float32)

        return run_jax

    def run(x: np.ndarray) -> np.ndarray:
        return np.asarray(serving.predict_on_batch(x), dtype=np.float32)

    return run


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] if text else type(exc).__name__

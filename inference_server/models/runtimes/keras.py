"""Keras backend: keras.applications.MobileNetV2 (the ImageNet weights, or a weights
file for it), or any Keras image classifier saved whole (`.keras`, or `.h5` as
Teachable Machine exports it), on TensorFlow, JAX or torch (KERAS_BACKEND,
TensorFlow by default).

The model is served through one compiled function that takes uint8 RGB and does the
preprocessing itself (on the GPU when there is one): (x - mean) / std per channel,
[-1, 1] unless model.yaml says otherwise (MobileNetV2's and Teachable Machine's), the
colour order and layout model.yaml names. Where that function
is compiled per input shape (JAX; XLA on a GPU), batches are padded to fixed bucket
sizes (buckets.py) that are all compiled during warm-up."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ...ops.log import log_fields
from ...wire.contract import PLATFORM_KERAS
from ..base import ModelLoadError
from ..classifier import LAYOUT_NCHW, ImageInput, ModelInfo, class_vector, image_input
from ..labels import NUM_CLASSES, ClassLabels, LabelsError, imagenet_class_labels, \
    resolve_labels
from ..model_config import InputOverrides
from ..outputs import OutputMapping
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

    def __init__(self, weights: str | None = IMAGENET, labels_path: str | None = None,
                 num_threads: int = 2, gpu_memory_fraction: float = 0.0,
                 pad_to_buckets: bool | None = None,
                 overrides: InputOverrides | None = None) -> None:
        """weights: "imagenet" (downloads the official weights), None (random init,
        for tests and benchmarks), a MobileNetV2 weights file (.h5 / .weights.h5), or
        a whole model (.keras, or an .h5 that holds its architecture: Teachable
        Machine's keras_model.h5).
        pad_to_buckets: None = where shapes are compiled (JAX, or a GPU); on the CPU
        TensorFlow and torch take any batch size as it is, and padding would only
        cost CPU time."""
        if weights not in (IMAGENET, None) and not Path(weights).is_file():
            raise ModelLoadError(f"Keras weights file {weights} does not exist")
        try:
            keras = _import_keras(num_threads, gpu_memory_fraction)
        except ImportError as exc:
            raise ModelLoadError(f"Keras with a backend is not installed ({exc})") from None
        whole = weights is not None and weights != IMAGENET and is_whole_model(weights)
        where = weights if whole else "Keras MobileNetV2"
        try:
            if whole:
                assert weights is not None
                model = keras.saving.load_model(weights, compile=False,
                                                custom_objects=_saved_by_tf_keras(keras))
            else:
                model = keras.applications.MobileNetV2(weights=weights)
        except Exception as exc:  # download, HDF5 and shape errors come in many types
            what = ("the ImageNet weights could not be downloaded" if weights == IMAGENET
                    else f"the weights file {weights} could not be loaded")
            raise ModelLoadError(f"{where}: {what} ({_short(exc)})") from exc
        if not isinstance(model.input_shape, tuple) or not isinstance(model.output_shape, tuple):
            raise ModelLoadError(f"{where} has inputs {model.input_shape} and outputs "
                                 f"{model.output_shape}; expected an image classifier with "
                                 "one of each")
        self.image: ImageInput = image_input(list(model.input_shape),
                                             overrides or InputOverrides(), where)
        self.input_size = self.image.size
        classes = class_vector([1 if d is None else d for d in model.output_shape], where)
        self.model = model  # the classifier as loaded: float input, normalised
        self.class_labels = self._load_labels(keras, labels_path, classes, where)
        self.info = ModelInfo.of(self.class_labels, self.image, np.float32, PLATFORM_KERAS)
        self.labels = self.info.labels
        self._output = OutputMapping(np.dtype(np.float32), offset=self.class_labels.offset)
        self.keras_backend = str(keras.backend.backend())
        self.on_accelerator = on_accelerator(keras)
        self.pads = (self.keras_backend == "jax" or self.on_accelerator
                     if pad_to_buckets is None else pad_to_buckets)
        self.batch_sizes = bucket_sizes(DEFAULT_BATCH_MAX)
        self.shapes_run: set[int] = set()  # batch sizes the compiled function has seen
        self._infer = _compiled_infer(keras, _serving_model(keras, model, self.image))
        log_fields(log, logging.INFO, "keras backend", keras_backend=self.keras_backend,
                   accelerator=self.on_accelerator, threads=num_threads,
                   gpu_memory_fraction=gpu_memory_fraction, pads_to_buckets=self.pads)

    @staticmethod
    def _load_labels(keras: Any, labels_path: str | None, classes: int,
                     where: str) -> ClassLabels:
        """A labels file; else, for 1000 classes, Keras' ImageNet class names."""
        if labels_path or classes != NUM_CLASSES:
            try:
                return resolve_labels(classes, where, labels_path, None)
            except LabelsError as exc:
                raise ModelLoadError(str(exc)) from None
        try:
            return imagenet_class_labels(keras_imagenet_labels(keras))
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
        h, w = self.image.height, self.image.width
        for n in sizes:
            self._run(np.zeros((n, h, w, 3), np.uint8))
        log_fields(log, logging.INFO, "keras warmed up", batch_sizes=list(sizes),
                   padded=self.pads, ms=round((time.perf_counter() - start) * 1000.0, 1))

    def predict(self, batch: np.ndarray) -> np.ndarray:
        if self.pads:
            return infer_in_buckets(self._run, batch, self.batch_sizes)
        return self._run(batch)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        self.shapes_run.add(len(batch))
        return self._output.probabilities(self._infer(np.ascontiguousarray(batch, dtype=np.uint8)))

    def close(self) -> None:
        """Drop the model and its compiled function (and so their GPU memory)."""
        self.model = None
        self._infer = _closed


def _closed(_: np.ndarray) -> np.ndarray:
    raise RuntimeError("the Keras backend is closed")


def is_whole_model(path: str) -> bool:
    """Whether a Keras file holds a whole model (architecture and weights: `.keras`, or
    an `.h5` saved with model.save) rather than weights alone for MobileNetV2."""
    if path.endswith(".keras"):
        return True
    if path.endswith(".weights.h5"):
        return False
    try:
        import h5py

        with h5py.File(path, "r") as f:
            return "model_config" in f.attrs
    except (OSError, ImportError):
        return False  # keras' own loader says what is wrong with the file


def _saved_by_tf_keras(keras: Any) -> dict[str, Any]:
    """Layers as tf.keras 2 saved them where Keras 3 refuses their config: Teachable
    Machine's keras_model.h5 has DepthwiseConv2D with `groups: 1`, which Keras 3 does
    not take ("Unrecognized keyword arguments passed to DepthwiseConv2D")."""

    class DepthwiseConv2D(keras.layers.DepthwiseConv2D):  # type: ignore[misc, name-defined]
        def __init__(self, *args: Any, groups: int = 1, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)

    return {"DepthwiseConv2D": DepthwiseConv2D}


def _serving_model(keras: Any, model: Any, image: ImageInput) -> Any:
    """`model` behind its preprocessing as layers: uint8 RGB in, (x - mean) / std per
    channel (MobileNetV2's x/127.5 - 1 by default, what mobilenet_v2.preprocess_input
    does), the colour order and layout the model takes, all inside the compiled
    function, so on a GPU a quarter of the bytes cross to the device and the
    arithmetic happens there. Shares `model`'s weights."""
    rgb = keras.Input((image.height, image.width, 3), dtype="uint8", name="rgb")
    mean = np.asarray(image.mean, np.float32)
    std = np.asarray(image.std, np.float32)
    uniform = bool(np.all(mean == mean[0]) and np.all(std == std[0]))
    scale = float(1.0 / std[0]) if uniform else (1.0 / std)
    offset = float(-mean[0] / std[0]) if uniform else (-mean / std)
    x = keras.layers.Rescaling(scale, offset=offset, name="preprocess")(rgb)
    if image.color_order == "BGR":
        x = keras.layers.Lambda(lambda t: keras.ops.flip(t, axis=-1), name="rgb_to_bgr")(x)
    if image.layout == LAYOUT_NCHW:
        x = keras.layers.Permute((3, 1, 2), name="nhwc_to_nchw")(x)
    return keras.Model(rgb, model(x), name="classifier_uint8")


def _compiled_infer(keras: Any, serving: Any) -> Callable[[np.ndarray], np.ndarray]:
    """One compiled inference function: uint8 (N, size, size, 3) -> float32 (N, outputs).

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

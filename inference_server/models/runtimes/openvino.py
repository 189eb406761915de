"""OpenVINO backend: `.tflite`, ONNX, OpenVINO IR and Keras weights on the CPU.

Precision (WORKER_OPENVINO_PRECISION): `auto` is bf16 where the CPU computes it (OpenVINO's
inference precision hint; on AVX-512 BF16 CPUs OpenVINO stays in f32 unless asked) and
the model compiles and agrees in it (openvino_bf16.py), else f32; `f32` and `bf16` as
asked. INT8 for float models when calibration images are given (openvino_int8.py).

Batches: one frame runs on a request of a model compiled for latency (all the model
threads on that one frame); several frames go to a set of async infer requests of a model
compiled for throughput (OpenVINO's streams: each frame its own request, the streams
in parallel). Each frame is computed on its own at batch 1 either way, so a frame's
answer does not depend on the frames beside it. Compiled programs are kept in
OpenVINO's own cache (CACHE_DIR under the model cache), so a later start compiles
nothing.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Sequence

import numpy as np

from ...ops.log import log_fields
from ..base import ModelLoadError, predict_blank_batches, timing_pixels
from ..classifier import to_model_input
from ..model_cache import ModelCache, cpu_name
from ..model_config import InputOverrides
from .openvino_bf16 import PRECISION_CHECK_IMAGES, Bf16Outcome, \
    bf16_if_it_compiles_and_agrees, compiled_precision
from .openvino_int8 import Int8Outcome, calibration_digest, calibration_files, \
    int8_if_it_agrees, load_images
from .openvino_convert import Source, calibration_key, openvino_version, read_source
from ..spec import ModelSpec

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "f32", "bf16")


def _core(cache: ModelCache | None) -> Any:
    try:
        import openvino as ov
    except ImportError as exc:
        raise ModelLoadError(f"OpenVINO (openvino) is not installed ({exc})") from None
    core = ov.Core()
    if cache is not None and cache.writable:
        core.set_property({"CACHE_DIR": str(cache.path("openvino", "compiled"))})
    return core


def cpu_has_bf16(core: Any) -> bool:
    try:
        return "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except RuntimeError:
        return False


class OpenVinoBackend:
    kind = "openvino"
    runtime = "openvino"

    def __init__(self, spec: ModelSpec, labels_path: str | None = None, num_threads: int = 2,
                 cache: ModelCache | None = None, precision: str = "auto",
                 calibration_dir: str | None = None,
                 min_int8_agreement: float | None = None,
                 min_bf16_agreement: float | None = None, core: Any | None = None,
                 overrides: InputOverrides | None = None) -> None:
        """`core`: the OpenVINO Core to compile with (default: a new one on the model
        cache); tests pass one whose compiles fail as they do on some CPUs."""
        if precision not in PRECISIONS:
            raise ModelLoadError(f"OpenVINO precision {precision!r} must be one of "
                                 f"{', '.join(PRECISIONS)}")
        start = time.perf_counter()
        self._core = _core(cache) if core is None else core
        self.num_threads = num_threads
        source: Source = read_source(self._core, spec, labels_path, num_threads, cache,
                                     overrides)
        self.info = source.info
        self.labels: Sequence[str] = self.info.labels
        self.input_size = source.input_size
        self._output = source.output
        self._lut = source.lut
        self._feed = source.feed
        model = source.model
        calibration = _Calibration(calibration_dir, self.input_size)
        self.precision = "bf16" if precision == "bf16" else "f32"
        self.bf16: Bf16Outcome | None = None
        if precision == "auto" and cpu_has_bf16(self._core):
            self.bf16 = self._check_bf16(source, spec.text, calibration, cache,
                                         min_bf16_agreement)
            if self.bf16.used:
                self.precision = "bf16"
        self.int8: Int8Outcome | None = None
        if calibration_dir:
            if not source.is_float:
                log_fields(log, logging.INFO, "calibration images not used for INT8: the "
                           "model is already quantized", model=spec.text)
            else:
                images, digest = calibration.images_and_digest()
                assert images is not None
                kwargs = {} if min_int8_agreement is None else {
                    "min_agreement": min_int8_agreement}
                model, self.int8 = int8_if_it_agrees(
                    model, images, cache, calibration_key(source, digest),
                    self._compile_latency, self._infer_all, **kwargs)
                if self.int8.used:
                    self.precision = "int8"
        try:
            self._latency = self._compile_latency(model)
            self._throughput = self._compile(model, "THROUGHPUT")
        except RuntimeError as exc:
            hint = "; WORKER_OPENVINO_PRECISION=f32 may compile" if self.precision == "bf16" else ""
            raise ModelLoadError(f"OpenVINO cannot compile {spec.text} ({exc}){hint}") \
                from None
        if self.precision == "bf16" and compiled_precision(self._latency) != "bf16":
            # WORKER_OPENVINO_PRECISION=bf16 on a CPU without it: OpenVINO ignores the hint.
            log_fields(log, logging.WARNING, "openvino bf16 asked for, but this CPU does "
                       "not compute bf16: running f32", model=spec.text, cpu=cpu_name())
            self.precision = "f32"
        self._request = self._latency.create_infer_request()
        self.streams = int(self._throughput.get_property("NUM_STREAMS"))
        self._queue_size = max(2, int(self._throughput.get_property(
            "OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
        self._requests = [self._throughput.create_infer_request()
                          for _ in range(self._queue_size)]
        self._model = model
        log_fields(log, logging.INFO, "openvino backend", model=spec.text,
                   version=openvino_version(), precision=self.precision,
                   threads=num_threads, streams=self.streams, requests=self._queue_size,
                   load_ms=round((time.perf_counter() - start) * 1000.0, 1))

    def _check_bf16(self, source: Source, model_text: str, calibration: _Calibration,
                    cache: ModelCache | None, min_agreement: float | None) -> Bf16Outcome:
        """Whether bf16 compiles and agrees with f32 on the calibration images, or
        without them on the pixels the runtimes are timed on (openvino_bf16.py)."""
        images, digest = calibration.images_and_digest()
        calibrated = images is not None
        if images is None:
            images = timing_pixels(self.input_size, PRECISION_CHECK_IMAGES)
            digest = f"timing-pixels-{PRECISION_CHECK_IMAGES}"
        kwargs = {} if min_agreement is None else {"min_agreement": min_agreement}
        return bf16_if_it_compiles_and_agrees(
            source.model, model_text, images, calibrated, cache,
            calibration_key(source, f"bf16-{digest}-{self.num_threads}"),
            self._compile, self._infer_all, **kwargs)

    def _compile(self, model: Any, hint: str, precision: str | None = None) -> Any:
        """`model` compiled for `hint` (LATENCY, THROUGHPUT) in `precision` (bf16,
        f32; default: the backend's, INT8 models in f32 around their INT8 parts)."""
        if precision is None:
            precision = "bf16" if self.precision == "bf16" else "f32"
        return self._core.compile_model(model, "CPU", {
            "PERFORMANCE_HINT": hint,
            "INFERENCE_NUM_THREADS": self.num_threads,
            "INFERENCE_PRECISION_HINT": precision,
        })

    def _compile_latency(self, model: Any) -> Any:
        return self._compile(model, "LATENCY")

    def _infer_all(self, compiled: Any, images: np.ndarray) -> np.ndarray:
        request = compiled.create_infer_request()
        return np.concatenate([np.array(request.infer({0: images[i:i + 1]})[0])
                               for i in range(len(images))])

    def warm_up(self, batch_max: int) -> None:
        predict_blank_batches(self, batch_max)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        x = (np.ascontiguousarray(batch) if self._feed is None
             else to_model_input(batch, self._feed, self._lut))
        n = len(x)
        if n == 1:
            raw = np.array(self._request.infer({0: x})[0])
        else:
            raw = np.empty((n, int(np.prod(self._throughput.outputs[0].get_shape()))),
                           dtype=self._output.dtype)
            # Plain requests, started together and waited on, rather than an
            # AsyncInferQueue with a Python callback: that callback runs on
            # OpenVINO's threads and needs the GIL, and a compiled model freed
            # while one is still pending deadlocks (its executor joins a thread
            # that waits for the GIL the freeing thread holds; seen in tests).
            k = len(self._requests)
            for first in range(0, n, k):
                started = list(zip(range(first, min(n, first + k)), self._requests))
                for i, request in started:
                    request.start_async({0: x[i:i + 1]})
                for i, request in started:
                    request.wait()
                    raw[i] = request.get_output_tensor(0).data.reshape(-1)
        return self._output.probabilities(raw.reshape(n, -1))

    def close(self) -> None:
        self._requests = []
        self._request = None
        self._latency = None
        self._throughput = None


class _Calibration:
    """WORKER_CALIBRATION_DIR's images at the model's size, read on first use (INT8 for a
    float model, the bf16 check under auto) and once."""

    def __init__(self, folder: str | None, size: int) -> None:
        self._folder = folder
        self._size = size
        self._read: tuple[np.ndarray, str] | None = None

    def images_and_digest(self) -> tuple[np.ndarray | None, str]:
        """The images and a digest of the files; (None, "") without a folder."""
        if not self._folder:
            return None, ""
        if self._read is None:
            files = calibration_files(self._folder)
            self._read = (load_images(files, self._size), calibration_digest(files))
        return self._read

"""The torch-cuda runtime: MobileNetV2 (Keras' network and weights) on an NVIDIA GPU with
PyTorch, in fp16, channels-last, one CUDA graph per batch bucket.

What makes it fast, and why this shape:
- The Keras weights are converted once (mobilenet_v2/convert.py: batch normalisation
  folded into the convolutions) and cached under WORKER_MODEL_CACHE_DIR, keyed by the weights
  file's hash; the GPU machine needs no Keras once the file is there.
- fp16 with channels-last: the tensor cores' layout for cuDNN's convolutions.
- CUDA graphs, one per bucket (1, 2, 4, ... 256): MobileNetV2 is ~150 small kernels,
  and at small batches launching them costs more than running them; a graph replays
  them all in one launch. Graphs are captured during warm-up (about a second for all
  buckets, nothing compiled), before the worker says it is ready. They live in GPU
  memory only: a CUDA graph cannot be saved, so every start captures them again.
- uint8 frames cross to the device (pinned host buffers, one per bucket, reused);
  the [-1, 1] scaling happens on the GPU, inside the graph.
- JPEG decoding on the GPU (nvJPEG through torchvision.io.decode_jpeg, batched) is
  offered by `decode_jpegs` beside the CPU decoder; bench/gpu measures both.

WORKER_TORCH_CUDA_MODE picks the execution: graphs (default), eager, or a torch.compile mode
(reduce-overhead, max-autotune: minutes of compiling at every start, per bucket).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ...wire.contract import LABELS_FROM_FILE, LABELS_FROM_IMAGENET, PLATFORM_KERAS
from ..classifier import LAYOUT_NHWC, ImageInput, ModelInfo
from ..labels import ClassLabels, LabelsError, read_labels_file
from ...ops.log import log_fields
from ..base import ModelLoadError
from .bucket_staging import BucketStaging
from ..buckets import bucket_for, bucket_sizes
from ..mobilenet_v2.convert import CONVERT_MODULE, cached_path, default_cache_dir
from ..mobilenet_v2.layout import (INPUT_SIZE, ConvertedWeights, WeightsError, load_npz,
                                  random_weights, save_npz)
from ...config_aliases import env_value
from ..spec import KERAS, ModelSpec

log = logging.getLogger(__name__)

RUNTIME = "torch-cuda"
MODES = ("graphs", "eager", "reduce-overhead", "max-autotune")
DEFAULT_MODE = "graphs"
DEFAULT_BATCH_MAX = 256


def unavailable_reason() -> str | None:
    """Why this machine cannot run torch-cuda (None: it can): no torch, or no GPU."""
    try:
        import torch
    except ImportError as exc:
        return (f"PyTorch is not installed ({exc}); the torch-cuda runtime needs torch built "
                "with CUDA and an NVIDIA GPU (inference_server/README.md, 'GPU')")
    if not torch.cuda.is_available():
        build = (f"built for CUDA {torch.version.cuda}, but no NVIDIA GPU or driver is visible"
                 if torch.version.cuda else "a CPU-only build")
        return f"PyTorch {torch.__version__} sees no CUDA GPU ({build})"
    return None


def unsupported_model_reason(spec: ModelSpec) -> str | None:
    """Why torch-cuda does not run the model `spec` (None: it does)."""
    if spec.kind != KERAS:
        return (f"the torch-cuda runtime runs Keras MobileNetV2 weights, not {spec.kind} files "
                f"(WORKER_MODEL={spec.text}): use another RUNTIME for it, or WORKER_MODEL=keras:<weights file>")
    return None


def load_torch_cuda(spec: ModelSpec, labels_path: str | None = None,
                    gpu_memory_fraction: float = 0.0,
                    cache_dir: Path | None = None) -> TorchCudaBackend:
    """The runtime as load_runtime (selection.py) loads it: anything that stops it is a
    ModelLoadError whose message names what is missing (under WORKER_RUNTIME=auto, selection.py
    skips the runtime with that message as a warning). WORKER_TORCH_CUDA_MODE picks the
    mode."""
    reason = unsupported_model_reason(spec) or unavailable_reason()
    mode = env_value(os.environ, "WORKER_TORCH_CUDA_MODE") or DEFAULT_MODE
    if reason is None and mode not in MODES:
        reason = f"WORKER_TORCH_CUDA_MODE={mode!r} is not one of {', '.join(MODES)}"
    if reason is not None:
        raise ModelLoadError(f"WORKER_RUNTIME={RUNTIME} cannot run here: {reason}")
    cache = cache_dir or default_cache_dir()
    weights = resolve_weights(spec, cache)
    return TorchCudaBackend(weights, labels_path, gpu_memory_fraction, mode=mode,
                            cache_dir=cache)


def resolve_weights(spec: ModelSpec, cache_dir: Path) -> ConvertedWeights:
    """MODEL -> converted weights: keras-random = seeded random weights of the same
    network (no Keras needed); keras:<file.npz> = a converted file as is; keras and
    keras:<file> = the cached conversion, made now (with Keras) when missing."""
    if spec.random_weights:
        return ConvertedWeights(random_weights(0), "random (seed 0)", None)
    if spec.kind != KERAS:
        raise ModelLoadError(f"unknown model {spec.text!r} for {RUNTIME}")
    path = spec.path or ""
    if path and not Path(path).is_file():
        raise ModelLoadError(f"Keras weights file {path} does not exist")
    try:
        if path.endswith(".npz"):
            return load_npz(path)
        cached = cached_path(spec, cache_dir)
        if cached.is_file():
            return load_npz(cached)
    except WeightsError as exc:
        raise ModelLoadError(str(exc)) from None
    return _convert_into(spec, cached)


def _convert_into(spec: ModelSpec, cached: Path) -> ConvertedWeights:
    from ..mobilenet_v2.convert import convert

    try:
        tensors, source = convert(spec)
    except ImportError as exc:
        raise ModelLoadError(
            f"no converted weights at {cached}, and converting {spec.text} needs Keras, "
            f"which is not installed here ({exc}): run `python -m {CONVERT_MODULE} "
            f"--model {spec.text} --out <file.npz>` where Keras is, then "
            "WORKER_MODEL=keras:<file.npz> (or copy it to that path)") from None
    except (WeightsError, ValueError, OSError) as exc:
        raise ModelLoadError(f"{spec.text} could not be converted for {RUNTIME}: {exc}") \
            from None
    except Exception as exc:  # Keras' download and HDF5 errors come in many types
        raise ModelLoadError(f"{spec.text} could not be loaded with Keras to convert it "
                             f"({' '.join(str(exc).split())[:300]})") from exc
    try:
        save_npz(cached, tensors, source)
        log_fields(log, logging.INFO, "converted weights cached", model=spec.text,
                   path=str(cached))
    except OSError as exc:  # a read-only cache: run from memory, say why it is slow
        log.warning("could not cache the converted weights at %s (%s): converting at "
                    "every start", cached, exc)
    return ConvertedWeights(tensors, source, None)


@dataclass
class _Slot:
    """One bucket: the staging buffers on both sides and its captured graph."""

    size: int
    host_in: Any  # pinned uint8 (size, 224, 224, 3)
    host_out: Any  # pinned float32 (size, classes)
    dev_in: Any
    dev_out: Any
    graph: Any  # torch.cuda.CUDAGraph, or None (eager / compiled)


class TorchCudaBackend:
    kind = RUNTIME
    input_size = INPUT_SIZE

    def __init__(self, weights: ConvertedWeights, labels_path: str | None = None,
                 gpu_memory_fraction: float = 0.0, mode: str = DEFAULT_MODE,
                 cache_dir: Path | None = None) -> None:
        import torch

        from ..mobilenet_v2.torch_net import MobileNetV2

        self._torch = torch
        self.labels = self._labels(labels_path, weights)
        self.info = ModelInfo.of(
            ClassLabels(self.labels, LABELS_FROM_FILE if labels_path else LABELS_FROM_IMAGENET),
            ImageInput(INPUT_SIZE, INPUT_SIZE, LAYOUT_NHWC), np.float32, PLATFORM_KERAS)
        self.mode = mode
        self.source = weights.source
        self._cache_dir = cache_dir
        if gpu_memory_fraction > 0:
            torch.cuda.set_per_process_memory_fraction(gpu_memory_fraction)
        torch.backends.cudnn.benchmark = True  # per bucket shape, chosen during warm-up
        self.device = torch.device("cuda")
        model = MobileNetV2(weights.tensors).eval().to(self.device, torch.float16)
        self.model = model.to(memory_format=torch.channels_last)
        self._forward: Any = self.model
        if mode in ("reduce-overhead", "max-autotune"):
            self._forward = torch.compile(self.model, mode=mode, dynamic=False)
        self._stream = torch.cuda.Stream()
        self._slots: dict[int, _Slot] = {}
        self.batch_sizes: tuple[int, ...] = ()
        self._staging: BucketStaging | None = None
        self.gpu_name = torch.cuda.get_device_name()
        log_fields(log, logging.INFO, "torch-cuda engine", gpu=self.gpu_name,
                   torch=torch.__version__, mode=mode, weights=weights.source)

    @staticmethod
    def _labels(labels_path: str | None, weights: ConvertedWeights) -> list[str]:
        if labels_path:
            try:
                return read_labels_file(labels_path)
            except LabelsError as exc:
                raise ModelLoadError(str(exc)) from None
        if weights.labels is not None:
            return weights.labels
        raise ModelLoadError("the torch-cuda runtime needs the class names: pass --labels "
                             "<file> (LABELS), or convert with --labels")

    # --- warm-up: buffers and graphs per bucket ----------------------------------

    def warm_up(self, batch_max: int) -> None:
        """Allocate every bucket's buffers and capture (or compile) its program, largest
        first so the smaller graphs reuse the largest one's memory pool."""
        torch = self._torch
        start = time.perf_counter()
        sizes = bucket_sizes(batch_max)
        self.close_slots()
        pool = torch.cuda.graph_pool_handle() if self.mode == "graphs" else None
        with torch.no_grad():
            for size in reversed(sizes):
                self._slots[size] = self._make_slot(size, pool)
        torch.cuda.synchronize()
        self.batch_sizes = sizes
        self._staging = BucketStaging(sizes, {s: slot.host_in.numpy()
                                              for s, slot in self._slots.items()}, self._run)
        ms = round((time.perf_counter() - start) * 1000.0, 1)
        log_fields(log, logging.INFO, "torch-cuda warmed up", batch_sizes=list(sizes),
                   mode=self.mode, ms=ms,
                   gpu_mib=round(torch.cuda.memory_reserved() / 2**20))
        self._write_manifest(sizes, ms)

    def _make_slot(self, size: int, pool: Any) -> _Slot:
        torch = self._torch
        shape = (size, INPUT_SIZE, INPUT_SIZE, 3)
        classes = len(self.labels)
        dev_in = torch.zeros(shape, dtype=torch.uint8, device=self.device)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):  # cuDNN picks its algorithms; compile modes compile here
                out = self._forward(dev_in)
        torch.cuda.current_stream().wait_stream(side)
        graph = None
        if self.mode == "graphs":
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=pool):
                out = self.model(dev_in)
        host_in = torch.empty(shape, dtype=torch.uint8).pin_memory()
        host_out = torch.empty((size, classes), dtype=torch.float32).pin_memory()
        return _Slot(size, host_in, host_out, dev_in, out, graph)

    def _write_manifest(self, sizes: Sequence[int], ms: float) -> None:
        """What was built, beside the cached weights (for operators; graphs themselves
        cannot be stored)."""
        if self._cache_dir is None:
            return
        manifest = {"runtime": RUNTIME, "mode": self.mode, "weights": self.source,
                    "buckets": list(sizes), "warm_up_ms": ms, "gpu": self.gpu_name,
                    "torch": self._torch.__version__, "cuda": self._torch.version.cuda}
        try:
            path = self._cache_dir / "torch-cuda" / "engine.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(manifest, indent=1))
        except OSError:
            pass  # a read-only cache: nothing is lost but this note

    # --- inference ----------------------------------------------------------------

    def _run(self, bucket: int, n: int) -> np.ndarray:
        """Run bucket `bucket` on its staged host rows; the first n output rows are valid."""
        torch = self._torch
        slot = self._slots[bucket]
        with torch.cuda.stream(self._stream):
            slot.dev_in[:n].copy_(slot.host_in[:n], non_blocking=True)
            out = self._replay(slot)
            slot.host_out[:n].copy_(out[:n], non_blocking=True)
        self._stream.synchronize()
        return slot.host_out.numpy()

    def _replay(self, slot: _Slot) -> Any:
        if slot.graph is not None:
            slot.graph.replay()
            return slot.dev_out
        with self._torch.no_grad():
            return self._forward(slot.dev_in)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        if self._staging is None:
            self.warm_up(DEFAULT_BATCH_MAX)
        assert self._staging is not None
        return self._staging(np.ascontiguousarray(batch, dtype=np.uint8))

    def predict_device(self, images: Any) -> Any:
        """uint8 (N, 224, 224, 3) already on the GPU (decode_jpegs) -> float32
        probabilities (N, classes) on the GPU, in the same buckets."""
        if self._staging is None:
            self.warm_up(DEFAULT_BATCH_MAX)
        torch = self._torch
        top = self.batch_sizes[-1]
        outs = []
        with torch.cuda.stream(self._stream):
            self._stream.wait_stream(torch.cuda.current_stream())
            for start in range(0, len(images), top):
                chunk = images[start:start + top]
                n = len(chunk)
                slot = self._slots[bucket_for(n, self.batch_sizes)]
                slot.dev_in[:n].copy_(chunk)
                outs.append(self._replay(slot)[:n].clone())
        self._stream.synchronize()
        return outs[0] if len(outs) == 1 else torch.cat(outs)

    def decode_jpegs(self, jpegs: Sequence[bytes]) -> Any:
        """JPEG bytes -> uint8 (N, 224, 224, 3) on the GPU: nvJPEG decodes the batch,
        then the center square is resized (bilinear, antialiased, as the CPU decoder's
        Pillow resize) on the GPU. Images of one size are resized together."""
        torch = self._torch
        import torch.nn.functional as F
        from torchvision.io import ImageReadMode, decode_jpeg

        encoded = [torch.from_numpy(np.frombuffer(data, np.uint8).copy()) for data in jpegs]
        decoded = decode_jpeg(encoded, mode=ImageReadMode.RGB, device=self.device)
        out = torch.empty((len(jpegs), INPUT_SIZE, INPUT_SIZE, 3), dtype=torch.uint8,
                          device=self.device)
        by_shape: dict[tuple[int, int], list[int]] = {}
        for i, image in enumerate(decoded):
            by_shape.setdefault((int(image.shape[1]), int(image.shape[2])), []).append(i)
        for (h, w), rows in by_shape.items():
            side = min(h, w)
            top, left = (h - side) // 2, (w - side) // 2
            batch = torch.stack([decoded[i] for i in rows])[:, :, top:top + side,
                                                            left:left + side]
            if side != INPUT_SIZE:
                batch = F.interpolate(batch.float(), size=(INPUT_SIZE, INPUT_SIZE),
                                      mode="bilinear", antialias=True, align_corners=False)
                batch = batch.round_().clamp_(0, 255).to(torch.uint8)
            out[torch.tensor(rows, device=self.device)] = batch.permute(0, 2, 3, 1)
        return out

    def close_slots(self) -> None:
        self._slots.clear()
        self._staging = None

    def close(self) -> None:
        """Drop the graphs, buffers and weights (and so their GPU memory)."""
        self.close_slots()
        self.model = None
        self._forward = None
        self._torch.cuda.empty_cache()

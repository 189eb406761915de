"""INT8 for float models through NNCF's post-training quantization, from the user's
calibration images (WORKER_CALIBRATION_DIR).

The quantized model is kept only when its top-1 agrees with the float model's on at
least MIN_TOP1_AGREEMENT of the calibration images; otherwise the float model runs
and a warning says why. The result (the INT8 IR, or the decision to stay float) is
kept in the model cache, keyed by the model, the images, the versions and the CPU,
so later starts neither calibrate nor compare again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ...ops.log import log_fields
from ..base import ModelLoadError
from ..model_cache import ModelCache, text_digest

log = logging.getLogger(__name__)

MIN_TOP1_AGREEMENT = 0.99
# NNCF's statistics settle after a few hundred images; more only cost start-up time.
MAX_CALIBRATION_IMAGES = 300
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff")

Infer = Callable[[Any, np.ndarray], np.ndarray]  # (compiled model, uint8 batch) -> scores


@dataclass(frozen=True)
class Int8Outcome:
    used: bool
    agreement: float
    images: int
    reason: str


def calibration_files(folder: str) -> list[Path]:
    root = Path(folder)
    if not root.is_dir():
        raise ModelLoadError(f"WORKER_CALIBRATION_DIR {folder} is not a folder")
    files = sorted(p for p in root.rglob("*") if p.is_file()
                   and p.suffix.lower() in IMAGE_SUFFIXES)[:MAX_CALIBRATION_IMAGES]
    if not files:
        raise ModelLoadError(f"WORKER_CALIBRATION_DIR {folder} holds no images "
                             f"({', '.join(IMAGE_SUFFIXES)})")
    return files


def calibration_digest(files: list[Path]) -> str:
    """Names, sizes and times of the images: what would change the calibration."""
    parts = []
    for p in files:
        st = p.stat()
        parts.append(f"{p.name}:{st.st_size}:{st.st_mtime_ns}")
    return text_digest(*parts)


def load_images(files: list[Path], size: int) -> np.ndarray:
    """The images as the worker sees frames: RGB, center square, resized to `size`.
    Unreadable files are skipped with a warning."""
    from PIL import Image, UnidentifiedImageError

    out = []
    for p in files:
        try:
            with Image.open(p) as im:
                im = im.convert("RGB")
                w, h = im.size
                side = min(w, h)
                left, top = (w - side) // 2, (h - side) // 2
                im = im.crop((left, top, left + side, top + side)).resize(
                    (size, size), Image.Resampling.BILINEAR)
                out.append(np.asarray(im, dtype=np.uint8))
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            log_fields(log, logging.WARNING, "calibration image skipped", file=str(p),
                       error=str(exc)[:200])
    if not out:
        raise ModelLoadError("no calibration image could be read")
    return np.stack(out)


def top1_agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.argmax(a, axis=-1) == np.argmax(b, axis=-1)))


def quantize(model: Any, images: np.ndarray) -> Any:
    """NNCF post-training quantization of an OpenVINO model that takes uint8 images."""
    try:
        import nncf
    except ImportError as exc:
        raise ModelLoadError(f"INT8 calibration needs nncf ({exc})") from None
    dataset = nncf.Dataset([images[i:i + 1] for i in range(len(images))])
    return nncf.quantize(model, dataset, subset_size=len(images))


def int8_if_it_agrees(float_model: Any, images: np.ndarray, cache: ModelCache | None,
                      key: str, compile_model: Callable[[Any], Any], infer: Infer,
                      min_agreement: float = MIN_TOP1_AGREEMENT) -> tuple[Any, Int8Outcome]:
    """The INT8 model when it agrees with `float_model` on `images`, else
    `float_model`. Cached under `key` (the INT8 IR or a note to stay float)."""
    import openvino as ov

    entry = f"openvino/int8-{key}"
    decision_name = f"{entry}.json"
    lock = cache.locked(entry) if cache is not None else _no_lock()
    with lock:
        decision = cache.read_json(decision_name) if cache is not None else None
        if decision is not None and decision.get("min_agreement") == min_agreement:
            outcome = Int8Outcome(bool(decision["used"]), float(decision["agreement"]),
                                  int(decision["images"]), "cached")
            xml = cache.path(entry, "model.xml") if cache is not None else None
            if not outcome.used:
                _warn_float(outcome, min_agreement)
                return float_model, outcome
            if xml is not None and xml.is_file():
                log_fields(log, logging.INFO, "openvino int8 model from the cache",
                           agreement=outcome.agreement, images=outcome.images)
                return ov.Core().read_model(str(xml)), outcome
        start = time.perf_counter()
        int8_model = quantize(float_model, images)
        expected = infer(compile_model(float_model), images)
        got = infer(compile_model(int8_model), images)
        agreement = top1_agreement(expected, got)
        used = agreement >= min_agreement
        outcome = Int8Outcome(used, agreement, len(images), "calibrated")
        log_fields(log, logging.INFO, "openvino int8 calibrated", images=len(images),
                   top1_agreement=round(agreement, 4), used=used,
                   s=round(time.perf_counter() - start, 1))
        if cache is not None:
            if used:
                cache.publish_dir(entry, lambda d: ov.save_model(
                    int8_model, str(d / "model.xml"), compress_to_fp16=False))
            cache.write_json(decision_name, {"used": used, "agreement": agreement,
                                             "images": len(images),
                                             "min_agreement": min_agreement})
    if not used:
        _warn_float(outcome, min_agreement)
        return float_model, outcome
    return int8_model, outcome


def _warn_float(outcome: Int8Outcome, min_agreement: float) -> None:
    log_fields(log, logging.WARNING, "openvino int8 not used: its top-1 agrees with the "
               "float model's on too few calibration images; running the float model",
               agreement=round(outcome.agreement, 4), needed=min_agreement,
               images=outcome.images)


class _no_lock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None

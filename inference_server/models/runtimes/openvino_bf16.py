"""bf16 under WORKER_OPENVINO_PRECISION=auto: the fastest precision that compiles and agrees.

On a CPU that computes bf16 (AVX-512 BF16, AMX) OpenVINO runs a model in bf16 only
when asked (INFERENCE_PRECISION_HINT), and some models do not compile so: OpenVINO
2026.4 cannot compile the ONNX made from the PTQ MobileNetV2 in bf16 on a Xeon with
AMX ("No suitable implementations ... memory descriptors are not compatible") while
f32 compiles. So `auto` keeps bf16 only when the model compiles in bf16 for latency
and for throughput, OpenVINO really computes it in bf16, and its top-1 agrees with
f32's on at least MIN_TOP1_AGREEMENT of the images (the calibration images when
WORKER_CALIBRATION_DIR is given, else the seeded random pixels the runtimes are timed on):
the rule INT8 meets. Otherwise f32 runs, with one warning naming the model, the CPU
and why; only a disagreement on random pixels is said at INFO, since answers on noise
are near ties (the quantized MobileNetV2's top-1 in bf16 and f32 agreed on 66 % of 32
random images on an EPYC with AVX-512 BF16, on all 7 test photos). The decision is kept in the model cache, keyed by the model, the images,
the versions, the CPU and the threads, so a later start neither compiles bf16 nor
compares again.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ...ops.log import log_fields
from ..model_cache import ModelCache, cpu_name
from .openvino_int8 import MIN_TOP1_AGREEMENT, Infer, top1_agreement

log = logging.getLogger(__name__)

# Random pixels compared when no calibration images are given: the first images the
# runtimes are timed on. 16 keeps the check under a second on two cores; the rule
# (MIN_TOP1_AGREEMENT) then asks all 16 to agree.
PRECISION_CHECK_IMAGES = 16

Compile = Callable[[Any, str, str], Any]  # (model, performance hint, precision) -> compiled

AGREES = "agrees"
DISAGREES = "disagrees with f32"
NO_COMPILE = "does not compile in bf16"
NOT_BF16 = "is computed in f32 by OpenVINO here"


@dataclass(frozen=True)
class Bf16Outcome:
    used: bool
    reason: str  # AGREES, DISAGREES, NO_COMPILE or NOT_BF16
    agreement: float | None  # None when it was not compared
    images: int
    error: str = ""  # OpenVINO's message when it did not compile
    cached: bool = False


def compiled_precision(compiled: Any) -> str:
    """The precision OpenVINO compiled for ("bf16", "f32"): a bf16 hint on a CPU
    without bf16 is ignored, not refused."""
    return str(compiled.get_property("INFERENCE_PRECISION_HINT").to_string())


def bf16_if_it_compiles_and_agrees(model: Any, model_text: str, images: np.ndarray,
                                   calibration: bool, cache: ModelCache | None, key: str,
                                   compile_model: Compile, infer: Infer,
                                   min_agreement: float = MIN_TOP1_AGREEMENT) -> Bf16Outcome:
    """Whether `model` runs in bf16 here, compared on `images` (`calibration`: the
    user's calibration images, else random pixels); cached under `key`. Logs one line:
    a WARNING naming the model and the CPU when bf16 is not used, INFO when it is, or
    when only random pixels disagreed (a model's answers on noise are near ties, so
    that says little about photos; WORKER_CALIBRATION_DIR gives photos to compare on)."""
    name = f"openvino/bf16-{key}.json"
    with cache.locked(name) if cache is not None else contextlib.nullcontext():
        decision = cache.read_json(name) if cache is not None else None
        if decision is not None and decision.get("min_agreement") == min_agreement:
            agreement = decision.get("agreement")
            outcome = Bf16Outcome(bool(decision["used"]), str(decision["reason"]),
                                  None if agreement is None else float(agreement),
                                  int(decision["images"]), str(decision.get("error", "")),
                                  cached=True)
        else:
            outcome = _decide(model, images, compile_model, infer, min_agreement)
            if cache is not None:
                cache.write_json(name, {"used": outcome.used, "reason": outcome.reason,
                                        "agreement": outcome.agreement,
                                        "images": outcome.images, "error": outcome.error,
                                        "min_agreement": min_agreement, "cpu": cpu_name()})
    _log(outcome, model_text, calibration, min_agreement)
    return outcome


def _decide(model: Any, images: np.ndarray, compile_model: Compile, infer: Infer,
            min_agreement: float) -> Bf16Outcome:
    start = time.perf_counter()
    try:
        bf16 = compile_model(model, "LATENCY", "bf16")
        compile_model(model, "THROUGHPUT", "bf16")
    except RuntimeError as exc:  # what OpenVINO raises when no kernel fits
        return Bf16Outcome(False, NO_COMPILE, None, len(images),
                           " ".join(str(exc).split())[:300])
    if compiled_precision(bf16) != "bf16":
        return Bf16Outcome(False, NOT_BF16, None, len(images))
    expected = infer(compile_model(model, "LATENCY", "f32"), images)
    agreement = top1_agreement(expected, infer(bf16, images))
    used = agreement >= min_agreement
    log_fields(log, logging.INFO, "openvino bf16 compared with f32", images=len(images),
               top1_agreement=round(agreement, 4), used=used,
               s=round(time.perf_counter() - start, 1))
    return Bf16Outcome(used, AGREES if used else DISAGREES, agreement, len(images))


def _log(outcome: Bf16Outcome, model_text: str, calibration: bool,
         min_agreement: float) -> None:
    fields: dict[str, object] = {"model": model_text}
    if outcome.agreement is not None:
        fields.update(agreement=round(outcome.agreement, 4), images=outcome.images,
                      on="calibration images" if calibration else "random pixels")
    if outcome.cached:
        fields["cached"] = True
    if outcome.used:
        log_fields(log, logging.INFO, "openvino bf16 used", **fields)
        return
    level = logging.WARNING
    if outcome.reason == DISAGREES:
        fields["needed"] = min_agreement
        if not calibration:
            level = logging.INFO
            fields["hint"] = "set WORKER_CALIBRATION_DIR to photos to compare on them"
    if outcome.error:
        fields["error"] = outcome.error
    log_fields(log, level, f"openvino bf16 not used for this model on this CPU: "
               f"it {outcome.reason}; running f32", cpu=cpu_name(), **fields)

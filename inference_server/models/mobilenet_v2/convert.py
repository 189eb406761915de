"""Keras MobileNetV2 weights -> the folded .npz file the torch engine reads (where Keras
is installed), and the cache of such files under WORKER_MODEL_CACHE_DIR, keyed by the hash of
the weights file they came from.

    python -m inference_server.models.mobilenet_v2.convert --model keras:<file> --out w.npz
    python -m inference_server.models.mobilenet_v2.convert --model keras-random --seed 0 \
        --dtype float16 --out w.npz

Keras is imported only inside the functions that need it: the engine imports this file
on a GPU machine without Keras to find a file converted before.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ...config_aliases import env_value
from .. import model_cache
from ..labels import LabelsError, read_labels_file
from ..spec import KERAS, ModelSpec, parse_model
from .layout import fold_keras_weights, save_npz


CACHE_SUBDIR = "torch-cuda"
CONVERT_MODULE = "inference_server.models.mobilenet_v2.convert"  # python -m it
IMAGENET = "imagenet"


def default_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """WORKER_MODEL_CACHE_DIR, else $XDG_CACHE_HOME/webcamhub, else ~/.cache/webcamhub."""
    env = os.environ if env is None else env
    return Path(env_value(env, "WORKER_MODEL_CACHE_DIR") or model_cache.default_cache_dir(env))


def file_digest(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def cache_key(spec: ModelSpec) -> str:
    """What a converted file is named after: the weights file's hash (a renamed or
    copied file is found again, a changed one is converted again), or the ImageNet
    weights of the installed Keras."""
    if spec.kind == KERAS and not spec.random_weights:
        return IMAGENET if spec.path is None else "sha256-" + file_digest(spec.path)[:32]
    raise ValueError(f"no cache key for {spec.text!r}")


def cached_path(spec: ModelSpec, cache_dir: Path) -> Path:
    return cache_dir / CACHE_SUBDIR / f"mobilenet_v2-{cache_key(spec)}.npz"


def keras_model(weights: str | None, seed: int = 0) -> Any:
    """The Keras MobileNetV2 as the Keras backend builds it (weights: "imagenet", None for
    seeded random init, or a .keras / .h5 / .weights.h5 file). Raises ImportError
    without Keras."""
    from ..runtimes.keras_env import prepare_environment

    prepare_environment(1, 0.0)
    import keras

    if weights is None:
        keras.utils.set_random_seed(seed)
        return keras.applications.MobileNetV2(weights=None)
    if weights.endswith(".keras"):
        return keras.saving.load_model(weights, compile=False)
    return keras.applications.MobileNetV2(weights=weights)


def layer_weights(model: Any) -> dict[str, list[np.ndarray]]:
    """{layer name: its weights}, flattening a model nested in another (a .keras file
    may wrap the applications model)."""
    out: dict[str, list[np.ndarray]] = {}
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:
            out.update(layer_weights(layer))
        else:
            out[layer.name] = [np.asarray(w) for w in layer.get_weights()]
    return out


def convert(spec: ModelSpec, seed: int = 0) -> tuple[dict[str, np.ndarray], str]:
    """MODEL (keras, keras:<file>, keras-random) -> (folded tensors, source text)."""
    if spec.kind != KERAS:
        raise ValueError(f"cannot convert {spec.text!r}: give keras, keras:<file> or "
                         "keras-random")
    if spec.random_weights:
        model, source = keras_model(None, seed), f"keras-random seed {seed}"
    elif spec.path is None:
        model, source = keras_model(IMAGENET), "keras imagenet"
    else:
        model, source = keras_model(spec.path), f"{Path(spec.path).name} {cache_key(spec)}"
    return fold_keras_weights(layer_weights(model)), source


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=f"python -m {CONVERT_MODULE}",
                                description="Keras MobileNetV2 weights -> the torch engine's .npz")
    p.add_argument("--model", required=True, help="keras | keras:<file> | keras-random")
    p.add_argument("--seed", type=int, default=0, help="keras-random: the seed")
    p.add_argument("--out", help="output .npz (default: into the cache, WORKER_MODEL_CACHE_DIR)")
    p.add_argument("--labels", help="labels file stored with the weights (1000 classes)")
    p.add_argument("--dtype", choices=("float32", "float16"), default="float32",
                   help="float16 halves the file (the engine computes in fp16 anyway)")
    args = p.parse_args(argv)
    labels = None
    try:
        if args.labels:
            labels = read_labels_file(args.labels)
        spec = parse_model(args.model)
        tensors, source = convert(spec, args.seed)
    except (ImportError, LabelsError, ValueError, OSError) as exc:
        print(f"mobilenet_v2_convert: {exc}", file=sys.stderr)
        return 2
    out = (Path(args.out) if args.out
           else cached_path(spec, default_cache_dir()) if not spec.random_weights
           else Path(f"mobilenet_v2-random-seed{args.seed}.npz"))
    save_npz(out, tensors, source, labels, args.dtype)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Bucket padding against unpadded batches with the real Keras MobileNetV2 (random,
seeded weights), for whichever Keras backend this process has.

Keras picks its backend once, at import, from KERAS_BACKEND: the TensorFlow tests call
these functions in the pytest process, the JAX test runs this module in a child process:

    KERAS_BACKEND=jax python -m inference_server.tests.keras_padding_check OUT_DIR

which writes OUT_DIR/padding.npz (the predictions) and OUT_DIR/report.json.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

from inference_server.models.runtimes.keras import KerasBackend
from inference_server.imaging.decoder import Decoder

REPO_ROOT = Path(__file__).resolve().parents[2]
SEED = 7
WARM_BATCH_MAX = 4  # buckets 1, 2, 4: few compiles on a small CPU
PADDED_NAMES = ["cat.bmp", "parrot.jpg", "grace_hopper.bmp"]  # 3 rows: padded to 4


def calibrate_batch_norm(backend: KerasBackend, images: np.ndarray) -> None:
    """Random MobileNetV2 weights make the activations vanish through the blocks, so
    every image gets the same near-uniform answer. Setting each BatchNorm's moving
    statistics from one forward pass over real photos keeps them alive, so different
    images give different outputs and the order and padding checks mean something."""
    import keras
    from keras.applications.mobilenet_v2 import preprocess_input

    for layer in backend.model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.0
    backend.model(preprocess_input(images.astype(np.float32)), training=True)


def predict_padded_and_not(backend: KerasBackend, batch: np.ndarray,
                           batch_max: int) -> dict[str, np.ndarray]:
    """The same batch through the buckets and as it is, and each row alone (batch 1,
    never padded). Leaves the backend padding, warmed up for `batch_max`."""
    backend.pads = False
    unpadded = backend.predict(batch)
    alone = np.concatenate([backend.predict(batch[i:i + 1]) for i in range(len(batch))])
    backend.pads = True
    backend.warm_up(batch_max)
    backend.shapes_run.clear()
    padded = backend.predict(batch)
    return {"unpadded": unpadded, "padded": padded, "alone": alone,
            "shapes_run": np.array(sorted(backend.shapes_run))}


def assert_padding_changes_nothing(got: dict[str, np.ndarray]) -> None:
    assert got["shapes_run"].tolist() == [4]  # 3 frames ran as the bucket of 4
    unpadded, padded, alone = got["unpadded"], got["padded"], got["alone"]
    assert padded.shape == unpadded.shape == (3, 1000) and padded.dtype == np.float32
    np.testing.assert_allclose(padded, unpadded, rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(padded, alone, rtol=1e-3, atol=1e-6)
    assert padded.argmax(axis=1).tolist() == unpadded.argmax(axis=1).tolist()
    # Different photos give different answers, so a row out of place would show.
    assert np.abs(padded[0] - padded[1]).max() > 1e-5
    assert np.abs(padded[1] - padded[2]).max() > 1e-5


def main(out_dir: str) -> int:
    import keras

    shared = Path(os.environ.get("SHARED_TESTDATA", REPO_ROOT.parent / "shared" / "testdata"))
    keras.utils.set_random_seed(SEED)
    backend = KerasBackend(weights=None, labels_path=str(shared / "imagenet_labels.txt"),
                           num_threads=2)
    pads_by_default = backend.pads
    decoder = Decoder(size=224)
    batch = np.stack([decoder.decode((shared / "images" / n).read_bytes())
                      for n in PADDED_NAMES])
    calibrate_batch_norm(backend, batch)
    result = predict_padded_and_not(backend, batch, WARM_BATCH_MAX)

    compiles_after_warm_up = -1
    if backend.keras_backend == "jax":
        import jax.monitoring

        compiles = []

        def on_event(event: str, secs: float, **_: object) -> None:
            if event == "/jax/core/compile/backend_compile_duration":
                compiles.append(event)

        jax.monitoring.register_event_duration_secs_listener(on_event)
        blank = np.zeros((WARM_BATCH_MAX, 224, 224, 3), np.uint8)
        for n in range(1, WARM_BATCH_MAX + 1):
            backend.predict(blank[:n])
        compiles_after_warm_up = len(compiles)

    out = Path(out_dir)
    np.savez(out / "padding.npz", **result)
    report = {
        "keras_backend": backend.keras_backend,
        "pads_by_default": pads_by_default,
        "batch_sizes": list(backend.batch_sizes),
        "compiles_after_warm_up": compiles_after_warm_up,
        "env": {k: os.environ.get(k) for k in ("PJRT_NPROC", "XLA_PYTHON_CLIENT_PREALLOCATE",
                                               "TF_FORCE_GPU_ALLOW_GROWTH")},
    }
    (out / "report.json").write_text(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

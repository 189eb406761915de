"""Keras MobileNetV2 -> the torch engine's folded .npz (models/mobilenet_v2/layout.py,
models/mobilenet_v2/convert.py), on this machine with Keras and without torch: every Keras
layer maps by name to a tensor of the right shape, and the folded network, computed
with numpy, gives Keras' own probabilities."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from inference_server.models import parse_model
from inference_server.models.mobilenet_v2 import convert
from inference_server.models.mobilenet_v2.layout import (FORMAT, LAYOUT, WeightsError,
                                                           check_tensors, fold_keras_weights,
                                                           load_npz, random_weights, save_npz)

from inference_server.testkit import mobilenet_v2_numpy as reference
from inference_server.testkit.mobilenet_v2_numpy import forward


@pytest.fixture(scope="module")
def keras_mobilenet() -> Any:
    """A seeded random Keras MobileNetV2 whose batch normalisations hold statistics that
    are not the identity (random init leaves mean 0, variance 1: folding would hardly
    show) and whose classifier is sharpened so the top-5 means something."""
    model = convert.keras_model(None, seed=7)
    rng = np.random.default_rng(7)
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            c = layer.get_weights()[0].shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, c), rng.normal(0, 0.1, c),
                               rng.normal(0, 0.1, c), rng.uniform(0.5, 1.5, c)])
        elif layer.name == "predictions":
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel * 30.0, bias])
    return model


@pytest.fixture(scope="module")
def keras_layers(keras_mobilenet: Any) -> dict[str, list[np.ndarray]]:
    return convert.layer_weights(keras_mobilenet)


def test_every_keras_layer_maps_to_a_tensor_of_the_right_shape(
        keras_layers: dict[str, list[np.ndarray]], tmp_path: Path) -> None:
    with_weights = {name for name, w in keras_layers.items() if w}
    mapped = {c.name for c in LAYOUT.convs()} | {c.bn for c in LAYOUT.convs()} | {"predictions"}
    assert with_weights == mapped
    for conv in LAYOUT.convs():
        assert keras_layers[conv.name][0].shape == conv.keras_kernel_shape, conv.name
    path = save_npz(tmp_path / "w.npz", fold_keras_weights(keras_layers), "test")
    loaded = load_npz(path)
    shapes = LAYOUT.shapes()
    assert len(shapes) == 2 * 52 + 2  # 52 convolutions (weight, folded bias) + the classifier
    assert {k: v.shape for k, v in loaded.tensors.items()} == shapes
    assert all(v.dtype == np.float32 for v in loaded.tensors.values())
    assert loaded.source == "test" and loaded.labels is None
    # Keras parameter count less the batch normalisations' 4 per channel, plus a bias each.
    bn_params = sum(4 * c.cout for c in LAYOUT.convs())
    conv_params = sum(c.cout for c in LAYOUT.convs())
    keras_params = sum(w.size for ws in keras_layers.values() for w in ws)
    assert sum(v.size for v in loaded.tensors.values()) == keras_params - bn_params + conv_params


def test_folded_network_gives_keras_probabilities(
        keras_mobilenet: Any, keras_layers: dict[str, list[np.ndarray]],
        decoded: dict[str, np.ndarray]) -> None:
    images = np.stack([decoded["cat_720p.jpg"], decoded["parrot.jpg"], decoded["bird.bmp"]])
    ours = forward(fold_keras_weights(keras_layers), images)
    theirs = np.asarray(keras_mobilenet.predict(images.astype(np.float32) / 127.5 - 1.0,
                                                verbose=0))
    assert ours.max(axis=1).min() > 0.01  # sharpened: top-5 is not a coin toss
    np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-5)
    for a, b in zip(ours, theirs):
        assert list(np.argsort(-a)[:5]) == list(np.argsort(-b)[:5])


@pytest.fixture(scope="module")
def keras_features(keras_mobilenet: Any, decoded: dict[str, np.ndarray]) -> np.ndarray:
    import keras

    # After 4 blocks (3 stride-2 convolutions), 28x28x32: a padding on the wrong side
    # would shift every window by one pixel.
    layer = keras_mobilenet.get_layer("block_3_project_BN")
    features = keras.Model(keras_mobilenet.input, layer.output)
    image = decoded["parrot.jpg"][None]
    return np.asarray(features.predict(image.astype(np.float32) / 127.5 - 1.0, verbose=0))


def test_folded_network_gives_keras_feature_map(
        keras_layers: dict[str, list[np.ndarray]], keras_features: np.ndarray,
        decoded: dict[str, np.ndarray]) -> None:
    """Inside the network every position must match."""
    ours = reference.features(fold_keras_weights(keras_layers), decoded["parrot.jpg"][None], 4)
    assert ours.shape == (1, 28, 28, 32)
    np.testing.assert_allclose(ours, keras_features, rtol=1e-3, atol=2e-4)


def test_symmetric_padding_would_differ(keras_layers: dict[str, list[np.ndarray]],
                                        keras_features: np.ndarray,
                                        decoded: dict[str, np.ndarray]) -> None:
    """The asymmetric stride-2 padding is what makes the match: torch's usual
    padding=1 on both sides gives another feature map (so the test above can fail)."""
    tensors = fold_keras_weights(keras_layers)
    image = decoded["parrot.jpg"][None]
    from inference_server.models.mobilenet_v2 import layout

    original = layout.Conv.pad
    try:
        layout.Conv.pad = property(  # type: ignore[method-assign]
            lambda c: (0, 0, 0, 0) if c.kernel == 1 else (1, 1, 1, 1))
        wrong = reference.features(tensors, image, 4)
    finally:
        layout.Conv.pad = original  # type: ignore[method-assign]
    assert np.abs(keras_features - wrong).max() > 0.01  # 50x the tolerance of the match


def test_a_model_that_is_not_mobilenet_v2_is_refused(
        keras_layers: dict[str, list[np.ndarray]]) -> None:
    missing = {k: v for k, v in keras_layers.items() if k != "block_5_project"}
    with pytest.raises(WeightsError, match="no layer 'block_5_project'"):
        fold_keras_weights(missing)
    reshaped = dict(keras_layers)
    reshaped["Conv1"] = [np.zeros((3, 3, 3, 16), np.float32)]
    with pytest.raises(WeightsError, match=r"'Conv1' has a kernel of shape \(3, 3, 3, 16\)"):
        fold_keras_weights(reshaped)
    extra = dict(keras_layers)
    extra["my_head"] = [np.zeros((4,), np.float32)]
    with pytest.raises(WeightsError, match="my_head"):
        fold_keras_weights(extra)


def test_files_that_are_not_converted_weights_are_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.npz"
    np.savez(other, x=np.zeros(3))
    with pytest.raises(WeightsError, match=FORMAT):
        load_npz(other)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip")
    with pytest.raises(WeightsError, match="not a converted weights file"):
        load_npz(garbage)
    tensors = random_weights(0)
    tensors["Conv1.weight"] = tensors["Conv1.weight"][:16]
    with pytest.raises(WeightsError, match=r"Conv1.weight has shape \(16, 3, 3, 3\)"):
        check_tensors(tensors, "test")


def test_cli_writes_a_float16_file_with_labels(tmp_path: Path, labels_file: Path) -> None:
    out = tmp_path / "carry.npz"
    assert convert.main(["--model", "keras-random", "--seed", "3", "--dtype", "float16",
                         "--labels", str(labels_file), "--out", str(out)]) == 0
    loaded = load_npz(out)
    assert loaded.source == "keras-random seed 3"
    assert loaded.labels is not None and len(loaded.labels) == 1000
    assert loaded.labels[0].startswith("tench")
    with np.load(out) as raw:
        assert raw["Conv1.weight"].dtype == np.float16
    assert out.stat().st_size < 8 * 1024 * 1024  # fits the GPU machine's carry


def test_cache_is_keyed_by_the_file_hash(tmp_path: Path) -> None:
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    a.write_bytes(b"weights")
    b.write_bytes(b"weights")
    spec_a, spec_b = parse_model(f"keras:{a}"), parse_model(f"keras:{b}")
    assert convert.cached_path(spec_a, tmp_path) == convert.cached_path(spec_b, tmp_path)
    b.write_bytes(b"other weights")
    assert convert.cached_path(spec_a, tmp_path) != convert.cached_path(spec_b, tmp_path)
    assert convert.default_cache_dir({"WORKER_MODEL_CACHE_DIR": "/data/cache"}) == Path("/data/cache")
    assert convert.default_cache_dir({"XDG_CACHE_HOME": "/x"}) == Path("/x/webcamhub")

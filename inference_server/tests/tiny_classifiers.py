"""Tiny image classifiers made at test time, in every format the worker reads, so each
is tested without a download: global average pooling of the normalised pixels ([-1, 1])
then a dense layer that calls a red image `red`, a green one `green`, a blue one
`blue` (and so tells a model fed BGR from one fed RGB)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

SIZE = 32
COLOURS = ("red", "green", "blue")
TEACHABLE_LABELS = "".join(f"{i} {name}\n" for i, name in enumerate(COLOURS))
WEIGHTS = 4.0 * np.eye(3, dtype=np.float32)  # mean channel value in [-1, 1] -> logits


def solid(colour: str, size: int = SIZE) -> np.ndarray:
    """A (size, size, 3) uint8 image of one pure colour."""
    image = np.zeros((size, size, 3), np.uint8)
    image[..., COLOURS.index(colour)] = 255
    return image


def solids(size: int = SIZE) -> np.ndarray:
    return np.stack([solid(c, size) for c in COLOURS])


def _keras() -> Any:
    from inference_server.models.runtimes.keras import _import_keras

    return _import_keras(2, 0.0)


def keras_head(classes: int = 3, depthwise: bool = False) -> Any:
    """The classifier as a Keras Sequential model, as Teachable Machine builds one
    (a DepthwiseConv2D inside, as in its MobileNet base, when `depthwise`)."""
    keras = _keras()
    layers: list[Any] = [keras.Input((SIZE, SIZE, 3))]
    if depthwise:
        layers.append(keras.layers.DepthwiseConv2D(1, use_bias=False, name="depthwise"))
    layers += [keras.layers.GlobalAveragePooling2D(),
               keras.layers.Dense(classes, activation="softmax", name="head")]
    model = keras.Sequential(layers)
    if depthwise:
        model.get_layer("depthwise").set_weights([np.ones((1, 1, 3, 1), np.float32)])
    w = WEIGHTS if classes == 3 else np.ones((3, classes), np.float32)
    model.get_layer("head").set_weights([w, np.zeros(classes, np.float32)])
    return model


def save_teachable_h5(folder: Path) -> Path:
    """keras_model.h5 + labels.txt as Teachable Machine's image export has them: a
    tf.keras 2 HDF5 whole model whose DepthwiseConv2D config carries `groups: 1`."""
    import h5py

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "keras_model.h5"
    keras_head(depthwise=True).save(path)
    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        for layer in config["config"]["layers"]:
            if layer["class_name"] == "DepthwiseConv2D":
                layer["config"]["groups"] = 1
        f.attrs["model_config"] = json.dumps(config)
    (folder / "labels.txt").write_text(TEACHABLE_LABELS)
    return path


def save_tflite(model: Any, path: Path, quantized: str | None = None) -> Path:
    """`model` as .tflite: float, or fully quantized with `quantized` ("int8" or
    "uint8") input and output, calibrated on random normalised pixels."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantized:
        rng = np.random.default_rng(0)

        def representative() -> Any:
            for _ in range(20):
                yield [rng.uniform(-1, 1, (1, SIZE, SIZE, 3)).astype(np.float32)]
            for colour in COLOURS:
                yield [(solid(colour)[None].astype(np.float32) / 127.5 - 1.0)]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        dtype = tf.int8 if quantized == "int8" else tf.uint8
        converter.inference_input_type = dtype
        converter.inference_output_type = dtype
    path.write_bytes(converter.convert())
    return path


def save_onnx(path: Path, labels: Sequence[str] | None = COLOURS,
              input_shape: Sequence[int | str] = (1, 3, SIZE, SIZE),
              output_shape: Sequence[int] | None = None) -> Path:
    """The classifier as an NCHW ONNX graph, as a PyTorch export has it (float input,
    logits out), its labels in metadata_props (`labels`, one a line). `output_shape`:
    a graph whose output is that shape instead (a detector-like [1, 10, 4])."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("pixels", TensorProto.FLOAT, list(input_shape))
    nodes = [helper.make_node("ReduceMean", ["pixels"], ["pooled"], axes=[2, 3], keepdims=0),
             helper.make_node("MatMul", ["pooled", "w"], ["logits"])]
    inits = [helper.make_tensor("w", TensorProto.FLOAT, [3, 3], WEIGHTS.ravel().tolist())]
    out_name, out_shape = "logits", [1, 3]
    if output_shape is not None:
        count = int(np.prod(output_shape))
        inits += [helper.make_tensor("w2", TensorProto.FLOAT, [3, count],
                                     np.ones((3, count), np.float32).ravel().tolist()),
                  helper.make_tensor("shape", TensorProto.INT64, [len(output_shape)],
                                     list(output_shape))]
        nodes += [helper.make_node("MatMul", ["pooled", "w2"], ["wide"]),
                  helper.make_node("Reshape", ["wide", "shape"], ["boxes"])]
        out_name, out_shape = "boxes", list(output_shape)
    y = helper.make_tensor_value_info(out_name, TensorProto.FLOAT, out_shape)
    graph = helper.make_graph(nodes, "tiny", [x], [y], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    if labels is not None:
        helper.set_model_props(model, {"labels": "\n".join(labels)})
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path

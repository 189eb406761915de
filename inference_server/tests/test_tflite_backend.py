"""The real LiteRT backend on the real MobileNetV2 .tflite models and photos."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from inference_server.models import ModelLoadError
from inference_server.models.load import load_model
from inference_server.models.runtimes.litert import TfliteBackend, input_lut
from inference_server.models.runtimes.litert_batch import make_batch_dynamic
from inference_server.wire.replies import top_k

# image -> (top-1 label, ImageNet index)
EXPECTED = {
    "cat.bmp": ("Egyptian cat", 285),
    "cat_720p.jpg": ("Egyptian cat", 285),
    "grace_hopper.bmp": ("military uniform", 652),
    "parrot.jpg": ("macaw", 88),
    "bird.bmp": ("chickadee", 19),
    "dragonfly.bmp": ("dragonfly, darning needle, devil's darning needle, sewing needle, "
                      "snake feeder, snake doctor, mosquito hawk, skeeter hawk", 319),
}


def classify(backend: TfliteBackend, image: np.ndarray, k: int = 3) -> list[dict]:
    return top_k(backend.predict(image[None])[0], backend.labels, k)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_quant_model_top1(quant_backend: TfliteBackend, decoded: dict[str, np.ndarray],
                          name: str) -> None:
    preds = classify(quant_backend, decoded[name])
    label, index = EXPECTED[name]
    assert preds[0]["label"] == label
    assert preds[0]["index"] == index
    assert preds[0]["confidence"] > 0.5


def test_quant_model_details(quant_backend: TfliteBackend, decoded: dict[str, np.ndarray]) -> None:
    assert quant_backend.kind == "tflite"
    assert quant_backend.input_size == 224
    assert quant_backend.input_dtype == np.uint8
    # Labels came from the model's own metadata (no labels file given).
    assert len(quant_backend.labels) == 1000
    assert quant_backend.labels[285] == "Egyptian cat"
    preds = classify(quant_backend, decoded["cat.bmp"])
    assert [p["label"] for p in preds[:2]] == ["Egyptian cat", "tabby, tabby cat"]
    assert [p["index"] for p in preds[:2]] == [285, 281]
    confs = [p["confidence"] for p in preds]
    assert confs == sorted(confs, reverse=True)
    assert sum(confs) <= 1.0 + 1e-3


def test_probabilities_shape_and_range(quant_backend: TfliteBackend,
                                       decoded: dict[str, np.ndarray]) -> None:
    probs = quant_backend.predict(np.stack([decoded["cat.bmp"], decoded["parrot.jpg"]]))
    assert probs.shape == (2, 1000)  # background class dropped
    assert probs.dtype == np.float32
    assert (probs >= 0).all() and (probs.sum(axis=1) <= 1.01).all()


@pytest.mark.parametrize("name", ["cat.bmp", "cat_720p.jpg", "parrot.jpg", "bird.bmp"])
def test_tf2_ptq_model_top1(ptq_backend: TfliteBackend, decoded: dict[str, np.ndarray],
                            name: str) -> None:
    preds = classify(ptq_backend, decoded[name])
    assert (preds[0]["label"], preds[0]["index"]) == EXPECTED[name]


def test_tf2_ptq_model_grace_hopper_in_top3(ptq_backend: TfliteBackend,
                                            decoded: dict[str, np.ndarray]) -> None:
    preds = classify(ptq_backend, decoded["grace_hopper.bmp"])
    assert "military uniform" in [p["label"] for p in preds]


@pytest.mark.parametrize("which", ["quant", "ptq"])
def test_batch_gives_each_frame_its_own_result_in_order(
        which: str, quant_backend: TfliteBackend, ptq_backend: TfliteBackend,
        decoded: dict[str, np.ndarray]) -> None:
    backend = quant_backend if which == "quant" else ptq_backend
    names = ["parrot.jpg", "cat.bmp", "grace_hopper.bmp", "cat_720p.jpg", "bird.bmp",
             "parrot.jpg", "sunflower.bmp", "dragonfly.bmp"]
    batch = np.stack([decoded[n] for n in names])
    together = backend.predict(batch)
    assert together.shape == (len(names), 1000)
    for i, name in enumerate(names):
        alone = backend.predict(batch[i:i + 1])[0]
        np.testing.assert_allclose(together[i], alone, atol=1e-6, err_msg=name)
    assert together[0].argmax() == 88 and together[1].argmax() == 285
    # A smaller batch after a bigger one still works (interpreter per batch size).
    np.testing.assert_allclose(backend.predict(batch[:3]), together[:3], atol=1e-6)


def _os_threads() -> int:
    """This process's threads (Linux)."""
    return len(os.listdir("/proc/self/task"))


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads in /proc")
@pytest.mark.parametrize("threads", [1, 3])
def test_a_lone_frame_runs_on_every_model_thread(ptq_model_path: Path,
                                                 decoded: dict[str, np.ndarray],
                                                 threads: int) -> None:
    """A lone frame (what a session at a webcam's pace sends) runs on an interpreter of
    all the model threads, as batches do: XNNPACK's pool, that many less the calling
    thread, made with the batch-1 interpreter when the backend loads."""
    before = _os_threads()
    backend = TfliteBackend(str(ptq_model_path), num_threads=threads)
    try:
        probs = backend.predict(decoded["parrot.jpg"][None])
        assert _os_threads() - before == threads - 1
        assert int(probs[0].argmax()) == EXPECTED["parrot.jpg"][1]
    finally:
        backend.close()


def test_original_model_cannot_batch_but_patched_one_can(quant_model_path: Path) -> None:
    from ai_edge_litert.interpreter import Interpreter

    original = quant_model_path.read_bytes()
    interp = Interpreter(model_content=original)
    interp.resize_tensor_input(0, [4, 224, 224, 3])
    with pytest.raises(RuntimeError):
        interp.allocate_tensors()  # RESHAPE to the constant [1, 1001]
    patched, count = make_batch_dynamic(original)
    assert count >= 1
    assert len(patched) == len(original)
    interp = Interpreter(model_content=patched)
    interp.resize_tensor_input(0, [4, 224, 224, 3])
    interp.allocate_tensors()
    assert list(interp.get_output_details()[0]["shape"]) == [4, 1001]


def test_labels_file_overrides_metadata(quant_model_path: Path, tmp_path: Path,
                                        labels_file: Path) -> None:
    lines = labels_file.read_text().splitlines()
    lines[286] = "pharaoh's cat"  # line 0 is background
    custom = tmp_path / "labels.txt"
    custom.write_text("\n".join(lines) + "\n")
    backend = TfliteBackend(str(quant_model_path), labels_path=str(custom))
    assert backend.labels[285] == "pharaoh's cat"


def test_input_lut() -> None:
    # The usual uint8 MobileNet quantizations take raw pixels.
    assert input_lut(np.dtype(np.uint8), 0.0078125, 128) is None
    assert input_lut(np.dtype(np.uint8), 1 / 127.5, 127) is None
    # Float models: (x / 127.5) - 1.
    lut = input_lut(np.dtype(np.float32), 0.0, 0)
    assert lut is not None and lut.dtype == np.float32
    assert lut[0] == -1.0 and lut[255] == 1.0 and abs(lut[128] - 0.00392) < 1e-4
    # int8 with scale 1/128 and zero point 0: q = real * 128.
    lut = input_lut(np.dtype(np.int8), 1 / 128, 0)
    assert lut is not None and lut.dtype == np.int8
    assert lut[0] == -128 and lut[255] == 127
    # Any other uint8 quantization: MobileNetV2's [-1, 1] input through the model's own
    # scale and zero point, e.g. scale 2/255 zero point 0 -> q = (real + ...) clipped.
    lut = input_lut(np.dtype(np.uint8), 1 / 64, 100)
    assert lut is not None and lut.dtype == np.uint8
    assert lut[0] == 36 and lut[255] == 164


def test_missing_and_invalid_models(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="cannot read the TFLite model"):
        load_model(f"tflite:{tmp_path / 'missing.tflite'}", "litert")
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\x00" * 4096)
    with pytest.raises(ModelLoadError, match="not a valid TFLite model"):
        load_model(f"tflite:{junk}", "litert")


def test_missing_labels_file_is_a_load_error(quant_model_path: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="labels"):
        TfliteBackend(str(quant_model_path), labels_path=str(tmp_path / "none.txt"))

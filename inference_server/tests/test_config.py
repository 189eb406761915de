from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from inference_server import config_aliases
from inference_server.config import Config, ConfigError, load_config
from inference_server.tests.procs import REPO_ROOT
from inference_server.wire.contract import QUEUE_GROUP


def test_defaults() -> None:
    cfg = load_config([], env={})
    assert cfg.nats_url == "nats://127.0.0.1:4222"
    assert cfg.model == ""  # keras, or offline the first model at hand (default_model.py)
    assert cfg.runtime == "auto"
    assert cfg.models_dirs == ("models",)
    assert cfg.model_cache_dir.endswith("/.cache/webcamhub")
    assert (cfg.calibration_dir, cfg.openvino_precision) == (None, "auto")
    assert cfg.labels is None
    assert (cfg.top_k, cfg.batch_max, cfg.queue_group) == (3, 8, QUEUE_GROUP)
    assert cfg.batch_wait_ms == 0  # a lone frame goes straight to the model
    assert cfg.held_max == 2 * cfg.batch_max  # one batch computing, one waiting
    assert cfg.held_max - cfg.batch_max < cfg.rejoin_below < cfg.held_max
    assert cfg.max_image_bytes == 8 * 1024 * 1024
    assert cfg.max_pixels == 40_000_000
    assert cfg.name.startswith("worker-") and cfg.name.endswith(f"-{os.getpid()}")
    assert socket.gethostname() not in cfg.name
    assert cfg.log_level == "info"
    assert cfg.threads >= 1
    assert cfg.gpu_memory_fraction == 0.0  # workers share a GPU


def test_gpu_memory_fraction() -> None:
    assert load_config([], env={"WORKER_GPU_MEMORY_FRACTION": "0.45"}).gpu_memory_fraction == 0.45
    assert load_config(["--gpu-memory-fraction", "1"], env={}).gpu_memory_fraction == 1.0


def test_session_shares_from_env_and_flags() -> None:
    cfg = load_config([], env={})
    assert (cfg.session_decode_ms, cfg.session_frames) == (100.0, 4)
    cfg = load_config(["--session-frames", "8"], env={"WORKER_SESSION_DECODE_MS": "0"})
    assert (cfg.session_decode_ms, cfg.session_frames) == (0.0, 8)


def test_env_then_flags() -> None:
    env = {"NATS_URL": "nats://nats:4222", "WORKER_MODEL": "tflite:/m.tflite", "WORKER_LABELS": "/l.txt",
           "WORKER_TOP_K": "5", "WORKER_BATCH_MAX": "4", "WORKER_BATCH_WAIT_MS": "2.5", "WORKER_MAX_IMAGE_BYTES": "1000",
           "WORKER_MAX_PIXELS": "2000", "WORKER_NAME": "w-env", "LOG_LEVEL": "DEBUG",
           "WORKER_CAPACITY": "5"}
    cfg = load_config([], env=env)
    assert cfg == Config(nats_url="nats://nats:4222", model="tflite:/m.tflite", labels="/l.txt",
                         top_k=5, batch_max=4, batch_wait_ms=2.5, max_image_bytes=1000,
                         max_pixels=2000, name="w-env", log_level="debug", capacity=5,
                         model_cache_dir=cfg.model_cache_dir)
    assert cfg.held_max == 5
    cfg = load_config(["--top-k", "1", "--name", "w-flag", "--model", "keras:/w.h5",
                       "--queue-group", "other", "--batch-max", "16"], env=env)
    assert (cfg.top_k, cfg.name, cfg.model, cfg.queue_group, cfg.batch_max) == (
        1, "w-flag", "keras:/w.h5", "other", 16)


@pytest.mark.parametrize("name,level", [
    ("debug", logging.DEBUG), ("INFO", logging.INFO), ("warn", logging.WARNING),
    ("Warning", logging.WARNING), ("WARN", logging.WARNING), ("error", logging.ERROR),
])
def test_log_level_names_are_the_hubs(name: str, level: int) -> None:
    # The names hub/config.go takes (hub/config_test.go, TestConfigLogLevels), in any
    # case: one LOG_LEVEL for every part.
    for cfg in (load_config([], env={"LOG_LEVEL": name}),
                load_config(["--log-level", name], env={})):
        assert logging.getLevelName(cfg.log_level.upper()) == level


@pytest.mark.parametrize("name", ["info+2", "fatal", "critical", "loud"])
def test_log_levels_the_hub_refuses_are_refused(name: str) -> None:
    with pytest.raises(ConfigError, match=r"--log-level .*: want debug, info, warn \(or "
                       r"warning\) or error"):
        load_config([], env={"LOG_LEVEL": name})


@pytest.mark.parametrize("argv,env,fragment", [
    ([], {"WORKER_TOP_K": "three"}, "WORKER_TOP_K"),
    (["--top-k", "0"], {}, "--top-k"),
    (["--batch-max", "0"], {}, "--batch-max"),
    (["--batch-wait-ms", "-1"], {}, "--batch-wait-ms"),
    (["--max-image-bytes", "0"], {}, "--max-image-bytes"),
    (["--max-pixels", "0"], {}, "--max-pixels"),
    (["--capacity", "-1"], {}, "--capacity"),
    (["--batch-max", "4", "--frames-per-message", "5"], {}, "--frames-per-message"),
    ([], {"WORKER_FRAMES_PER_MESSAGE": "-1"}, "--frames-per-message"),
    (["--session-decode-ms", "-1"], {}, "--session-decode-ms"),
    ([], {"WORKER_SESSION_FRAMES": "0"}, "--session-frames"),
    (["--model", "pytorch:/x"], {}, "--model"),
    (["--model", "tflite:"], {}, "--model"),
    (["--model", "onnx:"], {}, "--model"),
    ([], {"WORKER_RUNTIME": "tensorrt"}, "--runtime"),
    (["--model", "onnx:/m.onnx", "--runtime", "litert"], {}, "--runtime litert cannot run"),
    (["--model", "keras", "--runtime", "litert"], {}, "--runtime litert cannot run"),
    ([], {"WORKER_OPENVINO_PRECISION": "fp8"}, "--openvino-precision"),
    (["--runtime-timing-s", "0"], {}, "--runtime-timing-s"),
    (["--calibration-dir", "/no/such/folder"], {}, "--calibration-dir"),
    (["--nats-url", "http://localhost:4222"], {}, "--nats-url"),
    (["--queue-group", "a.b"], {}, "--queue-group"),
    (["--name", "has space"], {}, "--name"),
    ([], {"WORKER_GPU_MEMORY_FRACTION": "half"}, "WORKER_GPU_MEMORY_FRACTION"),
    (["--gpu-memory-fraction", "1.5"], {}, "--gpu-memory-fraction"),
    (["--gpu-memory-fraction", "-0.1"], {}, "--gpu-memory-fraction"),
    ([], {"WORKER_GPU_MEMORY_FRACTION": "nan"}, "--gpu-memory-fraction"),
])
def test_invalid(argv: list[str], env: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        load_config(argv, env=env)


def test_model_and_runtime_from_env_and_flags(tmp_path: Path) -> None:
    env = {"WORKER_MODEL": "onnx:/m.onnx", "WORKER_RUNTIME": "OpenVINO", "WORKER_MODEL_CACHE_DIR": str(tmp_path),
           "WORKER_CALIBRATION_DIR": str(tmp_path), "WORKER_OPENVINO_PRECISION": "f32",
           "WORKER_RUNTIME_TIMING_S": "0.2", "WORKER_MODELS_DIR": f"/a{os.pathsep}/b"}
    cfg = load_config([], env=env)
    assert (cfg.model, cfg.runtime, cfg.model_cache_dir, cfg.calibration_dir) == (
        "onnx:/m.onnx", "openvino", str(tmp_path), str(tmp_path))
    assert (cfg.openvino_precision, cfg.runtime_timing_s, cfg.models_dirs) == (
        "f32", 0.2, ("/a", "/b"))
    cfg = load_config(["--model", "openvino:/m.xml", "--runtime", "auto"], env=env)
    assert (cfg.model, cfg.runtime) == ("openvino:/m.xml", "auto")


def test_default_folders_follow_the_environment() -> None:
    cfg = load_config([], env={"XDG_CACHE_HOME": "/vol/cache", "SHARED_TESTDATA": "/s/t"})
    assert cfg.model_cache_dir == "/vol/cache/webcamhub"
    assert cfg.models_dirs == ("models", "/s/t/models")


def test_bad_flag_exits_2() -> None:
    with pytest.raises(SystemExit) as info:
        load_config(["--top-k", "x"], env={})
    assert info.value.code == 2


def test_nats_credentials_and_tls_from_env(tmp_path: Path) -> None:
    seed, ca = tmp_path / "worker.nk", tmp_path / "ca.pem"
    seed.write_text("SU…")
    ca.write_text("pem")
    cfg = load_config([], env={"NATS_URL": "tls://nats:4222", "NATS_NKEY": str(seed),
                               "NATS_TLS_CA": str(ca)})
    assert (cfg.nats_nkey, cfg.tls_ca, cfg.uses_tls) == (str(seed), str(ca), True)
    assert cfg.credentials_text() == f"nkey seed file {seed}, TLS"
    cfg = load_config([], env={"NATS_USER": "worker", "NATS_PASSWORD": "s3cret"})
    assert (cfg.nats_user, cfg.nats_password) == ("worker", "s3cret")
    assert "s3cret" not in repr(cfg) and "s3cret" not in cfg.credentials_text()


@pytest.mark.parametrize("env,want", [
    ({"NATS_CREDS": "/etc/hosts", "NATS_NKEY": "/etc/hosts"}, "give one kind"),
    ({"NATS_URL": "nats://u:p@nats:4222", "NATS_TOKEN": "t"}, "give one kind"),
    ({"NATS_USER": "worker"}, "NATS_USER and NATS_PASSWORD go together"),
    ({"NATS_TLS_CERT": "/etc/hosts"}, "NATS_TLS_CERT and NATS_TLS_KEY go together"),
    ({"NATS_NKEY": "/nonexistent/worker.nk"}, "NATS_NKEY '/nonexistent/worker.nk' cannot be read"),
    ({"NATS_URL": "nats://u:s3cret@"}, "redacted@"),
])
def test_bad_nats_credentials_fail_at_start(env: dict[str, str], want: str) -> None:
    with pytest.raises(ConfigError, match=want) as err:
        load_config([], env=env)
    assert "s3cret" not in str(err.value)


def test_worker_variables_by_their_new_names() -> None:
    cfg = load_config([], env={"WORKER_MODEL": "tflite:/m.tflite", "WORKER_RUNTIME": "litert",
                               "WORKER_BATCH_MAX": "4", "WORKER_QUEUE_GROUP": "other"})
    assert (cfg.model, cfg.runtime, cfg.batch_max, cfg.queue_group) == (
        "tflite:/m.tflite", "litert", 4, "other")


def test_deprecated_names_still_work_with_one_warning_each(
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config_aliases, "_warned", set())
    env = {"MODEL": "tflite:/m.tflite", "BATCH_MAX": "4", "TORCH_CUDA_MODE": "eager"}
    cfg = load_config([], env=env)
    assert (cfg.model, cfg.batch_max) == ("tflite:/m.tflite", 4)
    assert config_aliases.env_value(env, "WORKER_TORCH_CUDA_MODE") == "eager"
    log = logging.getLogger("test")
    with caplog.at_level(logging.WARNING):
        assert config_aliases.warn_deprecated(env, log) == [
            "MODEL", "BATCH_MAX", "TORCH_CUDA_MODE"]
        assert config_aliases.warn_deprecated(env, log) == []  # once per process
    assert [r.getMessage() for r in caplog.records] == [
        f"{old} is deprecated: name it WORKER_{old} (the old name goes in the next release)"
        for old in ("MODEL", "BATCH_MAX", "TORCH_CUDA_MODE")]


def test_new_name_wins_over_the_deprecated_one(
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config_aliases, "_warned", set())
    env = {"TOP_K": "7", "WORKER_TOP_K": "2", "TORCH_CUDA_MODE": "eager",
           "WORKER_TORCH_CUDA_MODE": "graphs"}
    assert load_config([], env=env).top_k == 2
    assert config_aliases.env_value(env, "WORKER_TORCH_CUDA_MODE") == "graphs"
    with caplog.at_level(logging.WARNING):
        config_aliases.warn_deprecated(env, logging.getLogger("test"))
    assert "TOP_K is deprecated and ignored: WORKER_TOP_K is set too and wins" in caplog.text


def test_shared_variables_keep_their_names() -> None:
    # NATS_*, LOG_LEVEL and OTEL_* are the hub's too: no WORKER_ name, nothing deprecated.
    assert not {"NATS_URL", "LOG_LEVEL", "NATS_CREDS"} & set(
        config_aliases.DEPRECATED_NAMES.values())
    cfg = load_config([], env={"NATS_URL": "nats://n:4222", "LOG_LEVEL": "warn"})
    assert (cfg.nats_url, cfg.log_level) == ("nats://n:4222", "warning")


def test_the_worker_warns_about_a_deprecated_name(tmp_path: Path) -> None:
    # The real process: the warning is in its log (after logging is set up), once.
    env = {**os.environ, "BATCH_MAX": "lots", "WORKER_BATCH_MAX": "2",
           "WORKER_MODEL": f"tflite:{tmp_path / 'missing.tflite'}", "LOG_LEVEL": "warn"}
    env.pop("WORKER_RUNTIME", None)
    proc = subprocess.run([sys.executable, "-m", "inference_server"], env=env, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr  # the model is missing; the config is fine
    assert proc.stderr.count("BATCH_MAX is deprecated and ignored") == 1, proc.stderr


@pytest.mark.parametrize("argv, env, frames", [
    ([], {}, 8),  # batch-max's default: more would wait for a second model call
    (["--batch-max", "4"], {}, 4),
    ([], {"WORKER_FRAMES_PER_MESSAGE": "1"}, 1),  # single frames only: hubs send no batches
    (["--batch-max", "16", "--frames-per-message", "6"], {}, 6),
])
def test_frames_per_message_defaults_to_the_batch(argv: list[str], env: dict[str, str],
                                                  frames: int) -> None:
    assert load_config(argv, env=env).message_frames == frames

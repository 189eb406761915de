"""What an operator sees of a worker: its Prometheus metrics (catalogued in
docs/metrics.md), its NATS micro service (ping, info, stats) and its spans."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nats
import numpy as np
import pytest
from nats.micro.service import ServiceVerb, control_subject
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from inference_server.wire import contract as c
from inference_server.serving.batcher import ATTR_BATCH_SIZE, SPAN_BATCH, Batcher
from inference_server.config import ConfigError, load_config
from inference_server.ops.metrics import OUTCOMES, WorkerMetrics, is_loopback, split_addr

from .procs import QUANT_MODEL_NAME, NatsServer, WorkerProcess, free_port, quant_subject

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKER = "obs-worker"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, keyed by name and sorted labels."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_catalog_lists_every_worker_metric() -> None:
    """docs/metrics.md lists exactly the worker_* metrics the worker registers."""
    doc = (REPO_ROOT / "docs" / "metrics.md").read_text()
    documented = set(re.findall(r"^\| `(worker_[a-z_]+)` \|", doc, re.M))
    registered = {m.name for m in WorkerMetrics().registry.collect()
                  if m.name.startswith("worker_")}
    # prometheus_client names a counter family without its _total suffix, an info
    # family without its _info suffix.
    suffix = {"worker_frames": "_total", "worker_runtime": "_info"}
    registered = {n + suffix.get(n, "") for n in registered}
    assert documented == registered


def test_metrics_address_is_off_by_default_and_checked() -> None:
    assert load_config([], {}).metrics_addr == ""
    assert load_config([], {"WORKER_METRICS_ADDR": "127.0.0.1:9101"}).metrics_addr == (
        "127.0.0.1:9101")
    with pytest.raises(ConfigError, match="metrics-addr"):
        load_config(["--metrics-addr", "9101"], {})
    assert split_addr(":9101") == ("0.0.0.0", 9101)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and not is_loopback("0.0.0.0")


def test_tracing_follows_the_standard_variables() -> None:
    assert not load_config([], {}).tracing
    on = load_config([], {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    assert on.tracing and on.otlp_protocol == "http/protobuf"
    assert load_config([], {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4317",
                            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}).otlp_protocol == "grpc"
    assert not load_config([], {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x",
                                "OTEL_SDK_DISABLED": "true"}).tracing
    with pytest.raises(ConfigError, match="OTEL_EXPORTER_OTLP_PROTOCOL"):
        load_config([], {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x",
                         "OTEL_EXPORTER_OTLP_PROTOCOL": "pigeon"})


async def test_one_batch_span_links_its_frames_and_is_counted() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    metrics = WorkerMetrics()
    frames = [tracer.start_span(f"frame {i}") for i in range(3)]
    model = lambda batch: np.zeros((len(batch), 4), np.float32)  # noqa: E731
    async with Batcher(model, batch_max=8, wait_ms=100, metrics=metrics,
                       tracer=tracer) as batcher:
        outs = await asyncio.gather(*[
            batcher.submit(np.zeros((2, 2, 3), np.uint8), f.get_span_context()) for f in frames])
    assert [o.batch for o in outs] == [3, 3, 3]
    assert all(o.submitted_ns <= o.started_ns <= o.ended_ns for o in outs)
    (batch,) = [s for s in exporter.get_finished_spans() if s.name == SPAN_BATCH]
    assert batch.attributes[ATTR_BATCH_SIZE] == 3
    assert batch.parent is None  # a trace of its own, linked to each frame's
    assert {link.context.span_id for link in batch.links} == {
        f.get_span_context().span_id for f in frames}
    r = metrics.registry
    assert r.get_sample_value("worker_batch_size_count") == 1
    assert r.get_sample_value("worker_batch_size_sum") == 3
    assert r.get_sample_value("worker_queue_wait_seconds_count") == 3
    assert r.get_sample_value("worker_inference_seconds_count") == 1


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory,
           quant_model_path: Path) -> Iterator[tuple[NatsServer, int]]:
    srv = NatsServer(tmp_path_factory.mktemp("nats"))
    port = free_port()
    proc = WorkerProcess(tmp_path_factory.mktemp("worker"), WORKER,
                         "--nats-url", srv.url, "--model", f"tflite:{quant_model_path}",
                         "--metrics-addr", f"127.0.0.1:{port}",
                         # Chosen by timing (briefly): the figures reach /metrics and info.
                         env={"WORKER_RUNTIME": "auto", "WORKER_RUNTIME_TIMING_S": "0.05"})
    try:
        proc.wait_ready(srv.url)
        yield srv, port
    finally:
        proc.stop()
        srv.stop()


async def test_frames_by_outcome_in_metrics_and_micro_stats(
        served: tuple[NatsServer, int], image_bytes: dict[str, bytes]) -> None:
    srv, port = served
    nc = await nats.connect(srv.url)
    try:
        for seq, body in enumerate([image_bytes["cat.bmp"], image_bytes["parrot.jpg"],
                                    b"not an image"], start=1):
            reply = await nc.request(quant_subject(c.KIND_CLI, "obs"), body, timeout=20,
                                     headers={c.HEADER_FRAME_SEQ: str(seq)})
            want = c.TYPE_ERROR if seq == 3 else c.TYPE_RESULT
            assert json.loads(reply.data)["type"] == want
        info = json.loads((await nc.request(control_subject(ServiceVerb.INFO, c.MICRO_SERVICE), b"",
                                            timeout=5)).data)
        stats = json.loads((await nc.request(control_subject(ServiceVerb.STATS, c.MICRO_SERVICE), b"",
                                             timeout=5)).data)
    finally:
        await nc.close()

    text = await asyncio.to_thread(
        lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10)
        .read().decode())
    got = samples(text)
    frames = {o: got[("worker_frames_total", (("outcome", o),))] for o in OUTCOMES}
    assert frames == {"result": 2, "refused": 1, "shed": 0, "expired": 0, "failed": 0}
    assert got[("worker_decode_seconds_count", ())] == 2  # the refused frame never decoded
    assert got[("worker_queue_wait_seconds_count", ())] == 2
    assert got[("worker_batch_size_sum", ())] == 2
    assert got[("worker_inference_seconds_count", ())] == got[("worker_batch_size_count", ())]
    assert ("process_resident_memory_bytes", ()) in got
    meta = info["endpoints"][0]["metadata"]  # who runs a model is its endpoint's (issue 22)
    assert meta["runtime_choice"] == "timed" and meta["runtime"] in ("litert", "openvino")
    for runtime in ("litert", "openvino"):
        assert got[("worker_runtime_images_per_second", (("runtime", runtime),))] > 0
        assert f"{runtime}=" in meta["runtime_images_per_s"]
    (runtime_info,) = [k for k in got if k[0] == "worker_runtime_info"]
    assert dict(runtime_info[1])["runtime"] == meta["runtime"]
    assert dict(runtime_info[1])["choice"] == "timed"

    assert info["name"] == c.MICRO_SERVICE and info["metadata"]["worker"] == WORKER
    (endpoint,) = info["endpoints"]
    assert (endpoint["name"], endpoint["subject"], endpoint["queue_group"]) == (
        c.endpoint_name(QUANT_MODEL_NAME, 1), c.endpoint_subject(QUANT_MODEL_NAME, 1),
        c.QUEUE_GROUP)
    (endpoint,) = stats["endpoints"]
    assert endpoint["num_requests"] == 3 and endpoint["num_errors"] == 1
    assert endpoint["data"] == {"frames": 3, "result": 2, "refused": 1, "shed": 0,
                                "expired": 0, "failed": 0, "errors": 1}

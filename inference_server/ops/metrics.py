"""The worker's Prometheus metrics (docs/metrics.md), in a registry of its own and
served over HTTP only when an address is given (--metrics-addr), with the probes'
/healthz and /readyz beside them (health.py)."""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
from dataclasses import dataclass, field
from threading import Thread
from typing import Callable, Iterable, Literal, Mapping
from wsgiref.simple_server import WSGIRequestHandler, make_server
from wsgiref.types import StartResponse, WSGIEnvironment

from prometheus_client import (CollectorRegistry, Counter, Gauge, GCCollector, Histogram, Info,
                               PlatformCollector, ProcessCollector, make_wsgi_app)
from prometheus_client.exposition import ThreadingWSGIServer

from .health import Health
from .log import log_fields

log = logging.getLogger("inference_server.ops.metrics")

# What became of a frame: a result, refused (the image could not be classified), shed
# (its session was over its share: rate_limited, not decoded), expired (its deadline
# passed before inference), failed (the model or a bug).
Outcome = Literal["result", "refused", "shed", "expired", "failed"]
OUTCOMES: tuple[Outcome, ...] = ("result", "refused", "shed", "expired", "failed")

# Seconds: a decode of a webcam JPEG takes ~1-5 ms, a MobileNetV2 batch 5-200 ms on
# CPU; the top buckets catch decode bombs and overloaded workers.
_TIME_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                 2.5, 5.0)
# Frames per model call: powers of two up to the largest --batch-max (256).
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


@dataclass
class WorkerMetrics:
    """The worker's instruments. Each WorkerMetrics has its own registry, so tests
    (and several workers in one process) never share counts."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        self.frames = Counter("worker_frames", "Frames answered, by outcome.", ["outcome"],
                              registry=r)
        for outcome in OUTCOMES:
            self.frames.labels(outcome)  # present at 0 before the first frame
        self.batch_size = Histogram("worker_batch_size", "Frames per model call.",
                                    buckets=_BATCH_BUCKETS, registry=r)
        self.queue_wait = Histogram(
            "worker_queue_wait_seconds",
            "Time a decoded frame waited for its batch's model call to start.",
            buckets=_TIME_BUCKETS, registry=r)
        self.decode = Histogram("worker_decode_seconds",
                                "Time to decode, crop and resize one frame.",
                                buckets=_TIME_BUCKETS, registry=r)
        self.inference = Histogram("worker_inference_seconds",
                                   "Wall time of one model call (a whole batch).",
                                   buckets=_TIME_BUCKETS, registry=r)
        # The capacity signal for an autoscaler: held / capacity summed over the
        # workers is how full the fleet is (deploy/helm, docs/scaling.md).
        self.frames_held = Gauge("worker_frames_held",
                                 "Frames this worker holds now: taken, not yet answered.",
                                 registry=r)
        self.frames_capacity = Gauge(
            "worker_frames_capacity",
            "Frames this worker holds at most (--capacity): the most credit it has in "
            "the queue group; 0 while it is not taking frames.", registry=r)

        self.runtime = Info("worker_runtime", "Who runs the model: the runtime, how it was "
                            "chosen (pinned, only, timed, cached) and its precision.",
                            registry=r)
        self.runtime_rate = Gauge(
            "worker_runtime_images_per_second",
            "Images/s of each runtime timed by WORKER_RUNTIME=auto for this model on this CPU "
            "(full batches), now or at the start that chose it.", ["runtime"], registry=r)

    def set_runtime(self, runtime: str, how: str, precision: str,
                    figures: Mapping[str, float]) -> None:
        self.runtime.info({"runtime": runtime, "choice": how, "precision": precision})
        for name, rate in figures.items():
            self.runtime_rate.labels(name).set(rate)

    def count(self, outcome: Outcome) -> None:
        self.frames.labels(outcome).inc()

    def counted(self, outcome: Outcome) -> int:
        value = self.registry.get_sample_value("worker_frames_total", {"outcome": outcome})
        return int(value or 0)


class MetricsServer:
    """/metrics, /healthz and /readyz over HTTP on `addr` ("host:port"), in a thread of
    its own. Without `health`, /healthz and /readyz answer 404."""

    def __init__(self, metrics: WorkerMetrics, addr: str, health: Health | None = None) -> None:
        self._app = probe_app(make_wsgi_app(metrics.registry), health)
        self.host, self.port = split_addr(addr)
        self._server: ThreadingWSGIServer | None = None
        self._thread: Thread | None = None

    def __enter__(self) -> "MetricsServer":
        server_class = _IPv6Server if ":" in self.host else ThreadingWSGIServer
        self._server = make_server(self.host, self.port, self._app, server_class,
                                   _QuietHandler)
        self._thread = Thread(target=self._server.serve_forever, name="metrics", daemon=True)
        self._thread.start()
        self.port = self._server.server_port  # port 0: the one the OS picked
        addr = f"{self.host}:{self.port}"
        if is_loopback(self.host):
            log_fields(log, logging.INFO, "metrics served", addr=addr)
        else:
            log_fields(log, logging.WARNING, "metrics served beyond this machine", addr=addr)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


WSGIApp = Callable[[WSGIEnvironment, StartResponse], Iterable[bytes]]


def probe_app(metrics_app: WSGIApp, health: Health | None) -> WSGIApp:
    """/healthz and /readyz from `health` (200, or 503 with the reason, as JSON);
    every other path is the metrics exposition, as prometheus_client serves it."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path not in ("/healthz", "/readyz"):
            return metrics_app(environ, start_response)
        if health is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"no probes here\n"]
        reason = health.not_alive_reason() if path == "/healthz" else health.not_ready_reason()
        if reason is None:
            status, body = "200 OK", {"status": "ok" if path == "/healthz" else "ready"}
        else:
            status = "503 Service Unavailable"
            body = {"status": "not alive" if path == "/healthz" else "not ready",
                    "reason": reason}
        data = json.dumps(body).encode() + b"\n"
        start_response(status, [("Content-Type", "application/json"),
                                ("Content-Length", str(len(data))),
                                ("Cache-Control", "no-store")])
        return [data]

    return app


class _IPv6Server(ThreadingWSGIServer):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    """No line on stderr per request: probes and scrapes come every few seconds."""

    def log_message(self, format: str, *args: object) -> None:
        pass


def split_addr(addr: str) -> tuple[str, int]:
    """("127.0.0.1", 9101) from "127.0.0.1:9101"; an empty host means every interface.
    Raises ValueError with what is wrong."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{addr!r} is not host:port (e.g. 127.0.0.1:9101)")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

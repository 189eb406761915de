"""OpenTelemetry tracing for the worker: on when the standard OTEL_* variables ask
for an exporter, a no-op tracer otherwise (nothing recorded, nothing sent).

The SDK reads the rest of the standard variables itself: OTEL_SERVICE_NAME and
OTEL_RESOURCE_ATTRIBUTES (Resource.create), OTEL_TRACES_SAMPLER[_ARG]
(TracerProvider), OTEL_BSP_* (BatchSpanProcessor), OTEL_EXPORTER_OTLP_[TRACES_]*
(the exporters). OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL picks the exporter:
http/protobuf by default, as the specification says, or grpc.
"""

from __future__ import annotations

import logging
from typing import Mapping

from opentelemetry.context import Context
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import NoOpTracerProvider, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from .log import log_fields

log = logging.getLogger("inference_server.ops.tracing")

DEFAULT_SERVICE_NAME = "inference-worker"
INSTRUMENTATION = "inference_server"
# W3C trace context only: the contract's traceparent header (docs/asyncapi.yaml).
PROPAGATOR: TextMapPropagator = TraceContextTextMapPropagator()

_ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


OTLP_PROTOCOLS = ("http/protobuf", "grpc")


def tracing_wanted(env: Mapping[str, str]) -> bool:
    """Tracing is on when an OTLP endpoint is set or OTEL_TRACES_EXPORTER=otlp, and
    not switched off (OTEL_SDK_DISABLED=true, OTEL_TRACES_EXPORTER=none)."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none":
        return False
    return exporter == "otlp" or any(env.get(k, "").strip() for k in _ENDPOINT_VARS)


def otlp_protocol(env: Mapping[str, str]) -> str:
    return (env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf").strip().lower()


def _exporter(protocol: str) -> SpanExporter:
    """The OTLP exporter for the protocol (checked by config.py); each reads its
    OTEL_EXPORTER_OTLP_* variables itself."""
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        return OTLPSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HTTPSpanExporter)
    return HTTPSpanExporter()


class Tracing:
    """The worker's tracer and what must be flushed at exit."""

    def __init__(self, enabled: bool, protocol: str, worker: str) -> None:
        self.enabled = enabled
        self._provider: TracerProvider | None = None
        if not self.enabled:
            self.tracer: Tracer = NoOpTracerProvider().get_tracer(INSTRUMENTATION)
            return
        resource = Resource.create({"service.instance.id": worker})
        if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
            # Neither OTEL_SERVICE_NAME nor OTEL_RESOURCE_ATTRIBUTES named the service.
            resource = resource.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
        self._provider = TracerProvider(resource=resource)
        self.add_processor(BatchSpanProcessor(_exporter(protocol)))
        self.tracer = self._provider.get_tracer(INSTRUMENTATION)
        log_fields(log, logging.INFO, "tracing on", protocol=protocol,
                   service=resource.attributes.get(SERVICE_NAME))

    def add_processor(self, processor: SpanProcessor) -> None:
        assert self._provider is not None
        self._provider.add_span_processor(processor)

    def shutdown(self) -> None:
        """Export what is still buffered (bounded by the processor's own timeouts)."""
        if self._provider is not None:
            self._provider.shutdown()


def extract(headers: Mapping[str, str] | None) -> Context | None:
    """The trace context a frame's NATS headers carry (traceparent), or None."""
    if not headers:
        return None
    # nats.go canonicalises header names (Traceparent); the propagator wants lower case.
    carrier = {k.lower(): v for k, v in headers.items()}
    if "traceparent" not in carrier:
        return None
    return PROPAGATOR.extract(carrier)

package hub

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// instrumentationName names the hub's tracer.
const instrumentationName = "github.com/webcamhub/webcamhub/hub"

// defaultServiceName is the hub's service.name unless OTEL_SERVICE_NAME or
// OTEL_RESOURCE_ATTRIBUTES say otherwise.
const defaultServiceName = "webcam-hub"

// tracingFlushTimeout bounds exporting the spans still buffered at exit: an
// OTLP export is one HTTP or gRPC call; a collector that does not answer in
// this time is not waited on any longer.
const tracingFlushTimeout = 5 * time.Second

// propagator carries W3C trace context (the contract's traceparent header)
// in and out of NATS messages and HTTP requests. It is used whether or not
// the hub records spans, so a caller's trace context still reaches the worker.
var propagator propagation.TextMapPropagator = propagation.TraceContext{}

// tracingWanted reports whether the standard OpenTelemetry variables ask for
// traces: an OTLP endpoint, or OTEL_TRACES_EXPORTER naming an exporter; and
// not OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none.
func tracingWanted(getenv func(string) string) bool {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return false
	}
	switch exporter := strings.ToLower(strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER"))); exporter {
	case "none":
		return false
	case "":
		return strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_ENDPOINT")) != "" ||
			strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) != ""
	default:
		return true
	}
}

// startTracing installs the process's tracer provider: the OpenTelemetry SDK
// exporting over OTLP when cfg.Tracing, a no-op provider otherwise (no span
// is recorded, nothing allocated per frame). The SDK itself reads the other
// standard variables: OTEL_EXPORTER_OTLP_* and the protocol (http/protobuf
// unless grpc, otlpExporter), OTEL_TRACES_SAMPLER[_ARG], OTEL_BSP_*,
// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES. The returned function
// flushes and stops it.
func startTracing(ctx context.Context, cfg Config) (shutdown func(context.Context) error, err error) {
	otel.SetTextMapPropagator(propagator)
	if !cfg.Tracing {
		otel.SetTracerProvider(noop.NewTracerProvider())
		return func(context.Context) error { return nil }, nil
	}
	exporter, err := otlpExporter(ctx, os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("%w: OpenTelemetry trace exporter: %w", ErrInvalidConfig, err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(defaultServiceName)),
		resource.WithFromEnv(), // after the default, so the environment wins
		resource.WithTelemetrySDK(),
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("%w: OpenTelemetry resource: %w", ErrInvalidConfig, err)
	}
	provider := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	otel.SetTracerProvider(provider)
	return provider.Shutdown, nil
}

// otlpExporter is the OTLP trace exporter the specification's variables ask
// for: OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL http/protobuf (the default) or
// grpc. Each exporter reads its own OTEL_EXPORTER_OTLP_[TRACES_]* variables
// (endpoint, headers, timeout, compression, certificates).
func otlpExporter(ctx context.Context, getenv func(string) string) (sdktrace.SpanExporter, error) {
	if e := strings.ToLower(strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER"))); e != "" && e != "otlp" {
		return nil, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: the hub exports traces with otlp only", e)
	}
	protocol := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"))
	if protocol == "" {
		protocol = strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_PROTOCOL"))
	}
	switch protocol {
	case "", "http/protobuf":
		return otlptracehttp.New(ctx)
	case "grpc":
		return otlptracegrpc.New(ctx)
	default:
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%q: want http/protobuf or grpc", protocol)
	}
}

// tracer is the hub's tracer from the process's provider.
func tracer() trace.Tracer { return otel.GetTracerProvider().Tracer(instrumentationName) }

// natsHeaderCarrier lets the propagator read and write NATS message headers
// by their exact names (nats.Header is case-sensitive, unlike http.Header).
type natsHeaderCarrier nats.Header

func (c natsHeaderCarrier) Get(key string) string { return nats.Header(c).Get(key) }
func (c natsHeaderCarrier) Set(key, value string) { nats.Header(c).Set(key, value) }
func (c natsHeaderCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

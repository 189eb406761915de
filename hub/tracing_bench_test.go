package hub

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/webcamhub/webcamhub/internal/testkit/otlptest"
)

// What tracing costs the hub (docs/benchmarks.md): the round trip of
// BenchmarkHubRoundTrip with tracing off (the no-op provider, as when no
// OTEL_* variable is set) and on at 100 % sampling, every span exported
// over OTLP/HTTP to a real receiver through the SDK's batch processor.
// Run with -count N: the two alternate, so both see the same machine.
func BenchmarkHubRoundTripTracing(b *testing.B) {
	b.Run("off", func(b *testing.B) {
		useTracerProvider(b, noop.NewTracerProvider())
		benchRoundTrip(b)
	})
	b.Run("on-100pct", func(b *testing.B) {
		tp := exportingProvider(b)
		useTracerProvider(b, tp)
		benchRoundTrip(b)
		_ = tp.Shutdown(context.Background())
	})
}

// exportingProvider is the SDK as the hub runs it with tracing on: always
// sample, batch processor, OTLP/HTTP exporter, here to a test receiver.
func exportingProvider(b *testing.B) *sdktrace.TracerProvider {
	collector := otlptest.Start(b)
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(collector.URL+otlptest.TracesPath))
	if err != nil {
		b.Fatal(err)
	}
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithSampler(sdktrace.AlwaysSample()))
}

// The tracing work of one frame alone: its span, the request span, the
// trace context into NATS headers, the end. Off, it must be a few
// nanoseconds and allocate nothing.
func BenchmarkFrameTracingWork(b *testing.B) {
	for _, tc := range []struct {
		name string
		make func(*testing.B) (trace.TracerProvider, func())
	}{
		{"off", func(*testing.B) (trace.TracerProvider, func()) { return noop.NewTracerProvider(), func() {} }},
		{"on-100pct", func(b *testing.B) (trace.TracerProvider, func()) {
			tp := exportingProvider(b)
			return tp, func() { _ = tp.Shutdown(context.Background()) }
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			tp, stop := tc.make(b)
			defer stop()
			tr := tp.Tracer(instrumentationName)
			m := NewMetrics()
			d := newDispatcher(nil, time.Second, tr, m) // its request span alone, no workers
			h := make(natsHeaderCarrier, 4)
			f := FrameRequest{Kind: "live", Session: "s", Seq: 1}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				span := startFrameSpan(context.Background(), tr, f.Kind, f.Session, int64(i), time.Now())
				ctx, req := d.startRequest(span.context(context.Background()), f)
				clear(h)
				propagator.Inject(ctx, h) // as natsBroker.requestOnce does
				d.endRequest(req, nil)
				span.end(OutcomeResult, "")
			}
		})
	}
}

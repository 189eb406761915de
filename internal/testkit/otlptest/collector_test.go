package otlptest

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// The collector decodes what the stock Go SDK exports over OTLP/HTTP: names,
// ids, parent links, links and attributes.
func TestCollectorReceivesTheSDKsExport(t *testing.T) {
	t.Run("http", func(t *testing.T) {
		c := Start(t)
		exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(c.URL+TracesPath))
		if err != nil {
			t.Fatal(err)
		}
		checkExport(t, c, exp)
	})
	t.Run("grpc", func(t *testing.T) {
		c := StartGRPC(t)
		exp, err := otlptracegrpc.New(context.Background(), otlptracegrpc.WithEndpointURL(c.URL), otlptracegrpc.WithInsecure())
		if err != nil {
			t.Fatal(err)
		}
		checkExport(t, c, exp)
	})
}

func checkExport(t *testing.T, c *Collector, exp sdktrace.SpanExporter) {
	ctx := context.Background()
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "probe"))))
	tr := tp.Tracer("test")
	pctx, parent := tr.Start(ctx, "parent", trace.WithAttributes(attribute.Int64("seq", 7)))
	_, child := tr.Start(pctx, "child", trace.WithLinks(trace.Link{SpanContext: parent.SpanContext()}))
	child.End()
	parent.End()
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	spans := c.WaitFor(t, 10*time.Second, "two spans", func(s []Span) bool { return len(s) == 2 })
	byName := map[string]Span{}
	for _, s := range spans {
		byName[s.Name] = s
	}
	p, ch := byName["parent"], byName["child"]
	if p.Service != "probe" || p.Attributes["seq"] != "7" || p.ParentSpanID != "" {
		t.Fatalf("parent decoded as %+v", p)
	}
	if ch.TraceID != p.TraceID || ch.ParentSpanID != p.SpanID {
		t.Fatalf("child %+v is not a child of parent %+v", ch, p)
	}
	if len(ch.Links) != 1 || ch.Links[0].SpanID != p.SpanID {
		t.Fatalf("child links %+v, want the parent", ch.Links)
	}
}

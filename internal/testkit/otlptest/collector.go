// Package otlptest is a real OTLP trace receiver for tests, over HTTP
// (Start) or gRPC (StartGRPC): processes under test export to it with their
// stock OpenTelemetry SDKs (OTEL_EXPORTER_OTLP_ENDPOINT=c.URL), and the test
// reads back the spans, decoded from the protobuf ExportTraceServiceRequest
// of the specification.
package otlptest

import (
	"compress/gzip"
	"context"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// TracesPath is where OTLP/HTTP exporters send traces (the specification's default).
const TracesPath = "/v1/traces"

// maxBody bounds one export request; SDK batches are far smaller.
const maxBody = 16 << 20

// Span is a received span with what a test checks, ids in lower-case hex.
type Span struct {
	Service      string // the resource's service.name
	Name         string
	Kind         tracepb.Span_SpanKind
	TraceID      string
	SpanID       string
	ParentSpanID string // empty for a root span
	Attributes   map[string]string
	Links        []Link
	Start, End   time.Time
	Status       tracepb.Status_StatusCode
}

// Link is a link of a span to another span.
type Link struct{ TraceID, SpanID string }

// Collector receives OTLP/HTTP trace exports until the test ends.
type Collector struct {
	URL string // base URL for OTEL_EXPORTER_OTLP_ENDPOINT

	mu      sync.Mutex
	spans   []Span
	exports int
	changed chan struct{} // closed and replaced whenever spans arrive
}

// Start runs a collector on a free local port.
func Start(t testing.TB) *Collector {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &Collector{URL: "http://" + ln.Addr().String(), changed: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+TracesPath, c.receive)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return c
}

func (c *Collector) receive(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = http.MaxBytesReader(w, r.Body, maxBody)
	if r.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		defer gz.Close()
		body = gz
	}
	data, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(data, &req); err != nil {
		http.Error(w, "not an ExportTraceServiceRequest: "+err.Error(), http.StatusBadRequest)
		return
	}
	c.add(&req)
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// StartGRPC runs a collector that takes OTLP over gRPC on a free local port.
func StartGRPC(t testing.TB) *Collector {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &Collector{URL: "http://" + ln.Addr().String(), changed: make(chan struct{})}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, grpcReceiver{c: c})
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return c
}

type grpcReceiver struct {
	coltracepb.UnimplementedTraceServiceServer
	c *Collector
}

func (g grpcReceiver) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	g.c.add(req)
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// add keeps the spans of one export.
func (c *Collector) add(req *coltracepb.ExportTraceServiceRequest) {
	var got []Span
	for _, rs := range req.GetResourceSpans() {
		service := attributes(rs.GetResource().GetAttributes())["service.name"]
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				got = append(got, convert(service, s))
			}
		}
	}
	c.mu.Lock()
	c.spans = append(c.spans, got...)
	c.exports++
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

func convert(service string, s *tracepb.Span) Span {
	span := Span{
		Service:    service,
		Name:       s.GetName(),
		Kind:       s.GetKind(),
		TraceID:    hex.EncodeToString(s.GetTraceId()),
		SpanID:     hex.EncodeToString(s.GetSpanId()),
		Attributes: attributes(s.GetAttributes()),
		Start:      time.Unix(0, int64(s.GetStartTimeUnixNano())),
		End:        time.Unix(0, int64(s.GetEndTimeUnixNano())),
		Status:     s.GetStatus().GetCode(),
	}
	if p := s.GetParentSpanId(); len(p) > 0 {
		span.ParentSpanID = hex.EncodeToString(p)
	}
	for _, l := range s.GetLinks() {
		span.Links = append(span.Links, Link{TraceID: hex.EncodeToString(l.GetTraceId()), SpanID: hex.EncodeToString(l.GetSpanId())})
	}
	return span
}

// attributes flattens OTLP attributes to strings (ints and bools in their
// usual text form), which is what tests compare.
func attributes(kvs []*commonpb.KeyValue) map[string]string {
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		out[kv.GetKey()] = text(kv.GetValue())
	}
	return out
}

func text(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return strconv.FormatInt(x.IntValue, 10)
	case *commonpb.AnyValue_BoolValue:
		if x.BoolValue {
			return "true"
		}
		return "false"
	default:
		return v.String()
	}
}

// Spans returns every span received so far.
func (c *Collector) Spans() []Span {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Span(nil), c.spans...)
}

// WaitFor returns the spans once done(spans) is true, or fails the test
// after wait.
func (c *Collector) WaitFor(t testing.TB, wait time.Duration, what string, done func([]Span) bool) []Span {
	t.Helper()
	deadline := time.After(wait)
	for {
		c.mu.Lock()
		spans := append([]Span(nil), c.spans...)
		changed := c.changed
		c.mu.Unlock()
		if done(spans) {
			return spans
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("collector: %s not received within %v; got %d spans: %v", what, wait, len(spans), names(spans))
			return nil
		}
	}
}

func names(spans []Span) []string {
	out := make([]string, len(spans))
	for i, s := range spans {
		out[i] = s.Service + "/" + s.Name
	}
	return out
}

package hub

import (
	"net/http"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/webcamhub/webcamhub/contract"
	"github.com/webcamhub/webcamhub/internal/testkit/testworker"
)

// With the SDK recording, a frame is a span from receipt to answer with a
// CLIENT child for its NATS request, and the worker gets that child's
// context in the traceparent header.
func TestFrameSpanAndTraceparentToTheWorker(t *testing.T) {
	recorder := tracetest.NewSpanRecorder()
	useTracerProvider(t, sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder)))
	ns := startNATS(t, 0)
	w := startWorker(t, ns.ClientURL(), testworker.Options{})
	_, base := startHub(t, ns.ClientURL(), nil)
	c := dial(t, base, "", nil)
	session := c.Welcome()
	c.SendFrame(fakeJPEG)
	if m := c.Next(); m.Type != contract.TypeResult {
		t.Fatalf("want a result, got %+v", m)
	}
	var frame, req sdktrace.ReadOnlySpan
	waitFor(t, "the frame's spans", func() bool {
		for _, s := range recorder.Ended() {
			switch {
			case s.Name() == spanFrame:
				frame = s
			case strings.HasPrefix(s.Name(), "request "):
				req = s
			}
		}
		return frame != nil && req != nil
	})
	attrs := map[string]string{}
	for _, kv := range frame.Attributes() {
		attrs[string(kv.Key)] = kv.Value.Emit()
	}
	if attrs["session.id"] != session || attrs["frame.seq"] != "1" || attrs["frame.kind"] != contract.KindLive || attrs["frame.outcome"] != OutcomeResult {
		t.Errorf("frame span attributes %v", attrs)
	}
	if req.Parent().SpanID() != frame.SpanContext().SpanID() || req.SpanKind() != trace.SpanKindClient {
		t.Errorf("request span %q (kind %v) is not the frame span's CLIENT child", req.Name(), req.SpanKind())
	}
	want := "00-" + req.SpanContext().TraceID().String() + "-" + req.SpanContext().SpanID().String() + "-01"
	if got := w.LastTraceparent(); got != want {
		t.Errorf("worker got traceparent %q, want the request span's %q", got, want)
	}
}

// With tracing off (the no-op provider) no frame carries a traceparent,
// but an analyze API caller's own trace context still reaches the worker.
func TestTracingOffSendsNoTraceparentButPassesTheCallers(t *testing.T) {
	useTracerProvider(t, noop.NewTracerProvider())
	ns := startNATS(t, 0)
	w := startWorker(t, ns.ClientURL(), testworker.Options{})
	_, base := startHub(t, ns.ClientURL(), nil)
	c := dial(t, base, "", nil)
	c.Welcome()
	c.SendFrame(fakeJPEG)
	if m := c.Next(); m.Type != contract.TypeResult {
		t.Fatalf("want a result, got %+v", m)
	}
	if n := w.Traced(); n != 0 {
		t.Fatalf("%d frames carried a traceparent with tracing off", n)
	}
	const callers = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/analyze", strings.NewReader(analyzeBody(fakeJPEG)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(contract.HeaderTraceparent, callers)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("analyze: status %d", resp.StatusCode)
	}
	if got := w.LastTraceparent(); got != callers {
		t.Fatalf("worker got traceparent %q, want the caller's %q", got, callers)
	}
}

//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/webcamhub/webcamhub/contract"
	"github.com/webcamhub/webcamhub/internal/testkit"
	"github.com/webcamhub/webcamhub/internal/testkit/otlptest"
)

// otelEnv points a process's OpenTelemetry SDK at the test's collector,
// with a short batch delay so spans arrive while the test waits.
func otelEnv(c *otlptest.Collector, protocol, service string) []string {
	return []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + c.URL,
		"OTEL_EXPORTER_OTLP_PROTOCOL=" + protocol,
		"OTEL_TRACES_SAMPLER=always_on",
		"OTEL_BSP_SCHEDULE_DELAY=100",
		"OTEL_SERVICE_NAME=" + service,
	}
}

// One frame through the real hub and the real worker is one trace in a real
// OTLP collector: the hub's frame span, its NATS request, the worker's frame
// span under that request, and decode, queue wait and inference under it;
// the batch span links to the worker's frame span. The metrics of both
// processes count the frames by outcome, and the nats CLI lists the
// workers' micro service.
func TestOneTraceMetricsAndMicroServiceAcrossHubAndWorker(t *testing.T) {
	collector := otlptest.Start(t)
	metricsPort := testkit.FreePort(t)
	hub := startTracedSystem(t, collector, "http/protobuf", "--metrics-addr", "127.0.0.1:"+strconv.Itoa(metricsPort))

	c := dialHub(t, hub.base, "")
	session := c.Welcome()
	c.SendFrame(readImage(t, "cat.bmp"))
	if m := c.Next(); m.Type != contract.TypeResult || m.Top() != "Egyptian cat" {
		t.Fatalf("cat.bmp: %+v", m)
	}
	c.SendFrame([]byte("\xFF\xD8\xFF\xE0 but then garbage")) // the worker refuses it
	if m := c.Next(); m.Type != contract.TypeError || m.Code != contract.CodeBadImage {
		t.Fatalf("garbage: %+v, want bad_image", m)
	}

	// ---- the trace of frame 1 ----
	spans, hubFrame, workerFrame := frameTrace(t, collector, session, 1)
	if workerFrame.TraceID != hubFrame.TraceID || workerFrame.Attributes["worker.name"] != "worker-traced" || workerFrame.Attributes["frame.outcome"] != "result" {
		t.Errorf("worker frame span %+v: want trace %s, worker-traced, outcome result", workerFrame, hubFrame.TraceID)
	}
	children := map[string]otlptest.Span{}
	for _, s := range spans {
		if s.ParentSpanID == workerFrame.SpanID {
			children[s.Name] = s
		}
	}
	for _, name := range []string{"decode", "queue wait", "inference"} {
		if s, ok := children[name]; !ok || s.TraceID != hubFrame.TraceID {
			t.Errorf("no %q span under the worker's frame span in the trace (children %v)", name, keysOf(children))
		}
	}
	if got := children["inference"].Attributes["batch.size"]; got != "1" {
		t.Errorf("inference span batch.size %q, want 1", got)
	}
	linked := false
	for _, s := range spans {
		for _, l := range s.Links {
			if s.Name == "batch" && l.SpanID == workerFrame.SpanID && s.Attributes["batch.size"] == "1" {
				linked = true
			}
		}
	}
	if !linked {
		t.Errorf("no batch span (batch.size 1) links to the worker's frame span")
	}

	// ---- metrics: two frames with known outcomes ----
	hubM := testkit.ScrapeMetrics(t, hub.metrics+"/metrics")
	for outcome, want := range map[string]uint64{"result": 1, "error": 1, "dropped": 0} {
		if got := metricWith(t, hubM, "hub_frame_duration_seconds", "outcome", outcome).GetHistogram().GetSampleCount(); got != want {
			t.Errorf("hub_frame_duration_seconds{outcome=%q}: %d frames, want %d", outcome, got, want)
		}
	}
	if got := metricWith(t, hubM, "hub_errors_total", "code", contract.CodeBadImage).GetCounter().GetValue(); got != 1 {
		t.Errorf("hub_errors_total{code=bad_image} %v, want 1", got)
	}
	if got := metricWith(t, hubM, "hub_nats_request_duration_seconds", "outcome", "reply").GetHistogram().GetSampleCount(); got != 2 {
		t.Errorf("NATS requests replied %d, want 2", got)
	}
	if _, ok := hubM["go_goroutines"]; !ok {
		t.Error("the hub's /metrics has no go_goroutines")
	}
	// The public port (the one an Ingress opens to the internet) has none.
	if resp, err := http.Get(hub.base + "/metrics"); err != nil {
		t.Error(err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusNotFound {
		t.Errorf("the hub's public /metrics: %d, want 404", resp.StatusCode)
	}
	workerM := testkit.ScrapeMetrics(t, "http://127.0.0.1:"+strconv.Itoa(metricsPort)+"/metrics")
	for outcome, want := range map[string]float64{"result": 1, "refused": 1, "expired": 0, "failed": 0} {
		if got := metricWith(t, workerM, "worker_frames_total", "outcome", outcome).GetCounter().GetValue(); got != want {
			t.Errorf("worker_frames_total{outcome=%q} %v, want %v", outcome, got, want)
		}
	}
	for _, name := range []string{"worker_batch_size", "worker_queue_wait_seconds", "worker_decode_seconds", "worker_inference_seconds"} {
		if got := metricWith(t, workerM, name, "", "").GetHistogram().GetSampleCount(); got != 1 {
			t.Errorf("%s: %d observations, want 1", name, got)
		}
	}

	// ---- the stock nats CLI, with the operator's key, sees the micro service ----
	out, err := exec.Command(bin(t, "NATS_CLI_BIN", "nats"), "--server", hub.nats.url, "--nkey", hub.nats.cliSeed,
		"micro", "list", "--json").CombinedOutput()
	if err != nil {
		t.Fatalf("nats micro list: %v\n%s", err, out)
	}
	var services []struct {
		Name     string            `json:"name"`
		Metadata map[string]string `json:"metadata"`
	}
	if err := json.Unmarshal(out, &services); err != nil {
		t.Fatalf("nats micro list --json printed %q: %v", out, err)
	}
	found := false
	for _, s := range services {
		found = found || (s.Name == contract.WorkerService && s.Metadata["worker"] == "worker-traced")
	}
	if !found {
		t.Fatalf("nats micro list shows %+v, want the %s service of worker-traced", services, contract.WorkerService)
	}
}

// The same trace when both processes export over gRPC
// (OTEL_EXPORTER_OTLP_PROTOCOL=grpc), to a gRPC receiver.
func TestOneTraceOverGRPC(t *testing.T) {
	collector := otlptest.StartGRPC(t)
	hub := startTracedSystem(t, collector, "grpc")
	c := dialHub(t, hub.base, "")
	session := c.Welcome()
	c.SendFrame(readImage(t, "parrot.jpg"))
	if m := c.Next(); m.Type != contract.TypeResult || m.Top() != "macaw" {
		t.Fatalf("parrot.jpg: %+v", m)
	}
	frameTrace(t, collector, session, 1)
}

// startTracedSystem runs the hub and a worker (with workerArgs) that export
// their spans to collector over protocol, and waits until the hub is ready.
func startTracedSystem(t *testing.T, collector *otlptest.Collector, protocol string, workerArgs ...string) *hubProc {
	hub := startHub(t, hubOptions{extraEnv: otelEnv(collector, protocol, "webcam-hub")})
	bus := hub.nats
	bus.workerEnv = append(append([]string{}, bus.workerEnv...), otelEnv(collector, protocol, "inference-worker")...)
	startWorker(t, bus, "worker-traced", workerArgs...)
	hub.waitFor(t, "/readyz?workers=1") // the workers' micro service answers its ping
	return hub
}

// frameTrace waits for the spans of frame seq of session from both
// processes and checks how they hang together: the hub's frame span is a
// root with the frame's outcome, its request span is the parent of the
// worker's frame span. It returns every span received and the two frame spans.
func frameTrace(t *testing.T, collector *otlptest.Collector, session string, seq int) (spans []otlptest.Span, hubFrame, workerFrame otlptest.Span) {
	t.Helper()
	isFrame := func(s otlptest.Span) bool {
		return s.Name == "frame" && s.Attributes["session.id"] == session && s.Attributes["frame.seq"] == strconv.Itoa(seq)
	}
	spans = collector.WaitFor(t, answerWait, "the frame's spans from both processes", func(spans []otlptest.Span) bool {
		hubFrame, workerFrame = otlptest.Span{}, otlptest.Span{}
		for _, s := range spans {
			switch {
			case isFrame(s) && s.Service == "webcam-hub":
				hubFrame = s
			case isFrame(s) && s.Service == "inference-worker":
				workerFrame = s
			}
		}
		if hubFrame.SpanID == "" || workerFrame.SpanID == "" {
			return false
		}
		n := 0
		for _, s := range spans {
			if s.ParentSpanID == workerFrame.SpanID || s.Name == "batch" {
				n++
			}
		}
		return n >= 4 // decode, queue wait, inference, and the batch
	})
	byID := map[string]otlptest.Span{}
	for _, s := range spans {
		byID[s.SpanID] = s
	}
	if hubFrame.ParentSpanID != "" || hubFrame.Attributes["frame.outcome"] != "result" || hubFrame.Attributes["frame.kind"] != contract.KindLive {
		t.Errorf("hub frame span: %+v, want a root with outcome result", hubFrame)
	}
	request, ok := byID[workerFrame.ParentSpanID]
	if !ok || request.Service != "webcam-hub" || request.ParentSpanID != hubFrame.SpanID || !strings.HasPrefix(request.Name, "request ") {
		t.Fatalf("the worker's frame span's parent is %+v, want the hub's request span under its frame span", request)
	}
	return spans, hubFrame, workerFrame
}

// metricWith is the series of family name with label=value (any, when label is empty).
func metricWith(t testing.TB, families map[string]*dto.MetricFamily, name, label, value string) *dto.Metric {
	t.Helper()
	if label == "" {
		return testkit.Metric(t, families, name, nil)
	}
	return testkit.Metric(t, families, name, map[string]string{label: value})
}

func keysOf[V any](m map[string]V) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return fmt.Sprint(ks)
}

package hub

import (
	"net/http"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	fws "github.com/fasthttp/websocket"

	dto "github.com/prometheus/client_model/go"

	"github.com/webcamhub/webcamhub/contract"
	"github.com/webcamhub/webcamhub/internal/testkit"
	"github.com/webcamhub/webcamhub/internal/testkit/testworker"
)

func counter(t *testing.T, f map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	return testkit.Metric(t, f, name, labels).GetCounter().GetValue()
}

func histogramCount(t *testing.T, f map[string]*dto.MetricFamily, name string, labels map[string]string) uint64 {
	return testkit.Metric(t, f, name, labels).GetHistogram().GetSampleCount()
}

// After frames with known outcomes, the histograms and counters at
// /metrics hold exactly those counts, beside the Go and process collectors.
func TestMetricsCountFramesByOutcome(t *testing.T) {
	ns := startNATS(t, 0)
	startWorker(t, ns.ClientURL(), testworker.Options{})
	h, base := startHub(t, ns.ClientURL(), nil)
	metricsBase := serveMetrics(t, h)

	c := dial(t, base, "", nil)
	c.Welcome()
	c.SendFrame(fakeJPEG) // a result
	if m := c.Next(); m.Type != contract.TypeResult {
		t.Fatalf("want a result, got %+v", m)
	}
	c.SendFrame([]byte("not an image"))       // bad_image, refused by the hub
	c.SendText(`{"type":"frame","image":""}`) // bad_image, an empty JSON frame
	for range 2 {
		if m := c.Next(); m.Type != contract.TypeError || m.Code != contract.CodeBadImage {
			t.Fatalf("want bad_image, got %+v", m)
		}
	}
	if code, _ := postAnalyze(t, base, `{"nope":1}`); code != http.StatusBadRequest {
		t.Fatalf("analyze with a bad body: status %d", code)
	}

	f := testkit.ScrapeMetrics(t, metricsBase+"/metrics")
	if got := histogramCount(t, f, "hub_frame_duration_seconds", map[string]string{"outcome": OutcomeResult}); got != 1 {
		t.Errorf("frame duration, result: %d observations, want 1", got)
	}
	if got := histogramCount(t, f, "hub_frame_duration_seconds", map[string]string{"outcome": OutcomeError}); got != 2 {
		t.Errorf("frame duration, error: %d observations, want 2", got)
	}
	if got := histogramCount(t, f, "hub_frame_duration_seconds", map[string]string{"outcome": OutcomeDropped}); got != 0 {
		t.Errorf("frame duration, dropped: %d observations, want 0", got)
	}
	if got := histogramCount(t, f, "hub_nats_request_duration_seconds", map[string]string{"outcome": natsReplied}); got != 1 {
		t.Errorf("NATS requests replied: %d, want 1 (refused frames make none)", got)
	}
	if got := histogramCount(t, f, "hub_frame_queue_seconds", nil); got != 1 {
		t.Errorf("queued frames: %d, want 1", got)
	}
	if got := histogramCount(t, f, "hub_api_request_duration_seconds", map[string]string{"status": "400"}); got != 1 {
		t.Errorf("API requests with 400: %d, want 1", got)
	}
	for code, want := range map[string]float64{contract.CodeBadImage: 2, contract.CodeBadRequest: 1, contract.CodeTimeout: 0} {
		if got := counter(t, f, "hub_errors_total", map[string]string{"code": code}); got != want {
			t.Errorf("errors %s: %v, want %v", code, got, want)
		}
	}
	if got := counter(t, f, "hub_frames_received_total", nil); got != 3 {
		t.Errorf("frames received %v, want 3", got)
	}
	if got := counter(t, f, "hub_results_total", nil); got != 1 {
		t.Errorf("results %v, want 1", got)
	}
	if got := testkit.Metric(t, f, "hub_sessions_open", nil).GetGauge().GetValue(); got != 1 {
		t.Errorf("sessions open %v, want 1", got)
	}
	if got := testkit.Metric(t, f, "go_goroutines", nil).GetGauge().GetValue(); got < 1 {
		t.Errorf("go_goroutines %v", got)
	}

	_ = c.Conn.WriteControl(fws.CloseMessage, fws.FormatCloseMessage(fws.CloseNormalClosure, ""), time.Now().Add(testWait))
	waitFor(t, "the session to close", func() bool {
		f := testkit.ScrapeMetrics(t, metricsBase+"/metrics")
		return counter(t, f, "hub_connections_closed_total", map[string]string{"code": "1000"}) == 1 &&
			testkit.Metric(t, f, "hub_sessions_open", nil).GetGauge().GetValue() == 0
	})
}

// docs/metrics.md is the catalog: it lists every hub_* metric the hub
// registers, and nothing else.
func TestMetricCatalogListsEveryHubMetric(t *testing.T) {
	doc, err := os.ReadFile("../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	var documented []string
	for _, m := range regexp.MustCompile("(?m)^\\| `(hub_[a-z_]+)` \\|").FindAllStringSubmatch(string(doc), -1) {
		documented = append(documented, m[1])
	}
	m := NewMetrics()
	m.ObserveAPI(http.StatusOK, 0)    // a vector by HTTP status has no series before its first request
	m.observeTLSCert(time.Unix(0, 0)) // nor the certificate's expiry before HTTPS serves one
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var registered []string
	for _, f := range families {
		if strings.HasPrefix(f.GetName(), "hub_") {
			registered = append(registered, f.GetName())
		}
	}
	slices.Sort(documented)
	slices.Sort(registered)
	if !slices.Equal(documented, registered) {
		t.Fatalf("docs/metrics.md lists %v\nthe hub registers %v", documented, registered)
	}
}

// hub_build_info names the build that runs: the version `hub -version`
// prints and the Go version, one series of value 1.
func TestMetricBuildInfo(t *testing.T) {
	families, err := NewMetrics().Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	f := map[string]*dto.MetricFamily{}
	for _, family := range families {
		f[family.GetName()] = family
	}
	labels := map[string]string{"version": Version, "go_version": runtime.Version()}
	if got := testkit.Metric(t, f, "hub_build_info", labels).GetGauge().GetValue(); got != 1 {
		t.Fatalf("hub_build_info%v = %v, want 1", labels, got)
	}
	if n := len(f["hub_build_info"].GetMetric()); n != 1 {
		t.Fatalf("hub_build_info has %d series, want 1", n)
	}
}

package hub

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/webcamhub/webcamhub/internal/testkit"
	"github.com/webcamhub/webcamhub/internal/testkit/testworker"
)

// Ready means the hub can serve: NATS up, with or without a worker; the body,
// ?workers=1 and the gauge hub_workers say whether workers answer.
func TestHealthAndReadiness(t *testing.T) {
	ns := startNATS(t, 0)
	h, base := startHub(t, ns.ClientURL(), nil)
	metrics := serveMetrics(t, h)
	get := func(url string) (int, map[string]any) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	if s, _ := get(base + "/healthz"); s != 200 {
		t.Fatalf("healthz %d", s)
	}
	if s, body := get(base + "/readyz"); s != 200 || body["workers"] != float64(0) {
		t.Fatalf("readyz without a worker: %d %v, want 200 with workers 0", s, body)
	}
	if s, body := get(base + "/readyz?workers=1"); s != http.StatusServiceUnavailable || body["reason"] == nil {
		t.Fatalf("readyz?workers=1 without a worker: %d %v, want 503 with a reason", s, body)
	}
	if n := gauge(t, metrics, "hub_workers"); n != 0 {
		t.Fatalf("hub_workers %v without a worker", n)
	}
	if n := gauge(t, metrics, "hub_nats_connected"); n != 1 {
		t.Fatalf("hub_nats_connected %v while connected", n)
	}
	startWorker(t, ns.ClientURL(), testworker.Options{})
	if s, _ := get(base + "/readyz?workers=1"); s != 200 {
		t.Fatalf("readyz?workers=1 with a worker: %d, want 200", s)
	}
	waitFor(t, "hub_workers 1", func() bool { return gauge(t, metrics, "hub_workers") == 1 })
	if s, body := get(base + "/readyz"); s != 200 || body["workers"] != float64(1) {
		t.Fatalf("readyz with a worker: %d %v, want 200 with workers 1", s, body)
	}
	ns.Shutdown()
	waitFor(t, "/readyz 503 once NATS is gone", func() bool { s, _ := get(base + "/readyz"); return s == http.StatusServiceUnavailable })
	if n := gauge(t, metrics, "hub_nats_connected"); n != 0 {
		t.Fatalf("hub_nats_connected %v while NATS is down", n)
	}
}

// A hub that is shutting down is not ready, whatever NATS says.
func TestNotReadyWhileShuttingDown(t *testing.T) {
	ns := startNATS(t, 0)
	h, _ := startHub(t, ns.ClientURL(), nil)
	if reason := h.notReadyReason(); reason != "" {
		t.Fatalf("not ready before shutdown: %s", reason)
	}
	h.mu.Lock()
	h.shuttingDown = true // what Close sets first
	h.mu.Unlock()
	if reason := h.notReadyReason(); reason == "" {
		t.Fatal("ready while shutting down")
	}
}

func gauge(t *testing.T, metricsBase, name string) float64 {
	t.Helper()
	return testkit.Metric(t, testkit.ScrapeMetrics(t, metricsBase+"/metrics"), name, nil).GetGauge().GetValue()
}

package hub

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/webcamhub/webcamhub/internal/testkit"
)

// The public port answers 404 for /metrics and pprof; the operator's address
// serves the hub_* metrics, and no profiles unless asked for.
func TestMetricsOnlyOnTheOperatorsAddress(t *testing.T) {
	ns := startNATS(t, 0)
	h, base := startHub(t, ns.ClientURL(), nil)
	metricsBase := serveMetrics(t, h)

	for _, path := range []string{"/metrics", "/debug/pprof/", "/debug/pprof/heap"} {
		if code, body := get(t, base+path); code != http.StatusNotFound || strings.Contains(body, "hub_") {
			t.Errorf("public %s: %d %.80q, want 404", path, code, body)
		}
	}
	if code, _ := get(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("public /healthz: %d, want 200 (the orchestrator's probe)", code)
	}
	families := testkit.ScrapeMetrics(t, metricsBase+"/metrics")
	if _, ok := families["hub_sessions_open"]; !ok {
		t.Errorf("the metrics address serves no hub_sessions_open: %d families", len(families))
	}
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/goroutine", "/healthz", "/"} {
		if code, _ := get(t, metricsBase+path); code != http.StatusNotFound {
			t.Errorf("metrics address %s without pprof: %d, want 404", path, code)
		}
	}
}

func TestPprofOnTheMetricsAddressWhenAsked(t *testing.T) {
	ns := startNATS(t, 0)
	h, base := startHub(t, ns.ClientURL(), func(c *Config) { c.MetricsAddr, c.Pprof = "127.0.0.1:0", true })
	metricsBase := serveMetrics(t, h)
	code, body := get(t, metricsBase+"/debug/pprof/goroutine?debug=1")
	if code != http.StatusOK || !strings.Contains(body, "goroutine profile:") {
		t.Fatalf("pprof goroutines: %d %.80q", code, body)
	}
	if code, _ := get(t, base+"/debug/pprof/goroutine?debug=1"); code != http.StatusNotFound {
		t.Fatalf("public pprof: %d, want 404", code)
	}
}

// Run listens on HUB_METRICS_ADDR beside the public port and closes both on
// shutdown; Close after that is harmless.
func TestRunServesMetricsApartAndClosesThemWithTheHub(t *testing.T) {
	ns := startNATS(t, 0)
	cfg := Defaults()
	cfg.NATSURL = ns.ClientURL()
	cfg.StaticDir = t.TempDir()
	httpPort, metricsPort := testkit.FreePort(t), testkit.FreePort(t)
	cfg.Listen = "127.0.0.1:" + strconv.Itoa(httpPort)
	cfg.MetricsAddr = "127.0.0.1:" + strconv.Itoa(metricsPort)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- Run(ctx, cfg, testLogger(t)) }()

	metricsURL := "http://" + cfg.MetricsAddr + "/metrics"
	waitFor(t, "the metrics address to answer", func() bool {
		resp, err := http.Get(metricsURL)
		if err != nil {
			return false
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if code, _ := get(t, "http://"+cfg.Listen+"/metrics"); code != http.StatusNotFound {
		t.Fatalf("public /metrics under Run: %d, want 404", code)
	}
	cancel()
	if err := <-ran; err != nil {
		t.Fatalf("Run = %v", err)
	}
	for _, addr := range []string{cfg.Listen, cfg.MetricsAddr} {
		if conn, err := net.Dial("tcp", addr); err == nil {
			conn.Close()
			t.Errorf("%s still listens after shutdown", addr)
		}
	}
}

// Close stops the metrics server (ServeMetrics returns without an error),
// and a second Close does nothing more.
func TestCloseStopsTheMetricsServerOnce(t *testing.T) {
	ns := startNATS(t, 0)
	h, _ := startHub(t, ns.ClientURL(), nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- h.ServeMetrics(ln) }()
	url := "http://" + ln.Addr().String() + "/metrics"
	if code, _ := get(t, url); code != http.StatusOK {
		t.Fatalf("metrics before Close: %d", code)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatalf("ServeMetrics after Close = %v, want nil", err)
	}
	if err := h.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if resp, err := http.Get(url); err == nil {
		resp.Body.Close()
		t.Fatalf("metrics after Close: %d, want the connection refused", resp.StatusCode)
	}
}

// A busy metrics address stops the start, and the public port is let go.
func TestBusyMetricsAddressStopsTheStart(t *testing.T) {
	ns := startNATS(t, 0)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := Defaults()
	cfg.NATSURL = ns.ClientURL()
	cfg.StaticDir = t.TempDir()
	cfg.Listen = "127.0.0.1:" + strconv.Itoa(testkit.FreePort(t))
	cfg.MetricsAddr = busy.Addr().String()
	err = Run(context.Background(), cfg, testLogger(t))
	if err == nil || !strings.Contains(err.Error(), "listening for metrics on "+cfg.MetricsAddr) {
		t.Fatalf("Run = %v, want the metrics address named", err)
	}
	if conn, err := net.Dial("tcp", cfg.Listen); err == nil {
		conn.Close()
		t.Fatal("the public port still listens after a refused start")
	}
}

func TestMetricsConfig(t *testing.T) {
	c, err := ParseConfig(nil, env(nil), io.Discard)
	if err != nil || c.MetricsAddr != "" || c.Pprof {
		t.Fatalf("defaults: metrics %q pprof %v (%v), want both off", c.MetricsAddr, c.Pprof, err)
	}
	c, err = ParseConfig(nil, env(map[string]string{"HUB_METRICS_ADDR": "127.0.0.1:9090", "HUB_PPROF": "true"}), io.Discard)
	if err != nil || c.MetricsAddr != "127.0.0.1:9090" || !c.Pprof {
		t.Fatalf("from the environment: %q %v (%v)", c.MetricsAddr, c.Pprof, err)
	}
	c, err = ParseConfig([]string{"-metrics-addr", ":9191"}, env(map[string]string{"HUB_METRICS_ADDR": "127.0.0.1:9090"}), io.Discard)
	if err != nil || c.MetricsAddr != ":9191" {
		t.Fatalf("the flag over the environment: %q (%v)", c.MetricsAddr, err)
	}
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"not an address":  {[]string{"-metrics-addr", "9090"}, `metrics address "9090"`},
		"the public port": {[]string{"-listen", ":8080", "-metrics-addr", "127.0.0.1:8080"}, "is the public listen port"},
		"pprof alone":     {[]string{"-pprof"}, "set HUB_METRICS_ADDR too"},
	} {
		_, err := ParseConfig(tc.args, env(nil), io.Discard)
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %q", name, err, tc.want)
		}
	}
}

//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webcamhub/webcamhub/contract"
	"github.com/webcamhub/webcamhub/internal/testkit"
)

// The soak (`make bench-soak`, docs/benchmarks.md): sessions that come and go
// for SOAK_DURATION against the real hub and worker, while what each process
// holds is sampled; it fails when a figure keeps growing once warmed up.
const (
	soakSessions = 30                     // open at once, each replaced when it closes
	soakPace     = 125 * time.Millisecond // ~8 frames/s a session, one in flight
	// A session lives soakLifetime plus up to soakLifetimeSpread (by slot):
	// ~240 sessions opened and closed in 7 minutes, as in the first soak.
	soakLifetime       = 20 * time.Second
	soakLifetimeSpread = 30 * time.Second
	// soakSamples: samples over the whole run (at least soakSampleMin apart).
	soakSamples   = 120
	soakSampleMin = time.Second
	// soakGrowth: the last third's median of a figure may exceed the first
	// third's (both after the warm-up, the first fifth) by this fraction, or
	// by its soakSlack, whichever is more; past it the figure grows.
	soakGrowth = 0.05
)

// soakSlack is the absolute growth allowed per figure: the noise of a figure
// that depends on what is in flight at the sample (sessions between a close
// and the next open, frames held, GC cycles), not on how long the run is.
var soakSlack = map[string]float64{"rss_mb": 5, "open_fds": 10, "threads": 4, "goroutines": 25, "nats_subs": 10}

// hubMetricsURL: where the hub serves its Prometheus metrics (its operator
// address, HUB_METRICS_ADDR, apart from the public port).
func hubMetricsURL(h *hubProc) string { return h.metrics + "/metrics" }

// BenchmarkSoak (make bench-soak): soakSessions WebSocket sessions, each at
// a webcam's pace for its lifetime, closed and replaced by a new one, for
// SOAK_DURATION (default 10m), against the hub on an external nats-server
// (its monitoring port counts each client's subscriptions) and one worker
// with the fast TFLite model. Sampled: the resident memory, open files and
// threads of the hub, the worker and nats-server (/proc), the hub's
// goroutines (go_goroutines), the subscriptions of the hub and the worker
// (nats-server /connz). Every answer is counted by kind. It fails on a
// figure that grows past soakGrowth/soakSlack, on an error answer, or on a
// frame never answered.
func BenchmarkSoak(b *testing.B) {
	duration := 10 * time.Minute
	if v := os.Getenv("SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Minute {
			b.Fatalf("SOAK_DURATION=%q: want a duration of at least 1m", v)
		}
		duration = d
	}
	frame := pageFrame(b)
	natsPort, monitorPort := testkit.FreePort(b), testkit.FreePort(b)
	natsServer := startProc(b, "nats-server", nil, bin(b, "NATS_SERVER_BIN", "nats-server"),
		"-a", "127.0.0.1", "-p", strconv.Itoa(natsPort), "-m", strconv.Itoa(monitorPort), "-js", "-sd", b.TempDir())
	bus := natsEndpoint{url: "nats://127.0.0.1:" + strconv.Itoa(natsPort)}
	// One address opens every session: the per-address limits lifted.
	hub := startHub(b, hubOptions{natsURL: bus.url, extraEnv: loadGeneratorEnv("LOG_LEVEL=warn")})
	worker := startWorker(b, bus, "soak-worker", "--log-level", "warning")
	hub.waitFor(b, "/readyz")
	monitor := "http://127.0.0.1:" + strconv.Itoa(monitorPort)
	procs := map[string]int{"hub": hub.cmd.Process.Pid, "worker": worker.cmd.Process.Pid, "nats-server": natsServer.cmd.Process.Pid}

	var mu sync.Mutex
	var total sessionLoad
	opened, failed := 0, 0
	start := time.Now()
	stopAt := start.Add(duration)
	var wg sync.WaitGroup
	for slot := range soakSessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lifetime := soakLifetime + soakLifetimeSpread*time.Duration(slot)/soakSessions
			for left := time.Until(stopAt); left > 0; left = time.Until(stopAt) {
				r, err := pacedSession(hub.base, frame, soakPace, 0, min(lifetime, left), b.Logf)
				mu.Lock()
				opened++
				if err != nil {
					failed++
					b.Logf("soak session: %v", err)
				}
				total.add(r)
				mu.Unlock()
			}
		}()
	}
	every := max(soakSampleMin, duration/soakSamples)
	var samples []soakSample
	for now := time.Now(); now.Before(stopAt); now = time.Now() {
		samples = append(samples, takeSoakSample(b, now.Sub(start), procs, hubMetricsURL(hub), monitor))
		time.Sleep(min(every, time.Until(stopAt)))
	}
	wg.Wait()

	results := total.answers[contract.TypeResult]
	b.Logf("soak %v: %d sessions opened and closed (%d failed), %d frames sent, answers %v, unanswered %d; %.1f results/s; result p50 %.1f ms p99 %.1f ms",
		duration, opened, failed, total.sent, total.answers, total.unanswered(), float64(results)/duration.Seconds(), ms(quantile(total.latency, 0.5)), ms(quantile(total.latency, 0.99)))
	grown := checkSoakGrowth(b, samples)
	b.ReportMetric(float64(opened), "sessions")
	b.ReportMetric(float64(results), "results")
	b.ReportMetric(0, "ns/op")
	for key, v := range total.answers {
		if strings.HasPrefix(key, contract.TypeError+"/") {
			b.Errorf("%d frames answered %s", v, key)
		}
	}
	if n := total.unanswered(); n > 0 {
		b.Errorf("%d frames never answered", n)
	}
	if failed > 0 {
		b.Errorf("%d sessions failed to open or send", failed)
	}
	if len(grown) > 0 {
		b.Errorf("growing past the bound: %s", strings.Join(grown, "; "))
	}
}

// soakSample is each process's figures ("hub rss_mb", …) at one moment.
type soakSample struct {
	at      time.Duration
	figures map[string]float64
}

func takeSoakSample(b *testing.B, at time.Duration, procs map[string]int, hubMetrics, natsMonitor string) soakSample {
	s := soakSample{at: at, figures: map[string]float64{}}
	for name, pid := range procs {
		status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
		if err != nil {
			b.Fatalf("%s: %v", name, err)
		}
		for _, line := range strings.Split(string(status), "\n") {
			f := strings.Fields(line)
			if len(f) >= 2 && f[0] == "VmRSS:" {
				kb, _ := strconv.ParseFloat(f[1], 64)
				s.figures[name+" rss_mb"] = kb / 1024
			} else if len(f) >= 2 && f[0] == "Threads:" {
				s.figures[name+" threads"], _ = strconv.ParseFloat(f[1], 64)
			}
		}
		fds, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
		if err != nil {
			b.Fatalf("%s: %v", name, err)
		}
		s.figures[name+" open_fds"] = float64(len(fds))
	}
	m := testkit.Metric(b, testkit.ScrapeMetrics(b, hubMetrics), "go_goroutines", nil)
	s.figures["hub goroutines"] = m.GetGauge().GetValue()
	// The subscriptions each client holds on the server: the worker's
	// connection is named by nats-py after the worker, the rest is the hub's.
	resp, err := http.Get(natsMonitor + "/connz?limit=10000")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var connz struct {
		Connections []struct {
			Name string `json:"name"`
			Subs int    `json:"subscriptions"`
		} `json:"connections"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&connz); err != nil {
		b.Fatal(err)
	}
	s.figures["hub nats_subs"], s.figures["worker nats_subs"] = 0, 0
	for _, c := range connz.Connections {
		who := "hub"
		if strings.HasPrefix(c.Name, "inference-worker") {
			who = "worker"
		}
		s.figures[who+" nats_subs"] += float64(c.Subs)
	}
	return s
}

// checkSoakGrowth logs each figure (its first sample, then the medians of
// the first and last thirds after the warm-up, the first fifth) and returns
// those that grew past the bound.
func checkSoakGrowth(b testing.TB, samples []soakSample) []string {
	warm := samples[len(samples)/5:]
	third := len(warm) / 3
	if third < 2 {
		b.Fatalf("%d samples after the warm-up: too few to compare", len(warm))
	}
	keys := slices.Sorted(maps.Keys(samples[0].figures))
	var grown []string
	for _, key := range keys {
		series := func(ss []soakSample) []float64 {
			var v []float64
			for _, s := range ss {
				v = append(v, s.figures[key])
			}
			return v
		}
		first, last := median(series(warm[:third])), median(series(warm[len(warm)-third:]))
		bound := first + max(first*soakGrowth, soakSlack[key[strings.LastIndexByte(key, ' ')+1:]])
		b.Logf("%-22s start %8.1f  warm first third %8.1f  last third %8.1f  max %8.1f  (bound %.1f)",
			key, samples[0].figures[key], first, last, slices.Max(series(samples)), bound)
		if last > bound {
			grown = append(grown, fmt.Sprintf("%s %.1f -> %.1f (bound %.1f)", key, first, last, bound))
		}
	}
	return grown
}

func median(v []float64) float64 {
	v = slices.Sorted(slices.Values(v))
	return v[len(v)/2]
}

// The soak's bound on synthetic samples: a figure flat after its warm-up
// passes, one that keeps climbing fails, one within its slack passes.
func TestSoakGrowthCheck(t *testing.T) {
	var samples []soakSample
	for i := range 30 {
		warmingUp := float64(min(i, 6)) // climbs during the warm-up only
		samples = append(samples, soakSample{figures: map[string]float64{
			"hub rss_mb":       30 + warmingUp,
			"worker rss_mb":    180 + 2*float64(i), // a leak: +2 MB a sample
			"hub goroutines":   100 + float64(i%3), // noise within the slack
			"worker nats_subs": 13,
		}})
	}
	grown := checkSoakGrowth(t, samples)
	if len(grown) != 1 || !strings.HasPrefix(grown[0], "worker rss_mb ") {
		t.Fatalf("grown %q, want the worker's RSS alone", grown)
	}
}

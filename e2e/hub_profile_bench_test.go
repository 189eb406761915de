//go:build e2e

package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/webcamhub/webcamhub/contract"
	"github.com/webcamhub/webcamhub/internal/testkit/testworker"
)

// profileSeconds: the CPU profile's length, within the load's measured part.
const profileSeconds = 20

// BenchmarkHubProfile: the hub's own CPU profile at saturation, as
// BenchmarkSaturation loads it (the real hub binary with its embedded NATS,
// 8 sessions keeping 2 frames in flight), taken from its /debug/pprof/
// (HUB_PPROF, on the metrics address) for profileSeconds: with two real
// workers (python-workers: the hub's share of a real system), and with the
// Go test worker in this process answering at once (go-worker: the hub is
// the bottleneck, and its per-frame path fills the profile). Each profile
// goes to BENCH_HUB_CPUPROFILE with the case's name before its extension (a
// temporary file without it) for `go tool pprof -top <hub binary> <file>`
// (docs/benchmarks.md, "Hub CPU profile at saturation").
func BenchmarkHubProfile(b *testing.B) {
	frame := pageFrame(b)
	for _, workers := range []string{"python-workers", "go-worker"} {
		b.Run(workers, func(b *testing.B) {
			hub := startHub(b, hubOptions{extraEnv: loadGeneratorEnv("LOG_LEVEL=warn", "HUB_PPROF=true")})
			procs := map[string]*proc{"hub": hub.proc}
			if workers == "go-worker" {
				startGoWorker(b, hub.nats)
			} else {
				for i := range 2 {
					name := "bench-worker-" + strconv.Itoa(i+1)
					procs[name] = startWorker(b, hub.nats, name, "--log-level", "warning")
				}
			}
			hub.waitFor(b, "/readyz?workers=1")
			out := filepath.Join(b.TempDir(), "hub.cpu.pprof")
			if path := os.Getenv("BENCH_HUB_CPUPROFILE"); path != "" {
				ext := filepath.Ext(path)
				out = strings.TrimSuffix(path, ext) + "-" + workers + ext
			}
			profiled := make(chan error, 1)
			go func() {
				time.Sleep(loadWarmup)
				profiled <- saveProfile(hub.metrics+"/debug/pprof/profile?seconds="+strconv.Itoa(profileSeconds), out)
			}()
			before := cpuSeconds(b, procs)
			r := runLoad(b, hub.base, 8, 2, frame, loadWarmup, profileSeconds*time.Second)
			after := cpuSeconds(b, procs)
			if err := <-profiled; err != nil {
				b.Fatal(err)
			}
			if r.answers[contract.TypeResult] == 0 {
				b.Fatalf("no results: answers %v", r.answers)
			}
			logLoad(b, "8 sessions × 2 in flight, profiled, "+workers, r)
			b.Logf("CPU ms per result (warm-up included): %s", cpuPerResult(before, after, r))
			b.Logf("hub CPU profile: %s", out)
			b.ReportMetric(r.resultsPerS(), "results/s")
			// The hub's CPU per result, the figure a shared machine's noise moves least.
			b.ReportMetric((after["hub"]-before["hub"])*1e6/float64(r.answers[contract.TypeResult]), "hub-cpu-µs/result")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// startGoWorker runs the Go test worker (an instant answer) in this
// process, logged in as the workers are.
func startGoWorker(b *testing.B, bus natsEndpoint) {
	w, err := testworker.Start(bus.connectAsWorker(b), testworker.Options{Name: "bench-go-worker"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(w.Stop)
}

func saveProfile(url, path string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("hub profile: %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

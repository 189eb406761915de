//go:build e2e

package e2e

import (
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/webcamhub/webcamhub/contract"
	"github.com/webcamhub/webcamhub/internal/testkit/otlptest"
)

// BenchmarkSystemTracing: the whole system (hub binary, embedded NATS, one
// real worker with the uint8 TFLite model) at saturation, with tracing off
// (no OTEL_* variable) and on at 100 % sampling (both processes export every
// span over OTLP/HTTP to a receiver in this process). Off and on alternate
// for `rounds` rounds, each on a fresh hub and worker, so both see the same
// machine. docs/benchmarks.md has the figures.
func BenchmarkSystemTracing(b *testing.B) {
	const (
		rounds   = 3
		sessions = 8
		inFlight = 2  // the hub's default framesInFlight
		frames   = 60 // per session and round, after a warm-up
	)
	image := readImage(b, "cat_720p.jpg")
	rates := map[string][]float64{}
	for round := range rounds {
		for _, mode := range []string{"off", "on-100pct"} {
			var env []string
			if mode != "off" {
				collector := otlptest.Start(b)
				env = []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + collector.URL, "OTEL_TRACES_SAMPLER=always_on"}
			}
			rate := saturate(b, env, image, sessions, inFlight, frames)
			rates[mode] = append(rates[mode], rate)
			b.Logf("round %d, tracing %s: %.1f frames/s", round+1, mode, rate)
		}
	}
	for mode, rs := range rates {
		best, sum := 0.0, 0.0
		for _, r := range rs {
			best, sum = max(best, r), sum+r
		}
		b.ReportMetric(sum/float64(len(rs)), "frames/s-mean-"+mode)
		b.ReportMetric(best, "frames/s-best-"+mode)
	}
	b.ReportMetric(0, "ns/op")
}

// saturate starts a hub and a worker with env, then keeps inFlight frames
// outstanding on each of sessions WebSocket sessions, and returns the
// results per second.
func saturate(b *testing.B, env []string, image []byte, sessions, inFlight, frames int) float64 {
	hub := startHub(b, hubOptions{extraEnv: append([]string{"LOG_LEVEL=warn"}, env...)})
	bus := hub.nats
	bus.workerEnv = append(append([]string{"LOG_LEVEL=warning"}, bus.workerEnv...), env...)
	worker := startWorker(b, bus, "bench-worker-"+strconv.Itoa(hub.httpPort))
	defer func() { _ = hub.stop(syscall.SIGTERM) }() // after the worker: the next round has the CPU
	defer func() { _ = worker.stop(syscall.SIGTERM) }()
	hub.waitFor(b, "/readyz?workers=1")
	var wg sync.WaitGroup
	run := func(n int) time.Duration {
		start := time.Now()
		for range sessions {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := dialHub(b, hub.base, "")
				c.Welcome()
				sent := 0
				for ; sent < min(inFlight, n); sent++ {
					c.SendFrame(image)
				}
				for range n {
					if m := c.Next(); m.Type != contract.TypeResult {
						b.Errorf("answer %+v", m)
						return
					}
					if sent < n {
						c.SendFrame(image)
						sent++
					}
				}
			}()
		}
		wg.Wait()
		return time.Since(start)
	}
	run(4) // warm-up: the model's first calls, the connections
	elapsed := run(frames)
	return float64(sessions*frames) / elapsed.Seconds()
}

//go:build e2e

package e2e

import (
	"strconv"
	"testing"
	"time"
)

// The realtime benchmarks of docs/benchmarks.md: the real hub binary, real
// workers with the TFLite model, the page's 224×224 JPEG frames, and the
// bare model measured in the same run as the yardstick.

const (
	loadWarmup  = 3 * time.Second
	loadMeasure = 15 * time.Second
)

// BenchmarkOneFrameInFlight: one session, one frame in flight, one worker:
// the latency of a frame with nothing queued, against the bare model's
// batch-1 inference time.
func BenchmarkOneFrameInFlight(b *testing.B) {
	frame := pageFrame(b)
	bare := measureBareModel(b, frame)
	// The session's own rate limit is lifted: at one frame in flight it
	// would otherwise answer rate_limited to every frame past 60 a second.
	hub := startHub(b, hubOptions{extraEnv: []string{"LOG_LEVEL=warn", "HUB_SESSION_FPS=100000"}})
	startWorker(b, hub.natsURL, "bench-worker", "--log-level", "warning")
	hub.waitFor(b, "/readyz")
	r := runLoad(b, hub.base, 1, 1, frame, loadWarmup, loadMeasure)
	logLoad(b, "1 session × 1 in flight", r)
	p50 := ms(quantile(r.latency, 0.5))
	b.Logf("bare model: batch 1 %.2f ms, decode of the frame %.2f ms (%d threads, %s)", bare.Batch1MS, bare.DecodePageMS, bare.ModelThreads, bare.MachineSummary)
	b.ReportMetric(p50, "p50-ms")
	b.ReportMetric(ms(quantile(r.latency, 0.99)), "p99-ms")
	b.ReportMetric(bare.Batch1MS, "model-ms")
	b.ReportMetric(p50/bare.Batch1MS, "p50/model")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkSaturation: two workers; 8 sessions with a frame always in
// flight (saturated), then 400 (far past saturation), in the same run; and
// the bare model's batched throughput as the ceiling.
func BenchmarkSaturation(b *testing.B) {
	frame := pageFrame(b)
	bare := measureBareModel(b, frame)
	hub := startHub(b, hubOptions{extraEnv: []string{"LOG_LEVEL=warn"}})
	procs := map[string]*proc{"hub": hub.proc}
	const workers = 2
	for i := range workers {
		name := "bench-worker-" + strconv.Itoa(i+1)
		procs[name] = startWorker(b, hub.natsURL, name, "--log-level", "warning")
	}
	hub.waitFor(b, "/readyz")
	cpu0 := cpuSeconds(b, procs)
	few := runLoad(b, hub.base, 8, 2, frame, loadWarmup, loadMeasure)
	cpu1 := cpuSeconds(b, procs)
	logLoad(b, "8 sessions × 2 in flight", few)
	b.Logf("CPU ms per result (warm-up included): %s", cpuPerResult(cpu0, cpu1, few))
	many := runLoad(b, hub.base, 400, 1, frame, loadWarmup, loadMeasure)
	cpu2 := cpuSeconds(b, procs)
	logLoad(b, "400 sessions × 1 in flight", many)
	b.Logf("CPU ms per result (warm-up included): %s", cpuPerResult(cpu1, cpu2, many))
	b.Logf("bare model: %.1f images/s at batch %d (%d threads, %s)", bare.BatchedPerS, bare.BatchedSize, bare.ModelThreads, bare.MachineSummary)
	b.ReportMetric(few.resultsPerS(), "results/s-8")
	b.ReportMetric(many.resultsPerS(), "results/s-400")
	b.ReportMetric(many.resultsPerS()/few.resultsPerS(), "400/8")
	b.ReportMetric(ms(quantile(few.latency, 0.5)), "p50-ms-8")
	b.ReportMetric(ms(quantile(few.latency, 0.99)), "p99-ms-8")
	b.ReportMetric(ms(quantile(many.latency, 0.5)), "p50-ms-400")
	b.ReportMetric(ms(quantile(many.latency, 0.99)), "p99-ms-400")
	b.ReportMetric(bare.BatchedPerS, "model-images/s")
	b.ReportMetric(few.resultsPerS()/bare.BatchedPerS, "system/model")
	b.ReportMetric(0, "ns/op")
}

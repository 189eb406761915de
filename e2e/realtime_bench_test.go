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
	hub := startHub(b, hubOptions{extraEnv: []string{"LOG_LEVEL=warn"}})
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
	const workers = 2
	for i := range workers {
		startWorker(b, hub.natsURL, "bench-worker-"+strconv.Itoa(i+1), "--log-level", "warning")
	}
	hub.waitFor(b, "/readyz")
	few := runLoad(b, hub.base, 8, 1, frame, loadWarmup, loadMeasure)
	logLoad(b, "8 sessions × 1 in flight", few)
	many := runLoad(b, hub.base, 400, 1, frame, loadWarmup, loadMeasure)
	logLoad(b, "400 sessions × 1 in flight", many)
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

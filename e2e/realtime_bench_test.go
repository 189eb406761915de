//go:build e2e

package e2e

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/webcamhub/webcamhub/contract"
)

// The realtime benchmarks of docs/benchmarks.md: the real hub binary, real
// workers with the TFLite model, the page's 224×224 JPEG frames, and the
// bare model measured in the same run as the yardstick.

const (
	loadWarmup  = 3 * time.Second
	loadMeasure = 15 * time.Second
)

// BenchmarkOneFrameInFlight: one session, one frame in flight, one worker:
// the latency of a frame with nothing queued, against the model's own time:
// the bare model's batch-1 call (measured before the load), and the model
// call each result reports (timing.infer_ms, same process, same moment:
// the fairer yardstick on a shared machine).
func BenchmarkOneFrameInFlight(b *testing.B) {
	frame := pageFrame(b)
	bare := measureBareModel(b, frame, bareOptions{})
	// The session's own rate limit is lifted: at one frame in flight it
	// would otherwise answer rate_limited to every frame past 60 a second.
	hub := startHub(b, hubOptions{extraEnv: loadGeneratorEnv("LOG_LEVEL=warn", "HUB_SESSION_FPS=100000")})
	startWorker(b, hub.nats, "bench-worker", "--log-level", "warning")
	hub.waitFor(b, "/readyz?workers=1")
	r := runLoad(b, hub.base, 1, 1, frame, loadWarmup, loadMeasure)
	logLoad(b, "1 session × 1 in flight", r)
	p50, model := ms(quantile(r.latency, 0.5)), ms(quantile(r.model, 0.5))
	b.Logf("bare model: batch 1 %.2f ms, decode of the frame %.2f ms (%d threads, %s)", bare.Batch1MS, bare.DecodePageMS, bare.ModelThreads, bare.MachineSummary)
	b.Logf("in the run: model call p50 %.2f ms; outside the decode and the model call p50 %.2f ms, p90 %.2f ms", model, ms(quantile(r.outside, 0.5)), ms(quantile(r.outside, 0.9)))
	b.ReportMetric(p50, "p50-ms")
	b.ReportMetric(ms(quantile(r.latency, 0.99)), "p99-ms")
	b.ReportMetric(bare.Batch1MS, "bare-model-ms")
	b.ReportMetric(p50/bare.Batch1MS, "p50/bare-model")
	b.ReportMetric(model, "run-model-p50-ms")
	b.ReportMetric(p50/model, "p50/run-model")
	b.ReportMetric(ms(quantile(r.outside, 0.5)), "outside-model-p50-ms")
	b.ReportMetric(0, "ns/op")
}

const (
	// webcamPace: a frame every 40 ms, 25 frames/s, as a webcam page sends.
	webcamPace = 40 * time.Millisecond
	// pacedMeasure: ~200 frames at 25/s, for the session and the bare model alike.
	pacedMeasure = 8 * time.Second
	// pacedRounds: the bare model's paced calls and the session's frames
	// alternate this many times, pacedMeasure split between the rounds, so
	// that a shared machine's changing load falls on both alike.
	pacedRounds = 2
	// pacedRewarm: the session's warm-up in a later round (the worker has
	// been idle while the bare model was timed; the bare model's paced calls
	// follow its back-to-back ones and a warm-up call).
	pacedRewarm = time.Second
)

// BenchmarkPacedSession: one session at a webcam's pace (a frame every 40
// ms, one in flight: a late answer delays the next frame), one worker on
// the per-channel int8 file with the runtime BENCH_RUNTIME names (litert by
// default), against the bare model called at the same pace on the same
// runtime in a process of its own: a model idle between frames is slower
// than back to back, so the back-to-back figure would flatter the system.
// The two alternate in pacedRounds rounds (bare, then the session), their
// calls and frames pooled.
func BenchmarkPacedSession(b *testing.B) {
	frame := pageFrame(b)
	runtime := envOr("BENCH_RUNTIME", "litert")
	hub := startHub(b, hubOptions{extraEnv: loadGeneratorEnv("LOG_LEVEL=warn")})
	startWorker(b, hub.nats, "bench-worker", "--model", "tflite:"+fastTFLiteModel(b), "--runtime", runtime, "--log-level", "warning")
	hub.waitFor(b, "/readyz?workers=1")
	var bare bareModel
	var r sessionLoad
	var bareCalls []time.Duration
	measure := pacedMeasure / pacedRounds
	for i := range pacedRounds {
		m := measureBareModel(b, frame, bareOptions{model: fastTFLiteModel(b), runtime: runtime, pace: webcamPace, paceFor: measure, brief: i > 0})
		if i == 0 {
			bare = m // its back-to-back figures, timed at length
		}
		for _, c := range m.PacedCallsMS {
			bareCalls = append(bareCalls, time.Duration(c*float64(time.Millisecond)))
		}
		warmup := pacedRewarm
		if i == 0 {
			warmup = loadWarmup
		}
		r.add(runPacedSession(b, hub.base, frame, webcamPace, warmup, measure))
	}
	slices.Sort(bareCalls)
	pacedBare, pacedBareP90 := ms(quantile(bareCalls, 0.5)), ms(quantile(bareCalls, 0.9))
	logLoad(b, "1 session at 25 frames/s on "+runtime, r)
	p50 := ms(quantile(r.latency, 0.5))
	b.Logf("bare model on %s: batch 1 paced p50 %.2f ms, p90 %.2f ms (%d calls, %d rounds alternated with the session's); back to back %.2f ms (%d threads, %s)",
		bare.Runtime, pacedBare, pacedBareP90, len(bareCalls), pacedRounds, bare.Batch1MS, bare.ModelThreads, bare.MachineSummary)
	b.Logf("in the run: model call p50 %.2f ms; outside the decode and the model call p50 %.2f ms, p90 %.2f ms",
		ms(quantile(r.model, 0.5)), ms(quantile(r.outside, 0.5)), ms(quantile(r.outside, 0.9)))
	if r.answers[contract.TypeResult] == 0 {
		b.Fatalf("no results: answers %v, unanswered %d", r.answers, r.unanswered())
	}
	b.ReportMetric(p50, "p50-ms")
	b.ReportMetric(ms(quantile(r.latency, 0.99)), "p99-ms")
	b.ReportMetric(pacedBare, "paced-bare-model-ms")
	b.ReportMetric(p50/pacedBare, "p50/paced-bare-model")
	b.ReportMetric(bare.Batch1MS, "bare-model-ms")
	b.ReportMetric(ms(quantile(r.model, 0.5)), "run-model-p50-ms")
	b.ReportMetric(ms(quantile(r.outside, 0.5)), "outside-model-p50-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkPacedTransport: BenchmarkPacedSession's session against the Go
// test worker, which answers at once in this process: what the page → hub →
// NATS → worker → NATS → hub → page path costs a frame at a webcam's pace
// without the Python worker, its decode and its model (docs/benchmarks.md,
// "Paced latency": where the time outside the model goes); then the same
// session back to back (one frame in flight, the next sent at its answer),
// the same path kept busy.
func BenchmarkPacedTransport(b *testing.B) {
	frame := pageFrame(b)
	// The session's own rate limit is lifted for the back-to-back part.
	hub := startHub(b, hubOptions{extraEnv: loadGeneratorEnv("LOG_LEVEL=warn", "HUB_SESSION_FPS=100000")})
	startGoWorker(b, hub.nats)
	hub.waitFor(b, "/readyz?workers=1")
	paced := runPacedSession(b, hub.base, frame, webcamPace, loadWarmup, pacedMeasure)
	logLoad(b, "1 session at 25 frames/s on the Go test worker", paced)
	busy := runLoad(b, hub.base, 1, 1, frame, loadWarmup, pacedMeasure/2)
	logLoad(b, "1 session back to back on the Go test worker", busy)
	for _, r := range []sessionLoad{paced, busy} {
		if r.answers[contract.TypeResult] == 0 {
			b.Fatalf("no results: answers %v, unanswered %d", r.answers, r.unanswered())
		}
	}
	b.ReportMetric(ms(quantile(paced.latency, 0.5)), "p50-ms")
	b.ReportMetric(ms(quantile(paced.latency, 0.9)), "p90-ms")
	b.ReportMetric(ms(quantile(paced.latency, 0.99)), "p99-ms")
	b.ReportMetric(ms(quantile(busy.latency, 0.5)), "back-to-back-p50-ms")
	b.ReportMetric(0, "ns/op")
}

// saturationRounds: the 8- and 400-session loads alternate this many times,
// so that a shared machine's changing load falls on both alike.
const saturationRounds = 3

// BenchmarkSaturation: two workers; 8 sessions with two frames always in
// flight (saturated, as the page sends), and 400 sessions with one (far past
// saturation), alternated; and the bare model's batched throughput as the
// ceiling.
func BenchmarkSaturation(b *testing.B) {
	frame := pageFrame(b)
	bare := measureBareModel(b, frame, bareOptions{})
	hub := startHub(b, hubOptions{extraEnv: loadGeneratorEnv("LOG_LEVEL=warn", "HUB_DISPATCH_WAIT="+envOr("BENCH_DISPATCH_WAIT", "250ms"))})
	procs := map[string]*proc{"hub": hub.proc}
	const workers = 2
	for i := range workers {
		name := "bench-worker-" + strconv.Itoa(i+1)
		procs[name] = startWorker(b, hub.nats, name, "--log-level", "warning")
	}
	hub.waitFor(b, "/readyz?workers=1")
	var few, many sessionLoad
	cpuFew, cpuMany := map[string]float64{}, map[string]float64{}
	measure := loadMeasure / saturationRounds
	var messagesFew, framesFew, messagesMany, framesMany float64 // warm-up included
	for range saturationRounds {
		before := cpuSeconds(b, procs)
		m0, f0 := messagesSent(b, hub.metrics)
		few.add(runLoad(b, hub.base, 8, 2, frame, loadWarmup/2, measure))
		mid := cpuSeconds(b, procs)
		m1, f1 := messagesSent(b, hub.metrics)
		many.add(runLoad(b, hub.base, 400, 1, frame, loadWarmup/2, measure))
		after := cpuSeconds(b, procs)
		m2, f2 := messagesSent(b, hub.metrics)
		messagesFew, framesFew = messagesFew+m1-m0, framesFew+f1-f0
		messagesMany, framesMany = messagesMany+m2-m1, framesMany+f2-f1
		for k := range after {
			cpuFew[k] += mid[k] - before[k]
			cpuMany[k] += after[k] - mid[k]
		}
	}
	zero := map[string]float64{}
	logLoad(b, "8 sessions × 2 in flight", few)
	b.Logf("CPU ms per result (warm-up included): %s", cpuPerResult(zero, cpuFew, few))
	b.Logf("frames per message to the workers (warm-up included): %.2f (%.0f frames in %.0f messages)", framesFew/max(messagesFew, 1), framesFew, messagesFew)
	logLoad(b, "400 sessions × 1 in flight", many)
	b.Logf("CPU ms per result (warm-up included): %s", cpuPerResult(zero, cpuMany, many))
	b.Logf("frames per message to the workers (warm-up included): %.2f (%.0f frames in %.0f messages)", framesMany/max(messagesMany, 1), framesMany, messagesMany)
	b.Logf("bare model: %.1f images/s at batch %d (%d threads, %s)", bare.BatchedPerS, bare.BatchedSize, bare.ModelThreads, bare.MachineSummary)
	b.ReportMetric(few.resultsPerS(), "results/s-8")
	b.ReportMetric(many.resultsPerS(), "results/s-400")
	b.ReportMetric(many.resultsPerS()/few.resultsPerS(), "400/8")
	b.ReportMetric(ms(quantile(few.latency, 0.5)), "p50-ms-8")
	b.ReportMetric(ms(quantile(few.latency, 0.99)), "p99-ms-8")
	b.ReportMetric(ms(quantile(few.latency, 0.99))/ms(quantile(few.latency, 0.5)), "p99/p50-8")
	b.ReportMetric(ms(quantile(many.latency, 0.5)), "p50-ms-400")
	b.ReportMetric(ms(quantile(many.latency, 0.99)), "p99-ms-400")
	b.ReportMetric(bare.BatchedPerS, "model-images/s")
	b.ReportMetric(few.resultsPerS()/bare.BatchedPerS, "system/model")
	b.ReportMetric(0, "ns/op")
}

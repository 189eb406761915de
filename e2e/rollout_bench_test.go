//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/webcamhub/webcamhub/contract"
)

const (
	// rolloutSessions at a webcam's pace, one frame in flight each: a steady
	// load well below what one worker can do, so latency is the frames' own.
	rolloutSessions = 8
	// rolloutBefore: the steady load measured before version 2 is copied in.
	rolloutBefore = 10 * time.Second
	// rolloutLoad bounds the whole load: the time before, the rollout (the
	// worker's 2 s repository poll and loading, the hub's 5 s model refresh,
	// twice) and at least 10 s after.
	rolloutLoad = 60 * time.Second
	// rolloutPoll: how often the benchmark asks the hub which versions it serves.
	rolloutPoll = 250 * time.Millisecond
	// rolloutFirstFrames: the first results of version 2 compared with the
	// steady p50 (issue 22: no slower than 2×).
	rolloutFirstFrames = 10
)

// rolloutFrame is what became of one frame of BenchmarkRollout.
type rolloutFrame struct {
	sentAt   time.Time
	took     time.Duration
	kind     string // answer kind; "" unanswered
	version  int    // a result's model version
	answered bool
}

// BenchmarkRollout: rolloutSessions sessions at a webcam's pace on model m
// (by name: its default version), one worker watching the repository with
// m/1. After rolloutBefore, m/2 (the same file) is copied in; once the hub
// advertises it as m's default, m/1 is removed. Result latency before,
// during (from the copy until the hub no longer lists version 1) and after;
// the first results of version 2 against the steady p50; and every frame
// not answered with a result (issue 22: none).
func BenchmarkRollout(b *testing.B) {
	frame := pageFrame(b)
	file := fastTFLiteModel(b)
	repo := modelRepository(b, map[string]string{"m": file})
	logMachine(b, "start")
	hub := startHub(b, hubOptions{extraEnv: loadGeneratorEnv("LOG_LEVEL=warn")})
	startRepositoryWorker(b, hub.nats, "bench-worker", repo, "", "--log-level", "info")
	waitModels(b, hub.base, map[string]bool{"m": true})

	var frames []rolloutFrame
	var start, copied, advertised, removed, gone, lastPoll time.Time
	tick := func(elapsed time.Duration) {
		now := time.Now()
		if start.IsZero() {
			start = now.Add(-elapsed)
		}
		switch {
		case copied.IsZero():
			if elapsed >= modelWarmup+rolloutBefore {
				addModelVersion(b, repo, "m", 2, file)
				copied = time.Now()
			}
			return
		case !gone.IsZero() || now.Sub(lastPoll) < rolloutPoll:
			return
		}
		lastPoll = now
		models, err := listModels(hub.base)
		if err != nil {
			b.Logf("listing models: %v", err)
			return
		}
		m := models["m"]
		switch {
		case advertised.IsZero() && m.Ready && m.DefaultVersion == 2:
			advertised = now
			if err := os.RemoveAll(filepath.Join(repo, "m", "1")); err != nil {
				b.Fatal(err)
			}
			removed = time.Now()
		case !advertised.IsZero() && !slices.Contains(m.Versions, "1"):
			gone = now
		}
	}
	err := putLoad(hub.base, loadSpec{sessions: rolloutSessions, inFlight: 1, frame: frame, model: "m", pace: webcamPace, d: rolloutLoad, tick: tick},
		func(o frameOutcome) {
			f := rolloutFrame{sentAt: o.sentAt, answered: o.answered}
			if o.answered {
				f.took, f.kind, f.version = o.at.Sub(o.sentAt), o.kind(), o.Version
			}
			frames = append(frames, f)
		})
	if err != nil {
		b.Fatal(err)
	}
	logMachine(b, "end")
	if advertised.IsZero() || gone.IsZero() {
		b.Fatalf("the rollout did not finish within the load: copied at %v, v2 advertised at %v, v1 gone at %v (since the load began)",
			since(start, copied), since(start, advertised), since(start, gone))
	}
	b.Logf("rollout (since the load began): m/2 copied in at %.1f s, advertised as m's default at %.1f s (%.1f s later), m/1 removed at %.1f s, no longer listed at %.1f s; the load ran %v",
		since(start, copied).Seconds(), since(start, advertised).Seconds(), advertised.Sub(copied).Seconds(), since(start, removed).Seconds(), since(start, gone).Seconds(), rolloutLoad)

	measureFrom := start.Add(modelWarmup)
	phases := []struct {
		name     string
		from, to time.Time
	}{
		{"before", measureFrom, copied},
		{"during", copied, gone},
		{"after", gone, start.Add(rolloutLoad)},
	}
	var before []time.Duration
	failed := map[string]int{}
	var v2 []rolloutFrame
	for _, f := range frames {
		if f.sentAt.Before(measureFrom) {
			continue
		}
		switch {
		case !f.answered:
			failed["unanswered"]++
			b.Logf("a frame sent at %.2f s unanswered", since(start, f.sentAt).Seconds())
		case f.kind != contract.TypeResult:
			failed[f.kind]++
			b.Logf("a frame sent at %.2f s answered %s after %.1f ms", since(start, f.sentAt).Seconds(), f.kind, ms(f.took))
		case f.version == 2:
			v2 = append(v2, f)
		}
	}
	p99 := map[string]float64{}
	for _, p := range phases {
		var latency []time.Duration
		perVersion := map[int]int{}
		sent := 0
		for _, f := range frames {
			if f.sentAt.Before(p.from) || !f.sentAt.Before(p.to) {
				continue
			}
			sent++
			if f.kind == contract.TypeResult {
				latency = append(latency, f.took)
				perVersion[f.version]++
			}
		}
		latency = sortedDurations(latency)
		if p.name == "before" {
			before = latency
		}
		p99[p.name] = ms(quantile(latency, 0.99))
		b.Logf("%s (%.1f s): %d frames sent, %d results (by version %v); result latency %s",
			p.name, p.to.Sub(p.from).Seconds(), sent, len(latency), perVersion, durationsMs(latency))
	}
	slices.SortFunc(v2, func(x, y rolloutFrame) int { return x.sentAt.Compare(y.sentAt) })
	first := make([]time.Duration, 0, rolloutFirstFrames)
	for _, f := range v2[:min(len(v2), rolloutFirstFrames)] {
		first = append(first, f.took)
	}
	// Version 1's results in the same moment: what the machine gave then.
	var v1Then []time.Duration
	if len(first) > 0 {
		from, to := v2[0].sentAt.Add(-time.Second), v2[len(first)-1].sentAt
		for _, f := range frames {
			if f.kind == contract.TypeResult && f.version == 1 && !f.sentAt.Before(from) && !f.sentAt.After(to) {
				v1Then = append(v1Then, f.took)
			}
		}
	}
	b.Logf("version 1's results sent from 1 s before the first of version 2 to the %dth: %s", len(first), durationsMs(v1Then))
	steady := ms(quantile(before, 0.5))
	slowest := ms(quantile(sortedDurations(first), 1))
	b.Logf("the first %d results of version 2: %s; the slowest is %.2f × the steady p50 %.1f ms (issue: ≤ 2)", len(first), durationsMs(first), slowest/steady, steady)
	b.Logf("p99 during / before: %.2f, after / before: %.2f (issue: during ≤ 1.5); frames not answered with a result (measured part): %v (issue: none)",
		p99["during"]/p99["before"], p99["after"]/p99["before"], failed)
	if len(failed) > 0 {
		b.Errorf("frames lost, failed or timed out during the rollout: %v", failed)
	}
	b.ReportMetric(p99["before"], "p99-before-ms")
	b.ReportMetric(p99["during"], "p99-during-ms")
	b.ReportMetric(p99["after"], "p99-after-ms")
	b.ReportMetric(p99["during"]/p99["before"], "p99-during/before")
	b.ReportMetric(slowest/steady, "v2-first/steady-p50")
	b.ReportMetric(advertised.Sub(copied).Seconds(), "copy-to-default-s")
	b.ReportMetric(0, "ns/op")
}

// since is how long after start t was; 0 when t is not set.
func since(start, t time.Time) time.Duration {
	if t.IsZero() {
		return 0
	}
	return t.Sub(start)
}

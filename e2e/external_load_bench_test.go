//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/webcamhub/webcamhub/contract"
)

// BenchmarkExternalHubLoad: the load generator against a hub that something
// else started (bench/gpu/run.sh on a lent GPU machine, where this runs as a
// test binary built by `go test -c`: no Go, no repository paths there).
// LOAD_HUB_URL (http://host:port, required), LOAD_FRAME (a JPEG file,
// required), LOAD_SESSIONS (default 2000), LOAD_IN_FLIGHT (default 1),
// LOAD_WARMUP and LOAD_MEASURE (Go durations, default 5s and 20s). Prints one
// JSON line, prefixed "LOAD ", that counts every answer by kind.
func BenchmarkExternalHubLoad(b *testing.B) {
	base := os.Getenv("LOAD_HUB_URL")
	if base == "" {
		b.Skip("LOAD_HUB_URL is not set: this benchmark loads a hub started outside it")
	}
	frame, err := os.ReadFile(os.Getenv("LOAD_FRAME"))
	if err != nil {
		b.Fatalf("LOAD_FRAME: %v", err)
	}
	sessions := envInt(b, "LOAD_SESSIONS", 2000)
	inFlight := envInt(b, "LOAD_IN_FLIGHT", 1)
	warmup := envDuration(b, "LOAD_WARMUP", 5*time.Second)
	measure := envDuration(b, "LOAD_MEASURE", 20*time.Second)
	for range b.N {
		r := runLoad(b, base, sessions, inFlight, frame, warmup, measure)
		line, err := json.Marshal(map[string]any{
			"sessions": sessions, "in_flight": inFlight, "seconds": measure.Seconds(),
			"results_per_s": r.resultsPerS(), "sent": r.sent, "answers": r.answers,
			"unanswered": r.unanswered(), "timeouts": r.answers[contract.TypeError+"/"+contract.CodeTimeout],
			"p50_ms": ms(quantile(r.latency, 0.5)), "p99_ms": ms(quantile(r.latency, 0.99)),
			"answered_p99_ms": ms(quantile(r.answered, 0.99)), "workers": len(r.workers),
		})
		if err != nil {
			b.Fatal(err)
		}
		fmt.Printf("LOAD %s\n", line)
	}
	b.ReportMetric(0, "ns/op")
}

func envInt(b testing.TB, key string, def int) int {
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q is not a positive integer", key, v)
	}
	return n
}

func envDuration(b testing.TB, key string, def time.Duration) time.Duration {
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		b.Fatalf("%s=%q is not a positive duration", key, v)
	}
	return d
}

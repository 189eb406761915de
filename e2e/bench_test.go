//go:build e2e

package e2e

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	fws "github.com/fasthttp/websocket"

	"github.com/webcamhub/webcamhub/internal/testkit"
)

// BenchmarkIdleSessionsMemory: the hub binary's resident memory with 1,000
// idle WebSocket sessions open (target: under 100 MB), then after each sent
// one 1 MB frame (target: at most 64 KB per idle session).
func BenchmarkIdleSessionsMemory(b *testing.B) {
	const sessions = 1000
	hub := startHub(b, hubOptions{extraEnv: loadGeneratorEnv("LOG_LEVEL=warn")})
	before := rssMB(b, hub.cmd.Process.Pid)
	conns := make([]*fws.Conn, 0, sessions)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	u := testkit.WebSocketURL(hub.base)
	for range sessions {
		c, _, err := fws.DefaultDialer.Dial(u, nil)
		if err != nil {
			b.Fatalf("session %d: %v", len(conns)+1, err)
		}
		if _, _, err := c.ReadMessage(); err != nil { // welcome
			b.Fatal(err)
		}
		conns = append(conns, c)
	}
	if open := metric(b, hub.metrics, "hub_sessions_open"); open != sessions {
		b.Fatalf("hub reports %d open sessions, want %d", open, sessions)
	}
	time.Sleep(2 * time.Second) // let the runtime settle (GC, scavenger)
	after := rssMB(b, hub.cmd.Process.Pid)
	b.ReportMetric(before, "rss-idle-MB")
	b.ReportMetric(after, "rss-1000-sessions-MB")
	b.ReportMetric((after-before)*1024/sessions, "KB/session")
	// Each session sends one frame of 1 MB (no worker runs: it is answered
	// unavailable) and is idle again; what the hub keeps of it is the cost.
	frame := append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, make([]byte, 1_000_000-4)...)
	for _, c := range conns {
		if err := c.WriteMessage(fws.BinaryMessage, frame); err != nil {
			b.Fatal(err)
		}
		if _, _, err := c.ReadMessage(); err != nil {
			b.Fatal(err)
		}
	}
	time.Sleep(5 * time.Second)
	afterLarge := rssMB(b, hub.cmd.Process.Pid)
	b.ReportMetric(afterLarge, "rss-after-1MB-each-MB")
	b.ReportMetric((afterLarge-before)*1024/sessions, "KB/session-after-1MB")
	b.ReportMetric(0, "ns/op")
}

func rssMB(b *testing.B, pid int) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) >= 2 && fields[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(fields[1], 64)
			return kb / 1024
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

// messagesSent is hub_frames_per_message as read now: the messages the hub
// sent to the workers and the frames in them (a batch carries several);
// zero from a hub built before it had the metric (a benchmark of an older
// build, HUB_BIN).
func messagesSent(t testing.TB, metricsBase string) (messages, frames float64) {
	f, ok := testkit.ScrapeMetrics(t, metricsBase+"/metrics")["hub_frames_per_message"]
	if !ok || len(f.GetMetric()) == 0 {
		return 0, 0
	}
	h := f.GetMetric()[0].GetHistogram()
	return float64(h.GetSampleCount()), h.GetSampleSum()
}

// metric reads a counter or gauge from the hub's metrics address (hubProc.metrics).
func metric(t testing.TB, metricsBase, name string) int {
	m := metricWith(t, testkit.ScrapeMetrics(t, metricsBase+"/metrics"), name, "", "")
	if c := m.GetCounter(); c != nil {
		return int(c.GetValue())
	}
	return int(m.GetGauge().GetValue())
}

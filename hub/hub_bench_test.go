package hub

import (
	"bytes"
	"encoding/json"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	fws "github.com/fasthttp/websocket"
	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/webcamhub/webcamhub/contract"
	"github.com/webcamhub/webcamhub/internal/testkit"
	"github.com/webcamhub/webcamhub/internal/testkit/testworker"
)

// The hub's own cost, measured against a bare NATS request/reply loop in
// the same run: a 15 KB frame over WebSocket → hub → NATS → an instant Go
// worker → NATS → hub → WebSocket. See docs/benchmarks.md.

const benchSessions = 50

// BenchmarkBareNATSRequestReply is the floor: the same frames as NATS
// requests straight to the worker, from benchSessions goroutines.
func BenchmarkBareNATSRequestReply(b *testing.B) {
	ns := startNATS(b, 0)
	startWorker(b, ns.ClientURL(), testworker.Options{})
	nc := testkit.ConnectNATS(b, ns.ClientURL())
	var mu sync.Mutex
	var lat []time.Duration
	b.SetBytes(int64(len(fakeJPEG)))
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	per := b.N/benchSessions + 1
	for s := range benchSessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, per)
			for i := range per {
				msg := nats.NewMsg(contract.InferSubject(testworker.DefaultModel.Name, testworker.DefaultModel.Version, contract.KindLive, fmt.Sprintf("bench%d", s)))
				msg.Header.Set(contract.HeaderFrameSeq, fmt.Sprint(i+1))
				msg.Data = fakeJPEG
				t0 := time.Now()
				if _, err := nc.RequestMsg(msg, 5*time.Second); err != nil {
					b.Error(err)
					return
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	report(b, len(lat), time.Since(start), lat)
}

// BenchmarkHubRoundTrip: benchSessions WebSocket sessions, each keeping
// FramesInFlight (2) frames outstanding, as fast as the hub answers.
func BenchmarkHubRoundTrip(b *testing.B) { benchRoundTrip(b) }

// BenchmarkHubPaced1000fps: 50 sessions at 20 frames/s each (1,000 frames/s
// in all) for five seconds; the latency under a realistic load.
func BenchmarkHubPaced1000fps(b *testing.B) {
	tracingOffAsByDefault(b)
	ns := startNATS(b, 0)
	startWorker(b, ns.ClientURL(), testworker.Options{})
	_, base := startHub(b, ns.ClientURL(), oneClientManySessions)
	conns := dialMany(b, base, benchSessions)
	b.ResetTimer()
	var lat []time.Duration
	start := time.Now()
	for range b.N {
		lat = append(lat, drive(b, conns, 100, 1, 50*time.Millisecond)...)
	}
	report(b, len(lat), time.Since(start), lat)
}

// tracingOffAsByDefault gives the hub the no-op tracer a hub without
// tracing runs with (startTracing): a test process's global provider is
// OpenTelemetry's default, whose spans are made (unrecorded) and allocated.
func tracingOffAsByDefault(b *testing.B) {
	useTracerProvider(b, noop.NewTracerProvider())
}

// oneClientManySessions lifts the per-address limits: a benchmark opens
// all its sessions from 127.0.0.1 at once.
func oneClientManySessions(c *Config) {
	c.MaxConnsPerClient = 100_000
	c.ConnectRatePerClient = 100_000
}

func dialMany(b *testing.B, base string, n int) []*fws.Conn {
	conns := make([]*fws.Conn, n)
	for i := range conns {
		c := dial(b, base, "", nil)
		c.Welcome()
		conns[i] = c.Conn
	}
	return conns
}

// drive sends frames on every connection, with at most window outstanding
// per connection and at least interval between sends, and returns the
// round-trip times.
func drive(b *testing.B, conns []*fws.Conn, frames, window int, interval time.Duration) []time.Duration {
	var mu sync.Mutex
	var all []time.Duration
	var wg sync.WaitGroup
	for ci, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sent := make(map[int64]time.Time, frames)
			lat := make([]time.Duration, 0, frames)
			slots := make(chan struct{}, window)
			done := make(chan struct{})
			go func() { // reader
				defer close(done)
				for range frames {
					_, data, err := c.ReadMessage()
					if err != nil {
						b.Error(err)
						return
					}
					var m struct {
						Type string `json:"type"`
						Seq  int64  `json:"seq"`
					}
					_ = json.Unmarshal(data, &m)
					if m.Type != contract.TypeResult {
						b.Errorf("answer %s", data)
						return
					}
					mu.Lock()
					lat = append(lat, time.Since(sent[m.Seq]))
					mu.Unlock()
					<-slots
				}
			}()
			// Sessions are not in step: each starts at its own offset within the interval.
			next := time.Now().Add(interval * time.Duration(ci) / time.Duration(len(conns)))
			for i := range frames {
				slots <- struct{}{}
				if interval > 0 {
					time.Sleep(time.Until(next))
					next = next.Add(interval)
				}
				mu.Lock()
				sent[connSeq(c)+int64(i)+1] = time.Now()
				mu.Unlock()
				if err := c.WriteMessage(fws.BinaryMessage, fakeJPEG); err != nil {
					b.Error(err)
					break
				}
			}
			<-done
			bumpSeq(c, int64(frames))
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return all
}

// The hub numbers frames per connection; drive may run several times on
// the same connections, so it keeps each connection's count here.
var (
	seqMu  sync.Mutex
	seqFor = map[*fws.Conn]int64{}
)

func connSeq(c *fws.Conn) int64 {
	seqMu.Lock()
	defer seqMu.Unlock()
	return seqFor[c]
}

func bumpSeq(c *fws.Conn, n int64) {
	seqMu.Lock()
	defer seqMu.Unlock()
	seqFor[c] += n
}

func report(b *testing.B, frames int, elapsed time.Duration, lat []time.Duration) {
	b.StopTimer()
	if len(lat) == 0 {
		return
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(frames)/elapsed.Seconds(), "frames/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkIdleSessionMemory: the hub's heap per idle session, with 1,000
// sessions open, first fresh and then after each sent one frame of 1 MB and
// read its answer (target: at most 64 KB per idle session). The clients
// live in the same process; their share is measured in the fresh phase and
// does not change when the hub's sessions do.
func BenchmarkIdleSessionMemory(b *testing.B) {
	const sessions = 1000
	ns := startNATS(b, 0)
	startWorker(b, ns.ClientURL(), testworker.Options{})
	_, base := startHub(b, ns.ClientURL(), oneClientManySessions)
	frame := append(bytes.Clone(fakeJPEG[:4]), bytes.Repeat([]byte{7}, 1_000_000-4)...)
	for range b.N {
		before := heapInUse()
		conns := dialMany(b, base, sessions)
		fresh := heapInUse()
		for _, c := range conns {
			if err := c.WriteMessage(fws.BinaryMessage, frame); err != nil {
				b.Fatal(err)
			}
			if _, data, err := c.ReadMessage(); err != nil || !bytes.Contains(data, []byte(`"result"`)) {
				b.Fatalf("answer %.80s, %v", data, err)
			}
		}
		after := heapInUse()
		b.ReportMetric(float64(fresh-before)/sessions/1024, "fresh-KB/session")
		b.ReportMetric(float64(after-before)/sessions/1024, "after-1MB-KB/session")
		for _, c := range conns {
			_ = c.Close()
		}
	}
	b.ReportMetric(0, "ns/op")
}

// heapInUse is the live heap after a full collection.
func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse)
}

// benchRoundTrip: benchSessions WebSocket sessions, each keeping
// FramesInFlight (2) frames outstanding, as fast as the hub answers.
func benchRoundTrip(b *testing.B) { benchRoundTripWith(b, testworker.Options{}) }

// BenchmarkHubRoundTripBatched is BenchmarkHubRoundTrip against a worker
// that takes up to 8 frames per message (frames_per_message): the frames
// that reach the hub's sender together go as one message. It also reports
// the frames per message and the CPU time of the whole process (hub, NATS
// server, Go worker and clients alike) per frame, to compare with
// BenchmarkHubRoundTripSingle run the same way.
func BenchmarkHubRoundTripBatched(b *testing.B) {
	benchRoundTripWith(b, testworker.Options{FramesPerMessage: 8})
}

// BenchmarkHubRoundTripSingle: BenchmarkHubRoundTripBatched's twin with a
// worker that takes single frames only, with the same extra figures.
func BenchmarkHubRoundTripSingle(b *testing.B) { benchRoundTripWith(b, testworker.Options{}) }

func benchRoundTripWith(b *testing.B, opts testworker.Options) {
	tracingOffAsByDefault(b)
	ns := startNATS(b, 0)
	w := startWorker(b, ns.ClientURL(), opts)
	h, base := startHub(b, ns.ClientURL(), func(c *Config) { oneClientManySessions(c); c.SessionFPS = 1e6 })
	waitFor(b, "the hub to know the worker", func() bool { _, err := h.models.lookup("", 0); return err == nil })
	conns := dialMany(b, base, benchSessions)
	b.SetBytes(int64(len(fakeJPEG)))
	messagesBefore := len(w.Messages())
	cpuBefore := processCPU()
	b.ResetTimer()
	start := time.Now()
	lat := drive(b, conns, b.N/benchSessions+1, 2, 0)
	elapsed := time.Since(start)
	cpu := processCPU() - cpuBefore
	report(b, len(lat), elapsed, lat)
	if messages := len(w.Messages()) - messagesBefore; messages > 0 && len(lat) > 0 {
		b.ReportMetric(float64(len(lat))/float64(messages), "frames/msg")
		b.ReportMetric(float64(cpu.Microseconds())/float64(len(lat)), "cpu-us/frame")
	}
}

// processCPU is the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

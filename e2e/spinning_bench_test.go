//go:build e2e

package e2e

import (
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	fws "github.com/fasthttp/websocket"

	"github.com/webcamhub/webcamhub/contract"
)

const (
	// spinningSessions: as many sessions that ignore rate_limited as polite
	// ones (issue 21 measured 8 such sessions).
	spinningSessions = 8
	// spinningRounds: the polite load alone and with the spinners alternate
	// this many times, so a shared machine's changing load falls on both.
	spinningRounds = 3
	// spinnerAddr is where the spinners connect from: another address than
	// the polite sessions' (127.0.0.1), so the hub's per-address connection
	// limits (left at their defaults) apply to the spinners' reconnecting
	// and not to the polite sessions.
	spinnerAddr = "127.0.0.2"
	// hubFrameCredit is the hub's frame credit (docs/protocol.md, "Frame
	// credit"): that many unreadable frames and a session's frames are
	// answered rate_limited before any worker sees them.
	hubFrameCredit = 5
)

// spinLoad is what the spinning sessions saw.
type spinLoad struct {
	connections int
	answers     map[string]int // "error/<code>", "result", "dropped/<reason>"
	closes      map[string]int // "<code> <text>"
}

// runSpinners runs n sessions until stopAt that ignore rate_limited: each
// spends its frame credit on unreadable frames (so that every later frame
// is refused by the hub, never taken from the workers the polite sessions
// share), then keeps two frames in flight, sending the next the moment an
// answer comes; closed, it connects again at once, as a hostile client
// would (from spinnerAddr: within that address's connection limits; a
// refused handshake is tried again after 10 ms).
func runSpinners(t testing.TB, base string, n int, frame []byte, stopAt time.Time) spinLoad {
	t.Helper()
	u := "ws" + strings.TrimPrefix(base, "http") + contract.WebSocketPath
	var mu sync.Mutex
	total := spinLoad{answers: map[string]int{}, closes: map[string]int{}}
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := spinLoad{answers: map[string]int{}, closes: map[string]int{}}
			for time.Now().Before(stopAt) {
				spinOnce(u, frame, stopAt, &local)
			}
			mu.Lock()
			defer mu.Unlock()
			total.connections += local.connections
			for k, v := range local.answers {
				total.answers[k] += v
			}
			for k, v := range local.closes {
				total.closes[k] += v
			}
		}()
	}
	wg.Wait()
	return total
}

// spinOnce is one connection of a spinner, until the hub closes it or stopAt.
func spinOnce(u string, frame []byte, stopAt time.Time, r *spinLoad) {
	dialer := *fws.DefaultDialer
	local := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(spinnerAddr)}}
	dialer.NetDialContext = local.DialContext
	c, resp, err := dialer.Dial(u, nil)
	if err != nil {
		why := err.Error()
		if resp != nil {
			why = resp.Status
		}
		r.closes["dial: "+why]++
		time.Sleep(10 * time.Millisecond)
		return
	}
	defer c.Close()
	r.connections++
	if _, _, err := c.ReadMessage(); err != nil { // welcome
		return
	}
	junk := []byte("not an image")
	for range hubFrameCredit {
		_ = c.WriteMessage(fws.BinaryMessage, junk)
	}
	for range 2 {
		_ = c.WriteMessage(fws.BinaryMessage, frame)
	}
	_ = c.SetReadDeadline(stopAt)
	for {
		_, data, err := c.ReadMessage()
		var ce *fws.CloseError
		if errors.As(err, &ce) {
			r.closes[ce.Error()]++
			return
		}
		if err != nil {
			return // stopAt
		}
		if m, ok := decodeAnswer(data); ok {
			key := m.Type
			if m.Code != "" {
				key += "/" + m.Code
			}
			r.answers[key]++
		}
		if c.WriteMessage(fws.BinaryMessage, frame) != nil {
			return
		}
	}
}

// BenchmarkSpinningSessions: the hub with its default limits, two workers,
// 8 polite sessions × 2 frames in flight (runLoad; under the hub's 60
// frames/s per session on 2 cores)
// alone, and the same with spinningSessions sessions that ignore
// rate_limited (runSpinners), alternated. A session that ignores
// rate_limited should cost only itself: the polite sessions' results/s with
// the spinners should be within 5 % of theirs alone. Run it with HUB_BIN
// set to an older hub for the before.
func BenchmarkSpinningSessions(b *testing.B) {
	frame := pageFrame(b)
	hub := startHub(b, hubOptions{extraEnv: []string{"LOG_LEVEL=error", "HUB_DISPATCH_WAIT=250ms"}})
	procs := map[string]*proc{"hub": hub.proc}
	for _, name := range []string{"bench-worker-1", "bench-worker-2"} {
		procs[name] = startWorker(b, hub.nats, name, "--log-level", "warning")
	}
	hub.waitFor(b, "/readyz?workers=1")
	var alone, beside sessionLoad
	spin := spinLoad{answers: map[string]int{}, closes: map[string]int{}}
	cpuAlone, cpuBeside := map[string]float64{}, map[string]float64{}
	measure := loadMeasure / spinningRounds
	for range spinningRounds {
		before := cpuSeconds(b, procs)
		alone.add(runLoad(b, hub.base, 8, 2, frame, loadWarmup/2, measure))
		mid := cpuSeconds(b, procs)
		stopAt := time.Now().Add(loadWarmup/2 + measure + time.Second) // past the polite load's end
		spun := make(chan spinLoad, 1)
		go func() { spun <- runSpinners(b, hub.base, spinningSessions, frame, stopAt) }()
		beside.add(runLoad(b, hub.base, 8, 2, frame, loadWarmup/2, measure))
		s := <-spun
		after := cpuSeconds(b, procs)
		spin.connections += s.connections
		for k, v := range s.answers {
			spin.answers[k] += v
		}
		for k, v := range s.closes {
			spin.closes[k] += v
		}
		for k := range after {
			cpuAlone[k] += mid[k] - before[k]
			cpuBeside[k] += after[k] - mid[k]
		}
	}
	zero := map[string]float64{}
	logLoad(b, "8 polite sessions × 2 in flight, alone", alone)
	b.Logf("CPU ms per result (warm-up included): %s", cpuPerResult(zero, cpuAlone, alone))
	logLoad(b, "the same beside 8 spinning sessions", beside)
	b.Logf("CPU ms per result (warm-up included, spinners' own in loadgen): %s", cpuPerResult(zero, cpuBeside, beside))
	spinSeconds := float64(spinningRounds) * (loadWarmup/2 + measure + time.Second).Seconds()
	b.Logf("spinners: %d connections, answers %v (%.0f rate_limited/s), closes %v",
		spin.connections, spin.answers, float64(spin.answers[contract.TypeError+"/"+contract.CodeRateLimited])/spinSeconds, spin.closes)
	if alone.answers[contract.TypeError+"/"+contract.CodeRateLimited] > 0 || beside.answers[contract.TypeError+"/"+contract.CodeRateLimited] > 0 {
		b.Logf("warning: the polite sessions were answered rate_limited themselves (a machine fast enough to pass 60 results/s per session)")
	}
	b.ReportMetric(alone.resultsPerS(), "results/s-alone")
	b.ReportMetric(beside.resultsPerS(), "results/s-beside-spinners")
	b.ReportMetric(beside.resultsPerS()/alone.resultsPerS(), "beside/alone")
	b.ReportMetric(float64(spin.answers[contract.TypeError+"/"+contract.CodeRateLimited])/spinSeconds, "spinner-rate_limited/s")
	b.ReportMetric(float64(spin.connections)/spinSeconds, "spinner-connections/s")
	b.ReportMetric(0, "ns/op")
}

//go:build e2e

package e2e

import (
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/webcamhub/webcamhub/contract"
	"github.com/webcamhub/webcamhub/internal/testkit"
)

// startNATSServer runs the real nats-server binary with JetStream.
func startNATSServer(t testing.TB) natsEndpoint {
	t.Helper()
	port := testkit.FreePort(t)
	startProc(t, "nats-server", nil, bin(t, "NATS_SERVER_BIN", "nats-server"),
		"-a", "127.0.0.1", "-p", strconv.Itoa(port), "-js", "-sd", t.TempDir())
	return natsEndpoint{url: "nats://127.0.0.1:" + strconv.Itoa(port)}
}

// Two hubs and two workers on one external nats-server: a streamer on hub A
// and a watcher on hub B both get the results, and the frames are spread
// over both workers.
func TestTwoHubsTwoWorkersOnExternalNATS(t *testing.T) {
	bus := startNATSServer(t)
	hubA := startHub(t, hubOptions{natsURL: bus.url})
	hubB := startHub(t, hubOptions{natsURL: bus.url})
	startWorker(t, bus, "worker-a")
	startWorker(t, bus, "worker-b")
	// Both workers up before frames go (the test wants both used): one
	// answering is what /readyz?workers=1 waits for, not two.
	hubA.waitWorkers(t, 2, startupWait)
	hubB.waitWorkers(t, 2, startupWait)

	streamer := dialHub(t, hubA.base, "")
	session := streamer.Welcome()
	watcher := dialHub(t, hubB.base, "?watch="+session)
	if m := watcher.Next(); m.Type != contract.TypeWelcome || m.Watching != session {
		t.Fatalf("watcher welcome: %+v", m)
	}
	cat := readImage(t, "cat.bmp")
	workers := map[string]int{}
	for seq := int64(1); seq <= 24; seq++ {
		streamer.SendFrame(cat)
		m := streamer.Next()
		if m.Type != contract.TypeResult || m.Seq != seq || m.Top() != "Egyptian cat" {
			t.Fatalf("streamer frame %d: %+v", seq, m)
		}
		workers[m.Worker]++
		w := watcher.Next()
		if w.Type != contract.TypeResult || w.Seq != seq || w.Session != session || w.Top() != "Egyptian cat" {
			t.Fatalf("watcher on hub B, frame %d: %+v", seq, w)
		}
	}
	if workers["worker-a"] == 0 || workers["worker-b"] == 0 {
		t.Fatalf("frames per worker %v: want both workers used", workers)
	}
}

// A worker killed while frames stream: frames it held are answered
// (timeout), none is lost, and later frames get results from the others.
func TestKilledWorkerFramesAreAnsweredAndStreamingGoesOn(t *testing.T) {
	bus := startNATSServer(t)
	hub := startHub(t, hubOptions{natsURL: bus.url, extraEnv: []string{"HUB_FRAME_TIMEOUT=2s", "HUB_FRAMES_IN_FLIGHT=4", "HUB_SESSION_FPS=1000"}})
	startWorker(t, bus, "worker-stays")
	doomed := startWorker(t, bus, "worker-killed", "--batch-wait-ms", "50")
	// Both up before frames go: with worker-stays still loading when the
	// other is killed, the frames retried after the kill find no worker
	// (unavailable), which is not what this test is about.
	hub.waitWorkers(t, 2, startupWait)

	c := dialHub(t, hub.base, "")
	c.Welcome()
	cat := readImage(t, "cat.bmp")
	const before, after = 12, 12
	answered := map[int64]string{}
	record := func(m message) {
		if prev, dup := answered[m.Seq]; dup {
			t.Fatalf("frame %d answered twice (%s, %+v)", m.Seq, prev, m)
		}
		switch {
		case m.Type == contract.TypeResult, m.Type == contract.TypeDropped, m.Type == contract.TypeError && m.Code == contract.CodeTimeout:
			answered[m.Seq] = m.Type + m.Code
		default:
			t.Fatalf("unexpected answer %+v", m)
		}
	}
	// Keep four frames in flight, kill one worker in the middle.
	seq := int64(0)
	for seq < before {
		seq++
		c.SendFrame(cat)
	}
	if err := doomed.stop(syscall.SIGKILL); err == nil {
		t.Log("worker exited cleanly?")
	}
	for seq < before+after {
		seq++
		c.SendFrame(cat)
		time.Sleep(20 * time.Millisecond)
	}
	for len(answered) < before+after {
		record(c.Next())
	}
	// After the kill (and its in-flight frames' deadline), frames are classified.
	c.SendFrame(cat)
	m := c.Next()
	if m.Type != contract.TypeResult || m.Worker != "worker-stays" || m.Top() != "Egyptian cat" {
		t.Fatalf("after the kill: %+v, want a result from worker-stays", m)
	}
	results := 0
	for _, a := range answered {
		if a == contract.TypeResult {
			results++
		}
	}
	if results == 0 {
		t.Fatalf("answers %v: no results at all", answered)
	}
}

// One session floods as fast as it can; another, polite one is still served:
// each of its frames gets a result, none times out.
func TestFloodingSessionDoesNotStarveAnother(t *testing.T) {
	hub := startHub(t, hubOptions{extraEnv: []string{"HUB_SESSION_FPS=10000"}})
	startWorker(t, hub.nats, "worker-fair")
	hub.waitFor(t, "/readyz?workers=1")
	cat := readImage(t, "cat.bmp")
	parrot := readImage(t, "parrot.jpg")

	flooder := dialHub(t, hub.base, "")
	flooder.Welcome()
	stop := make(chan struct{})
	flooded := make(chan map[string]int, 1)
	go func() { // reader: the flooder reads its answers, it only sends too many
		counts := map[string]int{}
		for {
			m, err := flooder.Read(answerWait)
			if err != nil {
				flooded <- counts
				return
			}
			counts[m.Type+m.Code]++
		}
	}()
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
				if flooder.Conn.WriteMessage(2, cat) != nil {
					return
				}
				time.Sleep(2 * time.Millisecond)
			}
		}
	}()

	polite := dialHub(t, hub.base, "")
	polite.Welcome()
	for seq := int64(1); seq <= 10; seq++ {
		polite.SendFrame(parrot)
		if m := polite.Next(); m.Type != contract.TypeResult || m.Seq != seq || m.Top() != "macaw" {
			t.Fatalf("polite frame %d while another session floods: %+v", seq, m)
		}
	}
	close(stop)
	_ = flooder.Conn.Close()
	counts := <-flooded
	if counts[contract.TypeDropped] == 0 || counts[contract.TypeResult] == 0 {
		t.Fatalf("flooder answers %v: want results and dropped frames (it sent more than its share)", counts)
	}
}

//go:build e2e

package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/webcamhub/webcamhub/contract"
)

// A flood far past what one small worker can take: every frame still gets
// exactly one answer (a result, dropped or an error; none silent), and
// frames past saturation are shed as dropped/overloaded by the hub.
func TestFloodIsShedAndEveryFrameIsAnswered(t *testing.T) {
	hub := startHub(t, hubOptions{extraEnv: loadGeneratorEnv(
		"HUB_SESSION_FPS=100000", "HUB_FRAMES_IN_FLIGHT=2", "HUB_DISPATCH_WAIT=20ms")})
	// One frame at a time in the model, two held: full at once under the flood.
	startWorker(t, hub.nats, "worker-small", "--batch-max", "1", "--capacity", "2")
	hub.waitFor(t, "/readyz?workers=1")

	r := runLoad(t, hub.base, 30, 2, pageFrame(t), 0, 3*time.Second)
	logLoad(t, "flood", r)
	if r.sent == 0 || r.unanswered() != 0 {
		t.Fatalf("%d frames sent, %d never answered", r.sent, r.unanswered())
	}
	overloaded := "dropped/" + contract.DroppedOverloaded
	for answer := range r.answers {
		switch answer {
		case contract.TypeResult, overloaded, "dropped/" + contract.DroppedSuperseded, "error/" + contract.CodeTimeout:
		default:
			t.Errorf("unexpected answer %q (%d times)", answer, r.answers[answer])
		}
	}
	if r.answers[contract.TypeResult] == 0 || r.answers[overloaded] == 0 {
		t.Fatalf("answers %v: want results and frames shed as %s", r.answers, overloaded)
	}
	if shed := metric(t, hub.metrics, "hub_frames_shed_total"); shed < r.answers[overloaded] {
		t.Fatalf("hub_frames_shed_total %d, but %d frames were answered %s", shed, r.answers[overloaded], overloaded)
	}
	// The system is still well: a polite frame afterwards gets its result.
	c := dialHub(t, hub.base, "")
	c.Welcome()
	c.SendFrame(readImage(t, "cat.bmp"))
	if m := c.Next(); m.Type != contract.TypeResult || m.Top() != "Egyptian cat" {
		t.Fatalf("after the flood: %+v", m)
	}
}

// Frames whose deadline passes while they wait at the worker are neither
// decoded nor inferred: the worker counts them (its stop log), and the hub
// has answered each one itself.
func TestExpiredFramesAreNotInferred(t *testing.T) {
	// 10 ms is about one model call: of eight frames queued at the worker
	// (one model call at a time), the later ones expire even on a fast machine.
	hub := startHub(t, hubOptions{extraEnv: loadGeneratorEnv(
		"HUB_SESSION_FPS=100000", "HUB_FRAMES_IN_FLIGHT=8", "HUB_FRAME_TIMEOUT=10ms", "HUB_DISPATCH_WAIT=10ms")})
	worker := startWorker(t, hub.nats, "worker-late", "--batch-max", "1", "--capacity", "8")
	hub.waitFor(t, "/readyz?workers=1")

	r := runLoad(t, hub.base, 1, 8, readImage(t, "cat.bmp"), 0, 2*time.Second)
	logLoad(t, "10 ms deadline", r)
	if r.unanswered() != 0 || r.answers["error/"+contract.CodeTimeout] == 0 {
		t.Fatalf("answers %v, %d unanswered: want every frame answered, some with timeout", r.answers, r.unanswered())
	}
	if err := worker.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("worker exit: %v", err)
	}
	stopped := workerLogLine(t, worker, "stopped")
	expired, answered := int(stopped["expired"].(float64)), int(stopped["answered"].(float64))
	if expired == 0 {
		t.Fatalf("worker stop log %v: no frame expired", stopped)
	}
	// Every result the client got was inferred; the expired ones were not.
	if results := r.answers[contract.TypeResult]; answered < results {
		t.Fatalf("worker answered %d frames, the client got %d results", answered, results)
	}
	t.Logf("worker: %d answered, %d expired (not inferred)", answered, expired)
}

// workerLogLine is the last JSON log line of p whose msg is msg.
func workerLogLine(t *testing.T, p *proc, msg string) map[string]any {
	t.Helper()
	f, err := os.Open(p.log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var found map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, strconv.Quote(msg)) {
			continue
		}
		var entry map[string]any
		if json.Unmarshal([]byte(line), &entry) == nil && entry["msg"] == msg {
			found = entry
		}
	}
	if found == nil {
		t.Fatalf("%s logged no %q", p.name, msg)
	}
	return found
}

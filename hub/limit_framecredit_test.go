package hub

import (
	"bytes"
	"testing"
	"time"

	"github.com/webcamhub/webcamhub/contract"
	"github.com/webcamhub/webcamhub/internal/testkit/testworker"
)

// Frames a worker must refuse, or takes long to decode, are marked for
// the test worker by their first bytes after the JPEG magic.
var (
	junkFrame      = markedFrame('J')
	expensiveFrame = markedFrame('X')
	// Decoded in 1.3 s by a worker that does not report the CPU time.
	expensiveOnAnOlderWorker = markedFrame('O')
	// Decoded in 1.3 s on the clock but 2 ms of CPU: a busy worker.
	cheapOnABusyWorker = markedFrame('B')
)

func markedFrame(mark byte) []byte {
	return append([]byte{0xFF, 0xD8, 0xFF, mark}, bytes.Repeat([]byte{1}, 500)...)
}

func judge(image []byte) (string, contract.Timing) {
	switch image[3] {
	case 'J':
		return contract.CodeBadImage, contract.Timing{}
	case 'X':
		return "", contract.Timing{DecodeMs: 1300, DecodeCPUMs: 1290} // a decode bomb's 1.3 s
	case 'O':
		return "", contract.Timing{DecodeMs: 1300}
	case 'B':
		return "", contract.Timing{DecodeMs: 1300, DecodeCPUMs: 2}
	}
	return "", contract.Timing{DecodeMs: 2, DecodeCPUMs: 2}
}

// answers sends each frame and reads its answer, counting answers by type+code.
func answers(t *testing.T, base string, frames ...[]byte) map[string]int {
	t.Helper()
	c := dial(t, base, "", nil)
	c.Welcome()
	got := map[string]int{}
	for i, f := range frames {
		c.SendFrame(f)
		m := c.Next()
		if m.Seq != int64(i+1) {
			t.Fatalf("frame %d answered %+v", i+1, m)
		}
		got[m.Type+" "+m.Code]++
	}
	return got
}

func repeat(frame []byte, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = frame
	}
	return out
}

// A session whose frames keep being refused or cost seconds of decoding is
// slowed with rate_limited before its frames reach a worker; another
// session on the same hub is served as before. (The frames are sent one
// after another faster than a second, so credit hardly grows back.)
func TestSessionWhoseFramesKeepFailingIsSlowedAlone(t *testing.T) {
	ns := startNATS(t, 0)
	w := startWorker(t, ns.ClientURL(), testworker.Options{Judge: judge})
	_, base := startHub(t, ns.ClientURL(), func(c *Config) { c.SessionFPS = 1000 })
	bomb := pngHeaderOnly(6300, 6300, 16, 6) // refused by the hub's header check

	for name, c := range map[string]struct {
		frame         []byte
		answer        string
		maxToAWorker  int64
		minAnswerSeen int
	}{
		"hub refuses (decode bomb header)": {bomb, "error " + contract.CodeTooLarge, 0, creditBurst},
		"worker refuses (junk)":            {junkFrame, "error " + contract.CodeBadImage, creditBurst + 2, creditBurst},
		"worker decodes for 1.3 s":         {expensiveFrame, "result ", 3, 1},
		"older worker decodes for 1.3 s":   {expensiveOnAnOlderWorker, "result ", 3, 1},
	} {
		before := w.Frames()
		got := answers(t, base, repeat(c.frame, 30)...)
		if got["error "+contract.CodeRateLimited] < 20 || got[c.answer] < c.minAnswerSeen {
			t.Errorf("%s: 30 frames answered %v; want %d+ %q, then rate_limited", name, got, c.minAnswerSeen, c.answer)
		}
		if n := w.Frames() - before; n > c.maxToAWorker {
			t.Errorf("%s: %d of 30 frames reached the worker, want at most %d", name, n, c.maxToAWorker)
		}
		if polite := answers(t, base, repeat(fakeJPEG, 30)...); polite["result "] != 30 {
			t.Errorf("after %s in another session, a polite session's 30 frames: %v", name, polite)
		}
	}
}

// A session is charged for the CPU its frames' decoding took, not for the
// waits of a busy worker: 30 frames each decoded in 1.3 s on the clock but
// 2 ms of CPU are all answered with results.
func TestSessionIsNotChargedForABusyWorkersWaits(t *testing.T) {
	ns := startNATS(t, 0)
	w := startWorker(t, ns.ClientURL(), testworker.Options{Judge: judge})
	_, base := startHub(t, ns.ClientURL(), func(c *Config) { c.SessionFPS = 1000 })
	if got := answers(t, base, repeat(cheapOnABusyWorker, 30)...); got["result "] != 30 || w.Frames() != 30 {
		t.Fatalf("30 frames of 2 ms CPU each, 1.3 s on the clock: answered %v, %d at the worker; want 30 results", got, w.Frames())
	}
}

// A frame whose header promises an expensive decode is paid for before it
// is sent, so it costs its session even when it never comes back: with the
// header cap lifted, one bomb reaches a worker that hangs on it, the next
// nine are rate_limited.
func TestExpensiveFrameIsChargedBeforeItIsSent(t *testing.T) {
	ns := startNATS(t, 0)
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) })
	w := startWorker(t, ns.ClientURL(), testworker.Options{Hold: hold})
	_, base := startHub(t, ns.ClientURL(), func(c *Config) {
		c.MaxDecodedBytes = 1 << 30
		c.FrameTimeout = 200 * time.Millisecond
	})
	got := answers(t, base, repeat(pngHeaderOnly(6300, 6300, 16, 6), 10)...)
	if got["error "+contract.CodeRateLimited] != 9 || got["error "+contract.CodeTimeout] != 1 || w.Frames() != 1 {
		t.Fatalf("10 bombs answered %v with %d at the worker; want 1 sent (and timed out), 9 rate_limited", got, w.Frames())
	}
}

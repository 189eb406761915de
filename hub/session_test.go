package hub

import (
	"bytes"
	"encoding/base64"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/webcamhub/webcamhub/contract"
	"github.com/webcamhub/webcamhub/internal/testkit"
	"github.com/webcamhub/webcamhub/internal/testkit/testworker"
)

func TestWelcomeThenResultsInSeqOrder(t *testing.T) {
	ns := startNATS(t, 0)
	startWorker(t, ns.ClientURL(), testworker.Options{})
	_, base := startHub(t, ns.ClientURL(), nil)

	c := dial(t, base, "", nil)
	session := c.Welcome()
	for seq := int64(1); seq <= 5; seq++ {
		c.SendFrame(fakeJPEG)
		m := c.Next()
		if m.Type != contract.TypeResult || m.Seq != seq || m.Session != session {
			t.Fatalf("answer to frame %d = %+v, want a result for seq %d of %s", seq, m, seq, session)
		}
		if len(m.Predictions) != 3 || m.Predictions[0].Label != "Egyptian cat" {
			t.Fatalf("predictions = %+v", m.Predictions)
		}
	}
}

func TestBase64FrameMessageCountsInTheSameSequence(t *testing.T) {
	ns := startNATS(t, 0)
	startWorker(t, ns.ClientURL(), testworker.Options{})
	_, base := startHub(t, ns.ClientURL(), nil)

	c := dial(t, base, "", nil)
	c.Welcome()
	c.SendFrame(fakeJPEG)
	if m := c.Next(); m.Type != contract.TypeResult || m.Seq != 1 {
		t.Fatalf("got %+v, want result 1", m)
	}
	c.SendText(`{"type":"frame","image":"` + base64.StdEncoding.EncodeToString(fakeJPEG) + `"}`)
	if m := c.Next(); m.Type != contract.TypeResult || m.Seq != 2 {
		t.Fatalf("got %+v, want result 2", m)
	}
}

func TestSessionsNeverSeeEachOthersResults(t *testing.T) {
	ns := startNATS(t, 0)
	startWorker(t, ns.ClientURL(), testworker.Options{Delay: 2 * time.Millisecond})
	_, base := startHub(t, ns.ClientURL(), func(c *Config) { c.SessionFPS = 10000 })

	const frames = 30
	type outcome struct {
		session string
		got     []testkit.Message
		err     string
	}
	results := make(chan outcome, 2)
	for range 2 {
		c := dial(t, base, "", nil)
		go func() {
			o := outcome{}
			m, err := c.Read(testWait)
			if err != nil || m.Type != contract.TypeWelcome {
				o.err = "no welcome"
				results <- o
				return
			}
			o.session = m.Session
			for range frames {
				if err := c.Conn.WriteMessage(2, fakeJPEG); err != nil {
					o.err = err.Error()
					results <- o
					return
				}
				m, err := c.Read(testWait)
				if err != nil {
					o.err = err.Error()
					break
				}
				o.got = append(o.got, m)
			}
			results <- o
		}()
	}
	sessions := map[string]bool{}
	for range 2 {
		o := <-results
		if o.err != "" {
			t.Fatal(o.err)
		}
		sessions[o.session] = true
		for i, m := range o.got {
			if m.Type != contract.TypeResult || m.Session != o.session || m.Seq != int64(i+1) {
				t.Fatalf("session %s got %+v as answer %d", o.session, m, i+1)
			}
		}
	}
	if len(sessions) != 2 {
		t.Fatalf("sessions %v, want two distinct ids", sessions)
	}
}

// A worker slower than the client: frames beyond the in-flight bound wait,
// the newest replaces older waiting ones (answered "dropped"), every frame
// gets exactly one answer, and the worker never holds more than the bound.
func TestSlowWorkerNewestFrameWinsAndEveryFrameIsAnswered(t *testing.T) {
	ns := startNATS(t, 0)
	w := startWorker(t, ns.ClientURL(), testworker.Options{Delay: 100 * time.Millisecond})
	h, base := startHub(t, ns.ClientURL(), func(c *Config) { c.FramesInFlight = 2; c.SessionFPS = 10000 })

	c := dial(t, base, "", nil)
	session := c.Welcome()
	const frames = 40
	for range frames {
		c.SendFrame(fakeJPEG)
	}
	answered := map[int64]string{}
	for len(answered) < frames {
		m := c.Next()
		if m.Seq < 1 || m.Seq > frames {
			t.Fatalf("answer for unknown frame: %+v", m)
		}
		if prev, dup := answered[m.Seq]; dup {
			t.Fatalf("frame %d answered twice: %s then %+v", m.Seq, prev, m)
		}
		if m.Type == contract.TypeDropped && m.Reason != contract.DroppedSuperseded {
			t.Fatalf("dropped for reason %q", m.Reason)
		}
		answered[m.Seq] = m.Type
	}
	var results, dropped int
	for _, kind := range answered {
		switch kind {
		case contract.TypeResult:
			results++
		case contract.TypeDropped:
			dropped++
		default:
			t.Fatalf("unexpected answer %q", kind)
		}
	}
	if dropped == 0 || results < 2 {
		t.Fatalf("results %d, dropped %d: want both", results, dropped)
	}
	if answered[frames] != contract.TypeResult {
		t.Fatalf("the newest frame was %s, want result", answered[frames])
	}
	if got := w.MaxBusy(session); got > 2 {
		t.Fatalf("worker held %d frames of the session at once, want at most 2", got)
	}
	if got := int(testutil.ToFloat64(h.Metrics().Dropped)); got != dropped {
		t.Fatalf("dropped counter = %d, want %d", got, dropped)
	}
}

func TestFrameDeadlineAnswersTimeout(t *testing.T) {
	ns := startNATS(t, 0)
	hold := make(chan struct{})
	startWorker(t, ns.ClientURL(), testworker.Options{Hold: hold})
	t.Cleanup(func() { close(hold) })
	_, base := startHub(t, ns.ClientURL(), func(c *Config) { c.FrameTimeout = 200 * time.Millisecond })

	c := dial(t, base, "", nil)
	c.Welcome()
	c.SendFrame(fakeJPEG)
	if m := c.Next(); m.Type != contract.TypeError || m.Code != contract.CodeTimeout || m.Seq != 1 {
		t.Fatalf("got %+v, want timeout error for seq 1", m)
	}
}

func TestOversizeFrameIsAnsweredAndConnectionStaysUsable(t *testing.T) {
	ns := startNATS(t, 0)
	startWorker(t, ns.ClientURL(), testworker.Options{})
	_, base := startHub(t, ns.ClientURL(), func(c *Config) { c.MaxFrameBytes = 20_000 })

	c := dial(t, base, "", nil)
	c.Welcome()
	big := append([]byte{0xFF, 0xD8, 0xFF}, bytes.Repeat([]byte{1}, 50_000)...)
	c.SendFrame(big)
	if m := c.Next(); m.Type != contract.TypeError || m.Code != contract.CodeTooLarge || m.Seq != 1 {
		t.Fatalf("got %+v, want too_large for seq 1", m)
	}
	c.SendFrame(fakeJPEG)
	if m := c.Next(); m.Type != contract.TypeResult || m.Seq != 2 {
		t.Fatalf("got %+v, want result for seq 2", m)
	}
}

func TestNotAnImageIsBadImage(t *testing.T) {
	ns := startNATS(t, 0)
	w := startWorker(t, ns.ClientURL(), testworker.Options{})
	_, base := startHub(t, ns.ClientURL(), nil)

	c := dial(t, base, "", nil)
	c.Welcome()
	c.SendFrame([]byte("definitely not an image"))
	if m := c.Next(); m.Type != contract.TypeError || m.Code != contract.CodeBadImage || m.Seq != 1 {
		t.Fatalf("got %+v, want bad_image for seq 1", m)
	}
	if w.Frames() != 0 {
		t.Fatalf("the worker saw %d frames; the hub should have refused it", w.Frames())
	}
}

func TestMalformedControlMessagesAnswerErrorAndKeepTheConnection(t *testing.T) {
	ns := startNATS(t, 0)
	startWorker(t, ns.ClientURL(), testworker.Options{})
	_, base := startHub(t, ns.ClientURL(), nil)

	c := dial(t, base, "", nil)
	c.Welcome()
	for _, bad := range []string{`{not json`, `{"type":"teleport"}`, `{"type":"options","topK":99}`, `[]`} {
		c.SendText(bad)
		if m := c.Next(); m.Type != contract.TypeError || m.Code != contract.CodeBadRequest || m.Message == "" {
			t.Fatalf("%s: got %+v, want bad_request", bad, m)
		}
	}
	c.SendText(`{"type":"ping","id":7}`)
	if m := c.Next(); m.Type != contract.TypePong {
		t.Fatalf("got %+v, want pong", m)
	}
	c.SendFrame(fakeJPEG)
	if m := c.Next(); m.Type != contract.TypeResult || m.Seq != 1 {
		t.Fatalf("got %+v, want result 1", m)
	}
}

func TestSessionFrameRateIsLimited(t *testing.T) {
	ns := startNATS(t, 0)
	startWorker(t, ns.ClientURL(), testworker.Options{})
	_, base := startHub(t, ns.ClientURL(), func(c *Config) { c.SessionFPS = 2 })

	c := dial(t, base, "", nil)
	c.Welcome()
	for range 6 {
		c.SendFrame(fakeJPEG)
	}
	limited := 0
	for range 6 {
		m := c.Next()
		if m.Type == contract.TypeError && m.Code == contract.CodeRateLimited {
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("six frames at once at 2 frames/s: none was rate_limited")
	}
}

// A client that stops reading is closed with CloseSlowClient, not waited on.
func TestSlowClientIsClosedWithTypedCode(t *testing.T) {
	ns := startNATS(t, 0)
	startWorker(t, ns.ClientURL(), testworker.Options{Pad: 256 << 10})
	h, base := startHub(t, ns.ClientURL(), func(c *Config) {
		c.SendQueue = 4
		c.FramesInFlight = 8
		c.SessionFPS = 10000
	})

	c := dial(t, base, "", nil)
	c.Welcome()
	// 200 results of 256 KiB (50 MiB) are far more than the socket buffers
	// hold while this client does not read. It stops sending once the hub has
	// closed it: frames still arriving after the hub's close grace make the
	// hub's socket reset, which discards the close frame unread.
	for range 200 {
		if testutil.ToFloat64(h.Metrics().SlowClientsClosed) > 0 || c.Conn.WriteMessage(2, fakeJPEG) != nil {
			break // the hub has closed us
		}
		time.Sleep(time.Millisecond)
	}
	if code := c.CloseCode(); code != contract.CloseSlowClient {
		t.Fatalf("close code %d, want %d", code, contract.CloseSlowClient)
	}
	if testutil.ToFloat64(h.Metrics().SlowClientsClosed) != 1 {
		t.Fatalf("slow clients counted %v, want 1", testutil.ToFloat64(h.Metrics().SlowClientsClosed))
	}
}

// A client that sends frames but never reads is closed as slow even while
// everything sent to it still fits the kernel's socket buffers (here about
// 600 KB of results: no write ever blocks).
func TestClientThatNeverReadsIsClosedWhileTheKernelStillBuffers(t *testing.T) {
	ns := startNATS(t, 0)
	startWorker(t, ns.ClientURL(), testworker.Options{Pad: 1000})
	h, base := startHub(t, ns.ClientURL(), func(c *Config) {
		c.SessionFPS = 10000
		c.WriteTimeout = 300 * time.Millisecond
	})

	c := dial(t, base, "", nil)
	c.Welcome()
	const frames = 450 // results of about 1.3 KB
	for range frames {
		if testutil.ToFloat64(h.Metrics().SlowClientsClosed) > 0 || c.Conn.WriteMessage(2, fakeJPEG) != nil {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	waitFor(t, "the non-reading client to be closed", func() bool { return testutil.ToFloat64(h.Metrics().SlowClientsClosed) == 1 })
	if code := c.CloseCode(); code != contract.CloseSlowClient {
		t.Fatalf("close code %d, want %d", code, contract.CloseSlowClient)
	}
}

// A client that reads is asked for proof now and then and is never closed,
// however much it is sent.
func TestReadingClientIsNotClosedAfterManyBytes(t *testing.T) {
	ns := startNATS(t, 0)
	startWorker(t, ns.ClientURL(), testworker.Options{Pad: 64 << 10})
	// Generous: a pause of the test process on a busy machine must not read as a client that stopped reading.
	h, base := startHub(t, ns.ClientURL(), func(c *Config) { c.WriteTimeout = 3 * time.Second })

	c := dial(t, base, "", nil)
	c.Welcome()
	for seq := int64(1); seq <= 40; seq++ { // 2.6 MB, ten probes
		c.SendFrame(fakeJPEG)
		if m := c.Next(); m.Type != contract.TypeResult || m.Seq != seq {
			t.Fatalf("frame %d: %+v", seq, m)
		}
	}
	if n := testutil.ToFloat64(h.Metrics().SlowClientsClosed); n != 0 {
		t.Fatalf("a reading client was closed as slow")
	}
}

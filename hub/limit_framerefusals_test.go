package hub

import (
	"errors"
	"testing"
	"time"

	fws "github.com/fasthttp/websocket"

	"github.com/webcamhub/webcamhub/contract"
	"github.com/webcamhub/webcamhub/internal/testkit"
	"github.com/webcamhub/webcamhub/internal/testkit/testworker"
)

// rateLimitedClosed reads the counter from the hub's metrics address (serveMetrics).
func rateLimitedClosed(t *testing.T, metricsBase, reason string) float64 {
	t.Helper()
	return counter(t, testkit.ScrapeMetrics(t, metricsBase+"/metrics"), "hub_rate_limited_closed_total", map[string]string{"reason": reason})
}

// A session that sends its next frame the moment an answer comes, far past
// its frame rate, is closed with 4029 and the frames text after about
// frameRefusalsBeforeClose refusals, and the close is counted.
func TestSessionSpinningOnRateLimitedIsClosed(t *testing.T) {
	ns := startNATS(t, 0)
	startWorker(t, ns.ClientURL(), testworker.Options{})
	h, base := startHub(t, ns.ClientURL(), func(c *Config) { c.SessionFPS = 2 })
	metricsBase := serveMetrics(t, h)

	c := dial(t, base, "", nil)
	c.Welcome()
	for range 2 { // two in flight
		c.SendFrame(fakeJPEG)
	}
	answers := map[string]int{}
	var closeErr *fws.CloseError
	for {
		m, err := c.Read(testWait)
		if errors.As(err, &closeErr) {
			break
		}
		if err != nil {
			t.Fatalf("after answers %v: %v, want a close frame", answers, err)
		}
		answers[m.Type+" "+m.Code]++
		_ = c.Conn.WriteMessage(fws.BinaryMessage, fakeJPEG) // the next frame, whatever the answer
	}
	if closeErr.Code != contract.CloseRateLimited || closeErr.Text != contract.CloseTextFrames {
		t.Fatalf("closed with %d %q, want %d %q", closeErr.Code, closeErr.Text, contract.CloseRateLimited, contract.CloseTextFrames)
	}
	refused := answers[contract.TypeError+" "+contract.CodeRateLimited]
	if refused < frameRefusalsBeforeClose || answers[contract.TypeResult+" "] == 0 {
		t.Fatalf("answers before the close %v: want results, then at least %d rate_limited", answers, frameRefusalsBeforeClose)
	}
	if got := rateLimitedClosed(t, metricsBase, "frames"); got != 1 {
		t.Fatalf("hub_rate_limited_closed_total{reason=frames} = %v, want 1", got)
	}
}

// A client that overshoots its frame rate in a burst (most of it answered
// rate_limited) and then sends within its rate is not closed.
func TestSessionThatBacksOffAfterRateLimitedStaysOpen(t *testing.T) {
	ns := startNATS(t, 0)
	startWorker(t, ns.ClientURL(), testworker.Options{})
	const fps = 10
	h, base := startHub(t, ns.ClientURL(), func(c *Config) {
		c.SessionFPS = fps
		// The burst's answers all fit the send queue: the client reads them
		// only once it has sent the burst (not a slow client).
		c.SendQueue = 2 * frameRefusalsBeforeClose
	})
	metricsBase := serveMetrics(t, h)

	c := dial(t, base, "", nil)
	c.Welcome()
	// A burst of frames at once: the first second's worth is taken, nearly
	// all of the rest refused, fewer than frameRefusalsBeforeClose.
	const burst = frameRefusalsBeforeClose - 10
	for range burst {
		c.SendFrame(fakeJPEG)
	}
	refused := 0
	for range burst {
		if m := c.Next(); m.Type == contract.TypeError && m.Code == contract.CodeRateLimited {
			refused++
		}
	}
	if refused < burst-2*fps {
		t.Fatalf("%d frames at once at %d frames/s: %d rate_limited, want at least %d", burst, fps, refused, burst-2*fps)
	}
	// Backed off: half the rate, one frame in flight, for two seconds.
	for range 2 * fps / 2 {
		time.Sleep(2 * time.Second / fps)
		c.SendFrame(fakeJPEG)
		if m := c.Next(); m.Type != contract.TypeResult {
			t.Fatalf("after backing off: got %+v, want a result", m)
		}
	}
	c.SendText(`{"type":"ping","id":1}`)
	if m := c.Next(); m.Type != contract.TypePong {
		t.Fatalf("after backing off: got %+v, want pong (the session open)", m)
	}
	if got := rateLimitedClosed(t, metricsBase, "frames"); got != 0 {
		t.Fatalf("hub_rate_limited_closed_total{reason=frames} = %v, want 0", got)
	}
}

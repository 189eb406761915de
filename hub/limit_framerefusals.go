package hub

import (
	"time"

	"golang.org/x/time/rate"
)

const (
	// frameRefusalsBeforeClose is how many frames a session may have answered
	// rate_limited by the hub, beyond frameRefusalsPerSecond, before it is
	// closed (4029, CloseTextFrames): two seconds of the default frame cap
	// (HUB_SESSION_FPS 60). The page never gets near it: its adaptive rate
	// halves on every rate_limited and stays under 30 frames/s, and even a
	// page that does not back off (?rate=eager, 30 frames/s) out of credit
	// for the second it takes to earn one back is refused about 30 frames.
	frameRefusalsBeforeClose = 120
	// frameRefusalsPerSecond is the refusal rate tolerated for ever: a
	// sender a little over its cap (a 60 Hz camera with a jittery timer,
	// a few refusals a second) is never closed; one at twice the cap (60
	// refusals a second) is closed after about two and a half seconds; one
	// that sends its next frame the moment an answer comes (hundreds of
	// refusals a second) within a fraction of a second. The value is
	// absolute, not a share of HUB_SESSION_FPS: what a refusal costs the
	// hub (a read, an answer, a write) does not depend on the cap.
	frameRefusalsPerSecond = 10
)

// frameRefusals tolerates a session's frames answered rate_limited by the
// hub (over HUB_SESSION_FPS, or out of credit) up to a sustained rate, so
// that a client that ignores rate_limited costs only itself: closed, it no
// longer makes the hub read and answer thousands of frames a second that
// the other sessions' frames wait behind. The reader's alone.
type frameRefusals struct {
	tolerated *rate.Limiter
}

func newFrameRefusals() frameRefusals {
	return frameRefusals{tolerated: rate.NewLimiter(frameRefusalsPerSecond, frameRefusalsBeforeClose)}
}

// tolerate counts one refusal at now and reports whether the session may
// stay open.
func (r frameRefusals) tolerate(now time.Time) bool { return r.tolerated.AllowN(now, 1) }

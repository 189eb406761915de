package hub

import (
	"time"

	"golang.org/x/time/rate"

	"github.com/webcamhub/webcamhub/hub/contract"
)

const (
	// creditBurst is how many refused frames (or expensive-decode units) a
	// session may spend in a row before its frames are answered
	// rate_limited: a camera's occasional bad frame never gets there.
	creditBurst = 5
	// creditPerSecond is how fast a session earns credit back: a session
	// that sends only frames that fail gets about one a second to a worker.
	creditPerSecond = 1
	// decodePerCredit is the worker decode time that costs one credit: a
	// webcam frame decodes in a few milliseconds, a decode bomb in seconds.
	decodePerCredit = 100 * time.Millisecond
)

// frameCredit is a session's standing with the workers. Frames refused as
// unreadable or too large (by the hub's header check or by a worker) and
// frames that took a worker long to decode cost credit; a session without
// credit has its frames answered rate_limited before they reach a worker,
// until credit grows back. So a few sessions sending decode bombs or junk
// cannot take the workers' time from polite ones, whatever the workers
// themselves refuse.
type frameCredit struct {
	bucket *rate.Limiter // may go below zero: a debt to earn back
}

func newFrameCredit() frameCredit {
	return frameCredit{bucket: rate.NewLimiter(creditPerSecond, creditBurst)}
}

// allows reports whether a frame may go on to be checked and sent.
func (c frameCredit) allows(now time.Time) bool {
	return c.bucket.TokensAt(now) >= 1
}

// chargeAnswer costs credit for how a frame was answered: a refusal of the
// frame itself costs one; a result costs its decode time. Timeouts and
// unavailable workers cost nothing: they are not the session's doing.
func (c frameCredit) chargeAnswer(now time.Time, code string, decode time.Duration) {
	switch code {
	case contract.CodeBadImage, contract.CodeTooLarge:
		c.charge(now, 1)
	case "":
		c.charge(now, int(decode/decodePerCredit))
	}
}

// charge takes n credits, going into debt when there are not enough (a
// reservation of at most the burst at a time, never cancelled).
func (c frameCredit) charge(now time.Time, n int) {
	for n > 0 {
		k := min(n, creditBurst)
		c.bucket.ReserveN(now, k)
		n -= k
	}
}

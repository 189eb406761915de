package hub

import (
	"time"

	"github.com/webcamhub/webcamhub/contract"

	"golang.org/x/time/rate"
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
	// decodedBytesPerCredit is the estimated decode size that costs one
	// credit before a frame is sent: a webcam JPEG is decoded at reduced
	// scale into well under a megabyte; 16 MiB is an uncompressed 2-megapixel
	// RGBA frame, which takes tens of milliseconds to decode.
	decodedBytesPerCredit = 16 << 20
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

// chargeRefusal costs one credit for a frame refused as unreadable or too
// large, by the hub's header check or by a worker.
func (c frameCredit) chargeRefusal(now time.Time) { c.charge(now, 1) }

// chargeEstimate costs credit, before a frame is sent, for what its header
// says decoding it takes: a frame that would take a worker long is paid for
// before it can, so it cannot take the workers from others even when it
// never comes back (timeouts cost nothing: they are not the session's doing).
func (c frameCredit) chargeEstimate(now time.Time, decodedBytes int64) {
	c.charge(now, estimateCredits(decodedBytes))
}

// chargeDecode costs what a result's decode time shows beyond what was
// charged for the frame's estimate.
func (c frameCredit) chargeDecode(now time.Time, decodedBytes int64, decode time.Duration) {
	c.charge(now, int(decode/decodePerCredit)-estimateCredits(decodedBytes))
}

// chargedDecode is the decode time a session is charged for a result: the
// decode's CPU time, where the worker reports it, since its wall time also
// holds the waits of a busy worker (for a core, for Python's GIL), which are
// not the session's doing. In the 400-session flood on 2 cores a webcam
// frame's decode took up to 22–28 ms on the clock for 7 ms of CPU, and on
// CI a polite session of it was rate_limited, which only decodes of 100 ms
// and more on the clock could cost it. An older worker's wall time
// otherwise.
func chargedDecode(t contract.Timing) time.Duration {
	ms := t.DecodeMs
	if t.DecodeCPUMs > 0 {
		ms = t.DecodeCPUMs
	}
	return time.Duration(ms * float64(time.Millisecond))
}

func estimateCredits(decodedBytes int64) int { return int(decodedBytes / decodedBytesPerCredit) }

// charge takes n credits, going into debt when there are not enough (a
// reservation of at most the burst at a time, never cancelled).
func (c frameCredit) charge(now time.Time, n int) {
	for n > 0 {
		k := min(n, creditBurst)
		c.bucket.ReserveN(now, k)
		n -= k
	}
}

package hub

import (
	"bytes"
	"io"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace/noop"
	"golang.org/x/time/rate"

	"github.com/webcamhub/webcamhub/contract"
	"github.com/webcamhub/webcamhub/internal/testkit/testworker"
)

// BenchmarkRateLimitedFrame: the hub's work on one frame it answers
// rate_limited (a client ignoring rate_limited sends hundreds a second), from
// the message's reader to the answer queued: "kept" as the hub did before
// (read into the pooled buffer and copied out, a liveFrame, the error
// answer encoded), "discarded" as now (read past, the answer filled in).
// The socket's read and write are not in it.
func BenchmarkRateLimitedFrame(b *testing.B) {
	ns := startNATS(b, 0)
	startWorker(b, ns.ClientURL(), testworker.Options{})
	h, _ := startHub(b, ns.ClientURL(), nil)
	var queued int
	fs := newFrameScheduler(schedulerDeps{
		session: "bench", metrics: h.metrics, log: h.log, closing: make(chan struct{}),
		enqueue: func(msg []byte) { queued += len(msg) },
		limiter: rate.NewLimiter(0, 0), // every frame refused
		check:   h.checkImage, inFlight: 2, timeout: time.Second,
		tracer: noop.NewTracerProvider().Tracer(instrumentationName), // tracing off, as the hub runs by default
	})
	s := &session{}
	frame := bytes.NewReader(nil)
	b.Run("kept", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			frame.Reset(fakeJPEG)
			data, _, err := s.readUpTo(frame, h.cfg.MaxFrameBytes)
			if err != nil {
				b.Fatal(err)
			}
			now := time.Now()
			f := &liveFrame{received: now}
			f.span = startFrameSpan(fs.ctx, fs.tracer, contract.KindLive, fs.session, int64(i+1), now)
			_ = data
			fs.answerError(f, int64(i+1), contract.CodeRateLimited)
		}
	})
	b.Run("discarded", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			now := time.Now()
			if fs.admits(now) {
				b.Fatal("admitted")
			}
			frame.Reset(fakeJPEG)
			if _, err := io.Copy(io.Discard, frame); err != nil {
				b.Fatal(err)
			}
			fs.refuseRateLimited(int64(i+1), now)
		}
	})
	if queued == 0 {
		b.Fatal("nothing answered")
	}
}

package hub

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
	"golang.org/x/time/rate"

	"github.com/webcamhub/webcamhub/contract"
	"github.com/webcamhub/webcamhub/hub/internal/imagesniff"
)

// frameWorkerLinger is how long a goroutine that worked on a session's
// frames waits for the session's next frame before it ends. A streaming
// session sends its next frame within its frame interval (40 ms at a
// webcam's pace), so at a steady stream a frame is handed to a goroutine
// whose stack has already grown to the frame's depth (dispatcher, NATS
// request): a fresh goroutine per frame grew and copied its stack every
// time, about 4% of the hub's CPU at saturation (docs/benchmarks.md, "Hub
// CPU profile at saturation"). An idle session keeps none past it.
const frameWorkerLinger = time.Second

// schedulerDeps is what a frame scheduler needs from its session and hub.
type schedulerDeps struct {
	session  string
	dispatch *dispatcher // the frames' way to a worker
	metrics  *Metrics
	log      *slog.Logger
	enqueue  func(msg []byte)                             // queues a message for the client; never blocks
	closing  <-chan struct{}                              // closed when the session starts closing: waiting frames stay unsent
	limiter  *rate.Limiter                                // frames per second the session may send
	check    func(image []byte) (imagesniff.Info, string) // the hub's header check (Hub.checkImage)
	inFlight int                                          // frames of the session at the workers at once
	timeout  time.Duration                                // how long one frame may take
	tracer   trace.Tracer                                 // a span per frame (no-op unless tracing is on)
}

// liveFrame is a frame of the session from its receipt to its answer: its
// request, when it arrived, whether it waited for a slot, its span and its
// reply's head.
type liveFrame struct {
	req      FrameRequest
	sentTo   modelTarget // the model-version it went to, once it did
	received time.Time
	waited   bool
	span     frameSpan
	// head is its reply's head, decoded here rather than in a value of
	// its own: the frame is on the heap already, a head alone would be one
	// more allocation per frame.
	head replyHead
}

// frameScheduler sends one session's frames to the workers: at most
// inFlight at once, and one more waiting for a free slot. A newer frame
// replaces the waiting one, which is answered "dropped": the newest frame
// wins.
type frameScheduler struct {
	schedulerDeps

	credit frameCredit // what the session's refused and expensive frames have cost it

	ctx    context.Context // cancelled by stop: in-flight requests give up
	cancel context.CancelFunc
	active sync.WaitGroup // goroutines working on frames

	mu      sync.Mutex
	busy    int        // frames at the workers
	waiting *liveFrame // the newest frame that waits for a free slot
	// idle: goroutines that wait for a frame (frameWorkerLinger) and have
	// none handed to them yet; handoff carries a frame to one of them
	// (buffered for inFlight: a send under mu never blocks).
	idle    int
	handoff chan *liveFrame
	linger  time.Duration // frameWorkerLinger (a test's own)
	topK    int
	// model and version: the session's model as the client asked for it
	// ("": the default model; 0: the name's default version), read as
	// each frame is sent.
	model   string
	version int
	// allowed: the models the session's credential allows (nil: any); set
	// before the session runs.
	allowed modelGrant
}

func newFrameScheduler(deps schedulerDeps) *frameScheduler {
	ctx, cancel := context.WithCancel(context.Background())
	return &frameScheduler{schedulerDeps: deps, credit: newFrameCredit(), ctx: ctx, cancel: cancel,
		handoff: make(chan *liveFrame, max(1, deps.inFlight)), linger: frameWorkerLinger}
}

// stop gives up the frames at the workers and returns once no goroutine of
// the scheduler is left.
func (fs *frameScheduler) stop() {
	fs.cancel()
	fs.active.Wait()
}

// setTopK sets the labels per result of the frames submitted from now on.
func (fs *frameScheduler) setTopK(k int) {
	fs.mu.Lock()
	fs.topK = k
	fs.mu.Unlock()
}

// setModel sets the model of the frames sent from now on (frames waiting
// for a slot included).
func (fs *frameScheduler) setModel(name string, version int) {
	fs.mu.Lock()
	fs.model, fs.version = name, version
	fs.mu.Unlock()
}

// currentModel is the session's model as the client asked for it.
func (fs *frameScheduler) currentModel() (name string, version int) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.model, fs.version
}

// admits reports whether a frame received at now may go on to be checked
// and sent, without taking anything: the reader asks before it reads a
// frame, so a frame that will be refused is not kept (submit decides).
func (fs *frameScheduler) admits(now time.Time) bool {
	return fs.credit.allows(now) && fs.limiter.TokensAt(now) >= 1
}

// submit schedules a frame received at now: to a worker now when the
// session has a free slot, otherwise into the waiting place, where it
// replaces (and answers "dropped") any older waiting frame. It reports
// whether the frame was answered rate_limited at once (over the session's
// rate, or out of credit), which the session counts (frameRefusals).
func (fs *frameScheduler) submit(seq int64, image []byte, now time.Time) (rateLimited bool) {
	if !fs.credit.allows(now) || !fs.limiter.AllowN(now, 1) {
		fs.refuseRateLimited(seq, now)
		return true
	}
	f := &liveFrame{received: now}
	f.span = startFrameSpan(fs.ctx, fs.tracer, contract.KindLive, fs.session, seq, now)
	info, code := fs.check(image)
	if code != "" {
		fs.credit.chargeRefusal(now)
		fs.answerError(f, seq, code)
		return false
	}
	fs.credit.chargeEstimate(now, info.DecodedBytes)
	fs.mu.Lock()
	f.req = FrameRequest{Kind: contract.KindLive, Session: fs.session, Seq: seq, ContentType: info.ContentType, DecodedBytes: info.DecodedBytes, TopK: fs.topK, Image: image}
	if fs.busy < fs.inFlight {
		fs.busy++
		if fs.idle > 0 { // a goroutine waits for the next frame: f is it
			fs.idle--
			fs.handoff <- f
			fs.mu.Unlock()
			return false
		}
		fs.active.Add(1)
		fs.mu.Unlock()
		go fs.work(f)
		return false
	}
	f.waited = true
	older := fs.waiting
	fs.waiting = f
	fs.mu.Unlock()
	if older != nil {
		fs.metrics.Dropped.Inc()
		fs.end(older, OutcomeDropped, "")
		fs.enqueue(encodeDropped(older.req.Seq, contract.DroppedSuperseded))
	}
	return false
}

// work classifies f, then whatever frame waits, then the frames handed to
// it while it lingers (next), until none comes.
func (fs *frameScheduler) work(f *liveFrame) {
	defer fs.active.Done()
	var linger *time.Timer
	defer func() {
		if linger != nil {
			linger.Stop()
		}
	}()
	for f != nil {
		fs.classify(f)
		fs.mu.Lock()
		f, fs.waiting = fs.waiting, nil
		if f != nil && !isClosed(fs.closing) {
			fs.mu.Unlock()
			continue
		}
		fs.busy--
		if f != nil {
			f.span.abandon() // the session is closing: the waiting frame stays unsent
			fs.mu.Unlock()
			return
		}
		if isClosed(fs.closing) {
			fs.mu.Unlock()
			return
		}
		fs.idle++
		fs.mu.Unlock()
		if linger == nil {
			linger = time.NewTimer(fs.linger)
		} else {
			linger.Reset(fs.linger)
		}
		f = fs.next(linger)
	}
}

// next waits, as one of the idle goroutines, for a frame handed to it
// (submit), at most until linger fires or the session closes or stops; nil:
// none came, and the goroutine ends.
func (fs *frameScheduler) next(linger *time.Timer) *liveFrame {
	select {
	case f := <-fs.handoff:
		return f
	case <-linger.C:
	case <-fs.closing:
	case <-fs.ctx.Done():
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	select {
	case f := <-fs.handoff: // handed over as the wait ended: still this goroutine's
		return f
	default:
		fs.idle--
		return nil
	}
}

// classify sends one frame to a worker and queues the answer for the
// client: a result as the worker wrote it, an error as the contract words it.
func (fs *frameScheduler) classify(f *liveFrame) {
	fs.metrics.ObserveQueued(time.Since(f.received))
	if f.waited {
		f.span.queued(fs.tracer, f.received)
	}
	// The frame's deadline: from here to the worker's answer, its wait for
	// a worker with room included (dispatcher.Request).
	ctx, cancel := context.WithTimeout(f.span.context(fs.ctx), fs.timeout)
	defer cancel()
	f.req.Model, f.req.Version = fs.currentModel()
	f.req.Allowed = fs.allowed
	reply, sentTo, err := fs.dispatch.Request(ctx, f.req)
	f.sentTo = sentTo
	if err != nil && fs.ctx.Err() != nil {
		f.span.abandon() // the session ended; nobody is left to answer
		return
	}
	answer := answerFrame(f.req, sentTo, reply, err, &f.head, fs.log, fs.metrics)
	switch answer.outcome {
	case OutcomeDropped:
		fs.end(f, OutcomeDropped, "")
		fs.enqueue(encodeDropped(f.req.Seq, contract.DroppedOverloaded))
	case OutcomeError:
		if answer.byWorker && (answer.code == contract.CodeBadImage || answer.code == contract.CodeTooLarge) {
			fs.credit.chargeRefusal(time.Now())
		}
		fs.end(f, OutcomeError, answer.code)
		fs.enqueue(encodeError(f.req.Seq, answer.code))
	default:
		fs.credit.chargeDecode(time.Now(), f.req.DecodedBytes, chargedDecode(f.head.Timing))
		fs.end(f, OutcomeResult, "")
		fs.enqueue(reply)
	}
}

// refuseRateLimited answers a frame rate_limited before anything else is
// done with it: the answer a client that ignores rate_limited gets
// thousands of times a second, so it allocates only the answer (the frame
// is not kept, its outcome is counted as any other's).
func (fs *frameScheduler) refuseRateLimited(seq int64, now time.Time) {
	span := startFrameSpan(fs.ctx, fs.tracer, contract.KindLive, fs.session, seq, now)
	fs.metrics.CountError(contract.CodeRateLimited)
	fs.metrics.ObserveFrame(OutcomeError, modelTarget{}, time.Since(now))
	span.end(OutcomeError, modelTarget{}, contract.CodeRateLimited)
	fs.enqueue(encodeRateLimited(seq))
}

func (fs *frameScheduler) answerError(f *liveFrame, seq int64, code string) {
	fs.metrics.CountError(code)
	fs.end(f, OutcomeError, code)
	fs.enqueue(encodeError(seq, code))
}

// end records a frame's outcome as its answer is queued for the client:
// just before, so that a client that has its answer sees it counted.
func (fs *frameScheduler) end(f *liveFrame, outcome, code string) {
	fs.metrics.ObserveFrame(outcome, f.sentTo, time.Since(f.received))
	f.span.end(outcome, f.sentTo, code)
}

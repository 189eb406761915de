package hub

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/webcamhub/webcamhub/hub/contract"
	"github.com/webcamhub/webcamhub/hub/internal/imagesniff"
	"github.com/webcamhub/webcamhub/hub/internal/traceparent"
)

// schedulerDeps is what a frame scheduler needs from its session and hub.
type schedulerDeps struct {
	session  string
	request  func(ctx context.Context, f FrameRequest) ([]byte, error) // one frame to one worker
	metrics  *Metrics
	log      *slog.Logger
	send     func(msg []byte)                             // queues a message for the client; never blocks
	closing  <-chan struct{}                              // closed when the session starts closing: waiting frames stay unsent
	limiter  *rate.Limiter                                // frames per second the session may send
	check    func(image []byte) (imagesniff.Info, string) // the hub's header check (Hub.checkImage)
	inFlight int                                          // frames of the session at the workers at once
	timeout  time.Duration                                // how long one frame may take
	trace    bool                                         // give each frame a traceparent
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
	busy    int           // frames at the workers
	waiting *FrameRequest // the newest frame that waits for a free slot
	topK    int
}

func newFrameScheduler(deps schedulerDeps) *frameScheduler {
	ctx, cancel := context.WithCancel(context.Background())
	return &frameScheduler{schedulerDeps: deps, credit: newFrameCredit(), ctx: ctx, cancel: cancel}
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

// submit schedules a frame: to a worker now when the session has a free
// slot, otherwise into the waiting place, where it replaces (and answers
// "dropped") any older waiting frame.
func (fs *frameScheduler) submit(seq int64, image []byte) {
	now := time.Now()
	if !fs.credit.allows(now) || !fs.limiter.AllowN(now, 1) {
		fs.answerError(seq, contract.CodeRateLimited)
		return
	}
	info, code := fs.check(image)
	if code != "" {
		fs.credit.chargeRefusal(now)
		fs.answerError(seq, code)
		return
	}
	fs.credit.chargeEstimate(now, info.DecodedBytes)
	fs.mu.Lock()
	f := &FrameRequest{Kind: contract.KindLive, Session: fs.session, Seq: seq, ContentType: info.ContentType, DecodedBytes: info.DecodedBytes, TopK: fs.topK, Image: image}
	if fs.trace {
		f.Traceparent = traceparent.New()
	}
	if fs.busy < fs.inFlight {
		fs.busy++
		fs.mu.Unlock()
		fs.active.Add(1)
		go fs.work(f)
		return
	}
	older := fs.waiting
	fs.waiting = f
	fs.mu.Unlock()
	if older != nil {
		fs.metrics.Dropped.Add(1)
		fs.send(encodeDropped(older.Seq, contract.DroppedSuperseded))
	}
}

// work classifies f, then whatever frame waits, until none does.
func (fs *frameScheduler) work(f *FrameRequest) {
	defer fs.active.Done()
	for f != nil {
		fs.classify(f)
		fs.mu.Lock()
		f, fs.waiting = fs.waiting, nil
		if f == nil || isClosed(fs.closing) {
			fs.busy--
			f = nil
		}
		fs.mu.Unlock()
	}
}

// classify sends one frame to a worker and queues the answer for the
// client: a result as the worker wrote it, an error as the contract words it.
func (fs *frameScheduler) classify(f *FrameRequest) {
	ctx, cancel := context.WithTimeout(fs.ctx, fs.timeout)
	defer cancel()
	start := time.Now()
	reply, err := fs.request(ctx, *f)
	if f.Traceparent != "" {
		defer func() {
			fs.log.Debug("frame", "seq", f.Seq, contract.HeaderTraceparent, f.Traceparent, "ms", float64(time.Since(start).Microseconds())/1000, "err", errString(err))
		}()
	}
	if err != nil {
		if fs.ctx.Err() != nil {
			return // the session ended; nobody is left to answer
		}
		if errors.Is(err, ErrOverloaded) {
			fs.metrics.Shed.Add(1)
			fs.send(encodeDropped(f.Seq, contract.DroppedOverloaded))
			return
		}
		code := codeOf(err)
		if code == contract.CodeInternal {
			fs.log.Error("frame failed", "seq", f.Seq, "err", err)
		}
		fs.answerError(f.Seq, code)
		return
	}
	head, err := parseReplyHead(reply, f.Seq)
	if err != nil {
		fs.log.Error("bad worker reply", "seq", f.Seq, "err", err)
		fs.answerError(f.Seq, contract.CodeInternal)
		return
	}
	if head.Type == contract.TypeError {
		fs.log.Debug("worker answered an error", "seq", f.Seq, "code", head.Code, "message", head.Message)
		code := publicCode(head.Code)
		if code == contract.CodeBadImage || code == contract.CodeTooLarge {
			fs.credit.chargeRefusal(time.Now())
		}
		fs.answerError(f.Seq, code)
		return
	}
	fs.credit.chargeDecode(time.Now(), f.DecodedBytes, time.Duration(head.Timing.DecodeMs*float64(time.Millisecond)))
	fs.metrics.Results.Add(1)
	fs.send(reply)
}

func (fs *frameScheduler) answerError(seq int64, code string) {
	fs.metrics.CountError(code)
	fs.send(encodeError(seq, code))
}

package hub

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/webcamhub/webcamhub/contract"
)

// A worker holds at most two batches and is in the queue group only with
// credit for the room it has, a subscription the NATS server ends by itself
// after that many frames (inference_server/serving/intake.py), so NATS routes a
// frame only to a worker that can take it now, and a request that finds every worker full gets "no
// responders" at once. The dispatcher turns that into a short, bounded wait
// at the hub, in arrival order, where the wait is visible: a frame waits for
// one of this hub's frames to be answered (a worker then has room), at most
// maxWait, then it is shed: answered at once rather than left to age
// (docs/dispatch.md).

const (
	// dispatchProbeInterval is how often a waiting frame tries again when
	// none of this hub's frames is at a worker (so no answer will wake it):
	// workers may be full with other hubs' frames. A few milliseconds is
	// short against a batch (tens of ms) and costs one tiny request.
	dispatchProbeInterval = 5 * time.Millisecond
	// workersSeenRecently: "no responders" while none of this hub's frames is
	// at a worker and no worker was seen for this long asks whether any worker
	// is there at all ($SRV.PING.inference, which full workers answer too): with none,
	// the frame is answered "unavailable" at once rather than waiting.
	workersSeenRecently = time.Second
)

// workerPool is the queue group of inference workers: natsBroker, and the
// dispatcher tests' fake.
type workerPool interface {
	// Request sends one frame to one worker and returns its reply; it
	// fails with nats.ErrNoResponders when every worker is full.
	Request(ctx context.Context, f FrameRequest) ([]byte, error)
	// PingWorkers returns nil when some worker, full or not, answers
	// $SRV.PING.inference.
	PingWorkers(ctx context.Context) error
}

// dispatcher is a frame's one way to a worker, for the live sessions
// (frameScheduler) and the analyze API alike: it sends frames to workers,
// waiting in order when every worker is full, inside the frame's request
// span.
type dispatcher struct {
	workers workerPool
	// models picks each frame's model-version as it is sent; nil: frames
	// go to the Model and Version they carry (the dispatcher's own tests).
	models  *modelTable
	maxWait time.Duration
	tracer  trace.Tracer // a CLIENT span per request (no-op unless tracing is on)
	metrics *Metrics

	mu         sync.Mutex
	inFlight   int        // this hub's frames at workers now
	waiting    *list.List // of *dispatchWaiter, oldest first
	lastSeen   time.Time  // when a worker last answered a frame of ours or a ping
	sinceProbe int        // frames answered since the last try for more room
	probe      *time.Timer
}

type dispatchWaiter struct {
	turn  chan struct{} // closed when it is this frame's turn to try
	extra bool          // its turn is a try for room beyond what was answered
}

func newDispatcher(workers workerPool, models *modelTable, maxWait time.Duration, tracer trace.Tracer, m *Metrics) *dispatcher {
	return &dispatcher{workers: workers, models: models, maxWait: maxWait, tracer: tracer, metrics: m, waiting: list.New()}
}

// Request sends f to a worker that has room and returns its reply, within
// ctx's deadline (the frame's), which goes to the worker with the frame.
// When every worker is full it waits its turn, at most maxWait, then
// returns ErrOverloaded, or ErrUnavailable when there seem to be no
// workers at all. f's model (Model and Version as the client asked) is
// picked as it is sent: a name without a version goes to the name's
// default version of that moment (modelTable.pick), and an error wraps
// ErrUnknownModel or ErrModelUnavailable when none is served. It runs
// inside a CLIENT span whose context goes to the worker in the frame's
// traceparent header, and records its duration by model-version; sentTo
// is the model-version it went to last (zero when none).
func (d *dispatcher) Request(ctx context.Context, f FrameRequest) (reply []byte, sentTo modelTarget, err error) {
	ctx, req := d.startRequest(ctx, f) // ctx may still hold an API caller's trace context
	reply, sentTo, err = d.inTurn(ctx, f)
	d.endRequest(req, sentTo, err)
	return reply, sentTo, err
}

// requestSpan is one frame's request from the dispatcher to the worker's
// answer: when it started, and its CLIENT span (nil with tracing off).
type requestSpan struct {
	span     trace.Span
	start    time.Time
	kind, id string // the frame's, for the destination subject
}

func (d *dispatcher) startRequest(ctx context.Context, f FrameRequest) (context.Context, requestSpan) {
	if tracingOff(d.tracer) {
		return ctx, requestSpan{start: time.Now()}
	}
	ctx, span := d.tracer.Start(ctx, requestSpanName[f.Kind], clientKind)
	if span.IsRecording() {
		span.SetAttributes(attrMsgSystem.String("nats"))
	}
	return ctx, requestSpan{span: span, start: time.Now(), kind: f.Kind, id: f.Session}
}

// endRequest records the request's duration and ends its span, with the
// model-version and subject the frame went to.
func (d *dispatcher) endRequest(r requestSpan, sentTo modelTarget, err error) {
	d.metrics.ObserveRequest(err, sentTo, time.Since(r.start))
	if r.span == nil {
		return
	}
	if sentTo.Name != "" && r.span.IsRecording() {
		r.span.SetAttributes(attrModel.String(sentTo.Name), attrModelVersion.Int(sentTo.Version),
			attrDestination.String(contract.InferSubject(sentTo.Name, sentTo.Version, r.kind, r.id)))
	}
	if err != nil {
		r.span.SetStatus(codes.Error, codeOf(err))
	}
	r.span.End()
}

// inTurn sends f to the workers when its turn comes: at once while they
// have room, else after the frames that waited before it. Each try picks
// f's model-version anew; a "no responders" from one that is no longer
// served (its endpoint vanished: a rollout) is model_unavailable for a
// frame pinned to it, and sent once more to the name's default version
// of now otherwise.
func (d *dispatcher) inTurn(ctx context.Context, f FrameRequest) ([]byte, modelTarget, error) {
	waitCtx, cancel := context.WithTimeout(ctx, d.maxWait)
	defer cancel()
	retry, movedOn := false, false
	var target modelTarget
	for {
		extra, err := d.await(waitCtx, retry)
		if err != nil {
			if ctx.Err() != nil {
				return nil, target, fmt.Errorf("frame %s #%d: %w", f.Session, f.Seq, ErrTimeout)
			}
			return nil, target, fmt.Errorf("frame %s #%d waited %v: %w", f.Session, f.Seq, d.maxWait, ErrOverloaded)
		}
		sent := f
		if d.models != nil {
			if target, err = d.models.pickFor(f.Model, f.Version, f.Allowed); err != nil {
				d.done(false, false, false)
				return nil, target, fmt.Errorf("frame %s #%d: %w", f.Session, f.Seq, err)
			}
			sent.Model, sent.Version = target.Name, target.Version
		}
		reply, err := d.workers.Request(ctx, sent)
		full := errors.Is(err, nats.ErrNoResponders)
		if full && d.models != nil && d.models.gone(target) {
			d.done(false, false, false)
			if target.Pinned || movedOn {
				return nil, target, fmt.Errorf("frame %s #%d to %s: %w", f.Session, f.Seq, target.Ref(), ErrModelUnavailable)
			}
			movedOn, retry = true, false // to the default version of now, at once
			continue
		}
		if full && d.noWorkers(waitCtx) {
			d.done(false, false, false)
			return nil, target, err // codeOf: unavailable
		}
		d.done(full, err == nil, extra)
		if !full {
			return reply, target, err
		}
		retry = true // every worker is full: back to the head of the line
	}
}

// await returns when f may be sent: at once when nobody waits, otherwise
// when its turn comes (extra: a try for more room). retry puts it at the
// head of the line.
func (d *dispatcher) await(ctx context.Context, retry bool) (extra bool, err error) {
	d.mu.Lock()
	if d.waiting.Len() == 0 && !retry {
		d.inFlight++
		d.mu.Unlock()
		return false, nil
	}
	w := &dispatchWaiter{turn: make(chan struct{})}
	var e *list.Element
	if retry {
		e = d.waiting.PushFront(w)
	} else {
		e = d.waiting.PushBack(w)
	}
	d.armProbe()
	d.mu.Unlock()
	select {
	case <-w.turn:
		return w.extra, nil // inFlight was counted by whoever gave the turn
	case <-ctx.Done():
		d.mu.Lock()
		defer d.mu.Unlock()
		select {
		case <-w.turn: // given the turn as the wait ended: pass it on
			d.inFlight--
			d.wakeOne(w.extra)
		default:
			d.waiting.Remove(e)
		}
		return false, ctx.Err()
	}
}

// done records the end of one attempt. full: it found every worker full;
// ok: it was answered; extra: it was a try for more room.
//
// An answered frame means its worker has room again: the next frame in line
// gets its turn (the answers clock the frames out). To find room that
// appeared elsewhere (a new worker, another hub's frames answered), one more
// frame tries every round of answers, and a try that succeeds starts
// another: the frames at workers grow like TCP's slow start until a try
// finds every worker full, and then stay there.
func (d *dispatcher) done(full, ok, extra bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.inFlight--
	if ok {
		d.lastSeen = time.Now()
	}
	if !full {
		d.wakeOne(false)
		d.sinceProbe++
		if (extra && ok) || d.sinceProbe > d.inFlight {
			d.sinceProbe = 0
			d.wakeOne(true)
		}
	}
	d.armProbe()
}

// noWorkers: nothing of ours is at a worker, none was seen lately, and
// none answers a ping now.
func (d *dispatcher) noWorkers(ctx context.Context) bool {
	d.mu.Lock()
	seen := d.inFlight > 1 || time.Since(d.lastSeen) <= workersSeenRecently
	d.mu.Unlock()
	if seen {
		return false
	}
	if err := d.workers.PingWorkers(ctx); err != nil {
		// Only a ping nobody is there to answer means no workers; one that
		// times out has workers too busy to answer within this frame's wait.
		return errors.Is(err, nats.ErrNoResponders) || errors.Is(err, ErrUnavailable)
	}
	d.mu.Lock()
	d.lastSeen = time.Now()
	d.mu.Unlock()
	return false
}

// wakeOne gives the oldest waiting frame its turn. Called with mu held.
func (d *dispatcher) wakeOne(extra bool) {
	front := d.waiting.Front()
	if front == nil {
		return
	}
	d.waiting.Remove(front)
	d.inFlight++
	w := front.Value.(*dispatchWaiter)
	w.extra = extra
	close(w.turn)
}

// armProbe makes sure frames that wait while none of ours is at a worker
// still try again. Called with mu held.
func (d *dispatcher) armProbe() {
	if d.probe != nil || d.waiting.Len() == 0 || d.inFlight > 0 {
		return
	}
	d.probe = time.AfterFunc(dispatchProbeInterval, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		d.probe = nil
		if d.inFlight == 0 {
			d.wakeOne(false)
		}
		d.armProbe()
	})
}

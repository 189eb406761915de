package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/webcamhub/webcamhub/contract"
)

// Failover: a frame whose way to a worker breaks is answered at once, or
// sent once more within its deadline, instead of waiting for the frame
// timeout (docs/scaling.md, "Failover").
//
//   - The hub's NATS server dies: the worker's reply would come to the hub's
//     subscription on that server, so every frame waiting on the lost
//     connection is failed at once (the disconnect callback), and sent again
//     once nats.go is connected to another server of the cluster.
//   - A worker dies holding frames (killed, or cut off with its server): the
//     hub asks every workerWatchInterval which workers are there (the micro
//     service's ping, which full workers answer too); one missing from the
//     answers is asked by its id, and when no such worker is there any more,
//     the frames this hub sent before that ping and still waits for are sent
//     once more. The hub cannot tell which worker took which frame (a queue
//     group hides it), so a frame at a worker that is still there may be
//     classified twice; the first answer is the one the client gets.

const (
	// failoverReconnectWait bounds how long a frame waits for the hub's
	// connection to come back after it dropped: nats.go dials the next
	// known server at once, and a TLS handshake takes milliseconds; past
	// this the cluster is not there and the frame is answered unavailable.
	failoverReconnectWait = time.Second
	// failoverMinBudget is the least of a frame's deadline worth a second
	// try: a batch takes tens of milliseconds, a busy worker's a few hundred.
	failoverMinBudget = 300 * time.Millisecond
	// workerWatchInterval is how often the hub asks which workers are there:
	// a worker's frames wait at most about this long past its death.
	workerWatchInterval = 250 * time.Millisecond
	// workerWatchWindow is how long the answers to one ping are gathered: a
	// worker answers within a millisecond unless its event loop is busy.
	workerWatchWindow = 150 * time.Millisecond
	// workerCheckTimeout bounds asking a worker that missed the gathering by
	// its id: one that answers is merely busy; "no responders" says it is gone.
	workerCheckTimeout = 250 * time.Millisecond
	// failoverPollInterval is how often a frame waiting for the connection
	// to come back looks: short against failoverReconnectWait.
	failoverPollInterval = 10 * time.Millisecond
)

var (
	// errConnectionLost: the connection the frame went out on dropped.
	errConnectionLost = errors.New("the NATS connection carrying the frame was lost")
	// errWorkerLost: a worker left while the frame was at the workers.
	errWorkerLost = errors.New("a worker left while the frame was at the workers")
)

// frameAttempts are the frame requests waiting for a reply now, each with
// a way to fail it.
type frameAttempts struct {
	mu   sync.Mutex
	next uint64
	live map[uint64]frameAttempt
}

type frameAttempt struct {
	started time.Time
	cancel  context.CancelCauseFunc
}

// begin registers one attempt; the returned context ends with the
// attempt's failure cause, end removes it.
func (a *frameAttempts) begin(ctx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	a.mu.Lock()
	if a.live == nil {
		a.live = map[uint64]frameAttempt{}
	}
	id := a.next
	a.next++
	a.live[id] = frameAttempt{started: time.Now(), cancel: cancel}
	a.mu.Unlock()
	return ctx, func() {
		a.mu.Lock()
		delete(a.live, id)
		a.mu.Unlock()
		cancel(nil)
	}
}

// fail ends every attempt started before t with cause; it returns how many.
func (a *frameAttempts) fail(t time.Time, cause error) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for id, at := range a.live {
		if at.started.Before(t) {
			at.cancel(cause)
			delete(a.live, id)
			n++
		}
	}
	return n
}

// lostCause is errConnectionLost or errWorkerLost when the attempt of ctx
// (from begin) was failed by failover, else nil.
func lostCause(ctx context.Context) error {
	cause := context.Cause(ctx)
	if errors.Is(cause, errConnectionLost) || errors.Is(cause, errWorkerLost) {
		return cause
	}
	return nil
}

// connectionLost fails every frame waiting on the connection that dropped.
func (b *natsBroker) connectionLost() {
	b.mu.Lock()
	b.lostAt = time.Now()
	b.mu.Unlock()
	if n := b.attempts.fail(time.Now(), errConnectionLost); n > 0 {
		b.log.Warn("NATS connection lost with frames at workers; sending them again once reconnected", "frames", n)
	}
}

// awaitReconnect waits, while a connection that dropped less than
// failoverReconnectWait ago is being made again, for it to be back; false
// when it is not back in that time or ctx ends first.
func (b *natsBroker) awaitReconnect(ctx context.Context) bool {
	b.mu.Lock()
	until := b.lostAt.Add(failoverReconnectWait)
	b.mu.Unlock()
	tick := time.NewTicker(failoverPollInterval)
	defer tick.Stop()
	for !b.nc.IsConnected() {
		if time.Now().After(until) || b.nc.IsClosed() {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
	return true
}

// isLost reports whether err is a frame's failure by failover: its
// connection dropped, or a worker left while it was at the workers.
func isLost(err error) bool {
	return errors.Is(err, errConnectionLost) || errors.Is(err, errWorkerLost)
}

// retryLost sends once more a frame whose attempt failover failed (lost),
// when its deadline leaves time for it; one lost again, or without the
// time, is unavailable.
func (b *natsBroker) retryLost(ctx context.Context, f FrameRequest, lost error) ([]byte, error) {
	if retryBudget(ctx) {
		reply, err := b.requestOnce(ctx, f)
		if !isLost(err) {
			return reply, err
		}
		lost = err
	}
	return nil, fmt.Errorf("%w: %w", ErrUnavailable, lost)
}

// retryBudget says whether a frame failed by failover has time for a
// second try.
func retryBudget(ctx context.Context) bool {
	deadline, ok := ctx.Deadline()
	return ctx.Err() == nil && (!ok || time.Until(deadline) >= failoverMinBudget)
}

// watchWorkers notices workers that leave while this hub has frames at
// the workers, and asks the workers what they serve (refreshModels) at
// start, when an instance comes or goes or serves other model-versions,
// and every modelRefreshInterval; until the connection is closed.
func (b *natsBroker) watchWorkers() {
	tick := time.NewTicker(workerWatchInterval)
	defer tick.Stop()
	known := map[string]string{} // worker id -> the models its last pong listed
	var lastRefresh time.Time
	for range tick.C {
		if b.nc.IsClosed() {
			return
		}
		if !b.nc.IsConnected() {
			b.workersSeen.Store(0) // none answers this hub now
			continue               // connectionLost fails the frames; the workers are asked again once back
		}
		asked := time.Now()
		seen, err := b.gatherWorkers()
		if err != nil {
			continue
		}
		var gone []string
		for id, models := range known {
			if _, ok := seen[id]; ok {
				continue
			}
			if b.workerGone(id) {
				gone = append(gone, id)
			} else {
				seen[id] = models // busy, still there
			}
		}
		changed := workersChanged(known, seen)
		known = seen
		b.workersSeen.Store(int64(len(seen)))
		if changed || lastRefresh.IsZero() || time.Since(lastRefresh) >= modelRefreshInterval {
			lastRefresh = time.Now()
			b.refreshModels()
		}
		if len(gone) == 0 {
			continue
		}
		if n := b.attempts.fail(asked, errWorkerLost); n > 0 {
			b.log.Warn("a worker left with frames at the workers; sending them once more", "workers", gone, "frames", n)
		}
	}
}

// gatherWorkers pings the workers' service and returns the ids that
// answer within workerWatchWindow, each with the model-versions its pong
// lists (service metadata models).
func (b *natsBroker) gatherWorkers() (map[string]string, error) {
	inbox := b.nc.NewRespInbox()
	sub, err := b.nc.SubscribeSync(inbox)
	if err != nil {
		return nil, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := b.nc.PublishRequest(contract.WorkerPingSubject, inbox, nil); err != nil {
		return nil, err
	}
	seen := map[string]string{}
	until := time.Now().Add(workerWatchWindow)
	for {
		left := time.Until(until)
		if left <= 0 {
			return seen, nil
		}
		msg, err := sub.NextMsg(left)
		// No responders: the server says no worker is subscribed at all,
		// which is an answer (none), not a failure to ask.
		if errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders) {
			return seen, nil
		}
		if err != nil {
			return nil, err
		}
		var pong contract.WorkerPong
		if json.Unmarshal(msg.Data, &pong) == nil && pong.ID != "" {
			seen[pong.ID] = pong.Metadata[contract.MetaModels]
		}
	}
}

// workerGone asks the worker with id directly: true only when no such
// worker is subscribed any more.
func (b *natsBroker) workerGone(id string) bool {
	_, err := b.nc.Request(contract.WorkerPingIDSubject(id), nil, workerCheckTimeout)
	return errors.Is(err, nats.ErrNoResponders)
}

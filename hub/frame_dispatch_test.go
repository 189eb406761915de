package hub

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// fakeWorkers stands for the queue group: room frames at once; a request
// past that gets "no responders" at once, as from workers that left the
// group while full. Each taken frame is held until release is called.
type fakeWorkers struct {
	mu      sync.Mutex
	room    int
	held    map[int64]chan struct{}
	order   []int64 // frames in the order workers took them
	refused int
	taken   chan int64
}

func newFakeWorkers(room int) *fakeWorkers {
	return &fakeWorkers{room: room, held: map[int64]chan struct{}{}, taken: make(chan int64, 100)}
}

func (w *fakeWorkers) Request(ctx context.Context, f FrameRequest) ([]byte, error) {
	w.mu.Lock()
	if len(w.held) >= w.room {
		w.refused++
		w.mu.Unlock()
		return nil, fmt.Errorf("frame %d: %w", f.Seq, nats.ErrNoResponders)
	}
	done := make(chan struct{})
	w.held[f.Seq] = done
	w.order = append(w.order, f.Seq)
	w.mu.Unlock()
	w.taken <- f.Seq
	select {
	case <-done:
		return []byte(fmt.Sprintf(`{"type":"result","seq":%d}`, f.Seq)), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// PingWorkers: the service ping ($SRV.PING.inference), answered by every worker, full or not.
func (w *fakeWorkers) PingWorkers(context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.room == 0 {
		return nats.ErrNoResponders
	}
	return nil
}

func (w *fakeWorkers) release(seq int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	close(w.held[seq])
	delete(w.held, seq)
}

func (w *fakeWorkers) waitTaken(t *testing.T) int64 {
	t.Helper()
	select {
	case seq := <-w.taken:
		return seq
	case <-time.After(10 * time.Second):
		t.Fatal("no frame reached a worker")
		return 0
	}
}

type outcome struct {
	seq int64
	err error
}

func send(d *dispatcher, seq int64, out chan<- outcome) {
	go func() {
		_, err := d.Request(context.Background(), FrameRequest{Session: "s", Seq: seq})
		out <- outcome{seq, err}
	}()
}

// waitWaiting returns once n frames wait at the dispatcher.
func waitWaiting(t *testing.T, d *dispatcher, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d.mu.Lock()
		got := d.waiting.Len()
		d.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d frames wait, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// With every worker full, frames wait at the hub and go out as answers free
// room (oldest first, though a try for more room may overtake one); none is
// lost.
func TestDispatcherWaitsWhileWorkersAreFull(t *testing.T) {
	workers := newFakeWorkers(1)
	d := newDispatcher(workers, time.Minute, nil, NewMetrics())
	out := make(chan outcome, 10)
	send(d, 1, out)
	if seq := workers.waitTaken(t); seq != 1 {
		t.Fatalf("took %d first", seq)
	}
	for seq := int64(2); seq <= 4; seq++ {
		send(d, seq, out)
		waitWaiting(t, d, int(seq-1))
	}
	answered := map[int64]bool{}
	next := int64(1)
	for range 4 {
		workers.release(next)
		o := <-out
		if o.err != nil || o.seq != next {
			t.Fatalf("answer %+v, want frame %d answered", o, next)
		}
		answered[o.seq] = true
		if len(answered) < 4 {
			next = workers.waitTaken(t)
			if answered[next] {
				t.Fatalf("frame %d taken twice", next)
			}
		}
	}
	if workers.refused == 0 {
		t.Fatal("no frame found the workers full: the test did not test waiting")
	}
}

// A frame that waits longer than the dispatch wait is shed: ErrOverloaded,
// which the scheduler answers dropped/overloaded and the API 429.
func TestDispatcherShedsPastTheWait(t *testing.T) {
	workers := newFakeWorkers(1)
	d := newDispatcher(workers, 20*time.Millisecond, nil, NewMetrics())
	out := make(chan outcome, 10)
	send(d, 1, out)
	workers.waitTaken(t)
	send(d, 2, out)
	o := <-out
	if o.seq != 2 || !errors.Is(o.err, ErrOverloaded) {
		t.Fatalf("got %+v, want frame 2 shed with ErrOverloaded", o)
	}
	if code := codeOf(o.err); code != "rate_limited" {
		t.Fatalf("API code %q for a shed frame", code)
	}
	workers.release(1)
	if o := <-out; o.seq != 1 || o.err != nil {
		t.Fatalf("frame 1: %+v", o)
	}
	// Room again: the next frame goes straight through.
	send(d, 3, out)
	workers.waitTaken(t)
	workers.release(3)
	if o := <-out; o.seq != 3 || o.err != nil {
		t.Fatalf("frame 3: %+v", o)
	}
}

// No workers at all (no responders, nothing of ours at a worker, none seen
// lately): "unavailable" at once, as before, not a wait.
func TestDispatcherNoWorkersIsUnavailable(t *testing.T) {
	none := newFakeWorkers(0)
	d := newDispatcher(none, time.Minute, nil, NewMetrics())
	_, err := d.Request(context.Background(), FrameRequest{Session: "s", Seq: 1})
	if code := codeOf(err); code != "unavailable" {
		t.Fatalf("code %q (%v), want unavailable", code, err)
	}
}

// Workers that are all full from the start (nothing of ours answered yet)
// are not mistaken for no workers: the frame waits, then is shed.
func TestDispatcherFullFromTheStartIsNotUnavailable(t *testing.T) {
	workers := newFakeWorkers(1)
	workers.held[99] = make(chan struct{}) // another hub's frame
	d := newDispatcher(workers, 20*time.Millisecond, nil, NewMetrics())
	_, err := d.Request(context.Background(), FrameRequest{Session: "s", Seq: 1})
	if !errors.Is(err, ErrOverloaded) {
		t.Fatalf("got %v, want ErrOverloaded", err)
	}
}

// The frame's own deadline bounds its wait too: answered timeout.
func TestDispatcherWaitEndsAtTheFrameDeadline(t *testing.T) {
	workers := newFakeWorkers(1)
	d := newDispatcher(workers, time.Minute, nil, NewMetrics())
	out := make(chan outcome, 1)
	send(d, 1, out)
	workers.waitTaken(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := d.Request(ctx, FrameRequest{Session: "s", Seq: 2})
	if code := codeOf(err); code != "timeout" {
		t.Fatalf("code %q (%v), want timeout", code, err)
	}
	workers.release(1)
	<-out
}

// Room that appears beyond what answers free (new workers) is found: with
// answers coming back, the frames at workers grow past what they were when
// the workers were first full.
func TestDispatcherFindsNewRoom(t *testing.T) {
	const frames = 40
	workers := newFakeWorkers(1)
	d := newDispatcher(workers, time.Minute, nil, NewMetrics())
	out := make(chan outcome, frames)
	send(d, 1, out)
	workers.waitTaken(t)
	for seq := int64(2); seq <= frames; seq++ {
		send(d, seq, out)
	}
	waitWaiting(t, d, frames-1)
	workers.mu.Lock()
	workers.room = 4 // three more workers joined
	workers.mu.Unlock()
	mostHeld := 0
	taken := []int64{1}
	for answered := 0; answered < frames; answered++ {
		workers.release(taken[0])
		taken = taken[1:]
		if o := <-out; o.err != nil {
			t.Fatalf("frame %d: %v", o.seq, o.err)
		}
		// Let whoever was given a turn reach a worker (or find none).
		for len(taken) == 0 && answered < frames-1 {
			taken = append(taken, workers.waitTaken(t))
		}
	drain:
		for {
			select {
			case seq := <-workers.taken:
				taken = append(taken, seq)
			case <-time.After(20 * time.Millisecond):
				break drain
			}
		}
		mostHeld = max(mostHeld, len(taken))
	}
	if mostHeld < 4 {
		t.Fatalf("at most %d frames at workers, want the 4 they have room for", mostHeld)
	}
}

package hub

import (
	"bytes"
	"context"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace/noop"
	"golang.org/x/time/rate"

	"github.com/webcamhub/webcamhub/contract"
	"github.com/webcamhub/webcamhub/hub/internal/imagesniff"
)

// stopWait bounds waiting for the scheduler's goroutines to end: they end
// at once; far longer means they never will.
const stopWait = 10 * time.Second

// A session's frames, each sent once the last is answered, are worked on
// by the goroutine that worked on the first (it lingers for the next), and
// that goroutine ends when the session stops.
func TestFrameSchedulerReusesItsGoroutine(t *testing.T) {
	workers := &goroutineWorkers{}
	fs, answers, _ := newTestScheduler(t, workers)
	fs.linger = time.Hour // only stop ends it
	for seq := int64(1); seq <= 5; seq++ {
		fs.submit(seq, fakeJPEG, time.Now())
		if answer := <-answers; !bytes.Contains(answer, []byte(`"seq":`+strconv.FormatInt(seq, 10)+`,`)) {
			t.Fatalf("frame %d answered %s", seq, answer)
		}
		// The answer is queued just before its goroutine is free: the
		// next frame comes once it waits for one.
		awaitIdle(t, fs)
	}
	if ids := workers.goroutines(); len(ids) != 1 {
		t.Fatalf("5 frames one after another were worked on by %d goroutines, want 1", len(ids))
	}
	ended := make(chan struct{})
	go func() { fs.stop(); close(ended) }()
	select {
	case <-ended:
	case <-time.After(stopWait):
		t.Fatal("stop did not end the lingering goroutine")
	}
}

// A session that starts closing ends its lingering goroutines, stopped or not.
func TestFrameSchedulerClosingEndsItsGoroutines(t *testing.T) {
	fs, answers, closing := newTestScheduler(t, &goroutineWorkers{})
	fs.linger = time.Hour
	fs.submit(1, fakeJPEG, time.Now())
	<-answers
	close(closing)
	ended := make(chan struct{})
	go func() { fs.active.Wait(); close(ended) }()
	select {
	case <-ended:
	case <-time.After(stopWait):
		t.Fatal("closing did not end the lingering goroutine")
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.idle != 0 || fs.busy != 0 {
		t.Fatalf("after closing: %d idle, %d busy, want 0 and 0", fs.idle, fs.busy)
	}
}

// awaitIdle returns once a goroutine of fs waits for a frame.
func awaitIdle(t *testing.T, fs *frameScheduler) {
	t.Helper()
	deadline := time.Now().Add(stopWait)
	for {
		fs.mu.Lock()
		idle := fs.idle
		fs.mu.Unlock()
		if idle > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no goroutine of the scheduler came to wait for a frame")
		}
		time.Sleep(time.Millisecond)
	}
}

// newTestScheduler is a session's scheduler with workers behind its
// dispatcher, every frame passing the check and the rate; its answers come
// out of answers, and closing is its session's.
func newTestScheduler(t testing.TB, workers workerPool) (fs *frameScheduler, answers <-chan []byte, closing chan struct{}) {
	queue := make(chan []byte, 16)
	closing = make(chan struct{})
	off := noop.NewTracerProvider().Tracer(instrumentationName) // tracing off, as the hub runs by default
	m := NewMetrics()
	fs = newFrameScheduler(schedulerDeps{
		session:  "test",
		dispatch: newDispatcher(workers, nil, time.Minute, off, m),
		metrics:  m, log: testLogger(t),
		enqueue:  func(msg []byte) { queue <- msg },
		closing:  closing,
		limiter:  rate.NewLimiter(rate.Inf, 1),
		check:    func([]byte) (imagesniff.Info, string) { return imagesniff.Info{ContentType: "image/jpeg"}, "" },
		inFlight: 2, timeout: time.Minute, tracer: off,
	})
	t.Cleanup(fs.stop)
	return fs, queue, closing
}

// goroutineWorkers answers every frame with a result at once and notes
// which goroutine sent it.
type goroutineWorkers struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (w *goroutineWorkers) Request(_ context.Context, f FrameRequest) ([]byte, error) {
	buf := make([]byte, 64)
	id, _, _ := bytes.Cut(bytes.TrimPrefix(buf[:runtime.Stack(buf, false)], []byte("goroutine ")), []byte(" "))
	w.mu.Lock()
	if w.ids == nil {
		w.ids = map[string]bool{}
	}
	w.ids[string(id)] = true
	w.mu.Unlock()
	return mustJSON(contract.Result{Type: contract.TypeResult, Seq: f.Seq, Session: f.Session,
		Predictions: []contract.Prediction{{Label: "cat", Confidence: 1}}}), nil
}

func (w *goroutineWorkers) PingWorkers(context.Context) error { return nil }

func (w *goroutineWorkers) goroutines() map[string]bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ids
}

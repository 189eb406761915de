// Package testworker is an instant inference worker written in Go: it speaks
// the worker's side of the NATS contract (the queue group on the frames
// wildcard, results on the result subject of each frame, the workers' micro
// service) with fixed predictions. Tests use it to exercise the hub without a model, and the
// benchmark uses it to measure the hub alone.
package testworker

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/webcamhub/webcamhub/contract"
)

// Options shape the worker's behaviour.
type Options struct {
	Name  string        // "worker" in results
	Delay time.Duration // how long each frame "takes"
	// Hold, when set, makes every frame wait until it is closed (a worker that hangs).
	Hold chan struct{}
	// Pad adds this many bytes to each result (a client that must read a lot).
	Pad int
	// FailCode, when set, answers every frame with an error of this code
	// and FailMessage, the way a worker that cannot decode a frame does.
	FailCode    string
	FailMessage string
	// Judge, when set, decides each frame by its bytes: the error code to
	// answer it with (none for a result) and the decode time its result
	// reports, as a real worker does for junk or for an expensive image.
	Judge func(image []byte) (failCode string, decodeMs float64)
}

// Worker is a running test worker.
type Worker struct {
	opts    Options
	subs    []*nats.Subscription
	service micro.Service // answers the micro service's ping, info and stats
	nc      *nats.Conn
	frames  atomic.Int64
	traced  atomic.Int64 // frames that carried a traceparent header
	lastTP  atomic.Value // the last traceparent header seen (a string)
	mu      sync.Mutex
	active  map[string]int // frames being worked on, per session
	maxBusy map[string]int // the most frames of a session worked on at once
}

// Result is the worker's result JSON, with Pad to make it as large as a test needs.
type Result struct {
	contract.Result
	Pad string `json:"pad,omitempty"`
}

// Start subscribes the worker on nc.
func Start(nc *nats.Conn, opts Options) (*Worker, error) {
	if opts.Name == "" {
		opts.Name = "go-test-worker"
	}
	w := &Worker{opts: opts, nc: nc, active: map[string]int{}, maxBusy: map[string]int{}}
	frames, err := nc.QueueSubscribe(contract.FramesWildcard, contract.QueueGroup, w.handle)
	if err != nil {
		return nil, err
	}
	w.subs = []*nats.Subscription{frames}
	w.service, err = micro.AddService(nc, micro.Config{
		Name: contract.WorkerService, Version: "1.0.0",
		Metadata: map[string]string{"worker": opts.Name, "model": "mobilenet_v2", "backend": "go-test", "batch_max": "1"},
	})
	if err != nil {
		_ = frames.Unsubscribe()
		return nil, err
	}
	// Once Flush returns the server has the subscriptions: the worker is
	// reachable from the moment Start returns.
	if err := nc.Flush(); err != nil {
		w.Stop()
		return nil, err
	}
	return w, nil
}

func (w *Worker) handle(m *nats.Msg) {
	// nats.go calls a subscription's handler one message at a time; a real
	// worker overlaps frames, so each one gets its own goroutine.
	go w.classify(m)
}

func (w *Worker) classify(m *nats.Msg) {
	w.frames.Add(1)
	if tp := m.Header.Get(contract.HeaderTraceparent); tp != "" {
		w.traced.Add(1)
		w.lastTP.Store(tp)
	}
	session := m.Header.Get(contract.HeaderSessionID)
	seq, _ := strconv.ParseInt(m.Header.Get(contract.HeaderFrameSeq), 10, 64)
	w.mu.Lock()
	w.active[session]++
	if w.active[session] > w.maxBusy[session] {
		w.maxBusy[session] = w.active[session]
	}
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.active[session]--
		w.mu.Unlock()
	}()
	if w.opts.Hold != nil {
		<-w.opts.Hold
	}
	if w.opts.Delay > 0 {
		time.Sleep(w.opts.Delay)
	}
	failCode, decodeMs := w.opts.FailCode, 0.0
	if w.opts.Judge != nil {
		failCode, decodeMs = w.opts.Judge(m.Data)
	}
	var data []byte
	if failCode != "" {
		data, _ = json.Marshal(contract.WorkerError{
			Type: contract.TypeError, Seq: seq, Session: session, Code: failCode, Message: w.opts.FailMessage,
		})
	} else {
		res := Result{Result: contract.Result{
			Type: contract.TypeResult, Seq: seq, Session: session, Model: "mobilenet_v2", Worker: w.opts.Name,
			Predictions: []contract.Prediction{
				{Label: "Egyptian cat", Index: 285, Confidence: 0.8},
				{Label: "tabby, tabby cat", Index: 281, Confidence: 0.1},
				{Label: "tiger cat", Index: 282, Confidence: 0.05},
			},
			Timing: contract.Timing{DecodeMs: decodeMs, Batch: 1},
		}}
		if w.opts.Pad > 0 {
			res.Pad = strings.Repeat("x", w.opts.Pad)
		}
		data, _ = json.Marshal(res)
	}
	if kind, id, ok := contract.ParseFrameSubject(m.Subject); ok {
		_ = w.nc.Publish(contract.ResultSubject(kind, id), data)
	}
	if m.Reply != "" && !strings.HasPrefix(m.Reply, "$JS.") {
		_ = m.Respond(data)
	}
}

// Frames is how many frames the worker has seen.
func (w *Worker) Frames() int64 { return w.frames.Load() }

// Traced is how many frames carried a traceparent header.
func (w *Worker) Traced() int64 { return w.traced.Load() }

// LastTraceparent is the traceparent header of the last frame that had one.
func (w *Worker) LastTraceparent() string {
	tp, _ := w.lastTP.Load().(string)
	return tp
}

// MaxBusy is the most frames of session the worker had at once.
func (w *Worker) MaxBusy(session string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.maxBusy[session]
}

// Stop unsubscribes.
func (w *Worker) Stop() {
	for _, s := range w.subs {
		_ = s.Unsubscribe()
	}
	if w.service != nil {
		_ = w.service.Stop()
	}
}

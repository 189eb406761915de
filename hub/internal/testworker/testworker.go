// Package testworker is an instant inference worker written in Go: it speaks
// the worker's side of the NATS contract (queue group "inference" on
// frames.>, results on results.<kind>.<id>, workers.ping) with fixed
// predictions. Tests use it to exercise the hub without a model, and the
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
)

// Options shape the worker's behaviour.
type Options struct {
	Name  string        // "worker" in results
	Delay time.Duration // how long each frame "takes"
	// Hold, when set, makes every frame wait until it is closed (a worker that hangs).
	Hold chan struct{}
	// Pad adds this many bytes to each result (a client that must read a lot).
	Pad int
}

// Worker is a running test worker.
type Worker struct {
	opts    Options
	subs    []*nats.Subscription
	nc      *nats.Conn
	frames  atomic.Int64
	traced  atomic.Int64 // frames that carried a traceparent header
	mu      sync.Mutex
	active  map[string]int // frames being worked on, per session
	maxBusy map[string]int // the most frames of a session worked on at once
}

// Result mirrors the worker's result JSON.
type Result struct {
	Type        string       `json:"type"`
	Seq         int64        `json:"seq"`
	Session     string       `json:"session"`
	Model       string       `json:"model"`
	Predictions []Prediction `json:"predictions"`
	Timing      Timing       `json:"timing"`
	Worker      string       `json:"worker"`
	Pad         string       `json:"pad,omitempty"`
}

// Prediction is one label of a result.
type Prediction struct {
	Label      string  `json:"label"`
	Index      int     `json:"index"`
	Confidence float64 `json:"confidence"`
}

// Timing is the worker's own account of a frame.
type Timing struct {
	DecodeMs float64 `json:"decode_ms"`
	InferMs  float64 `json:"infer_ms"`
	Batch    int     `json:"batch"`
}

// Start subscribes the worker on nc.
func Start(nc *nats.Conn, opts Options) (*Worker, error) {
	if opts.Name == "" {
		opts.Name = "go-test-worker"
	}
	w := &Worker{opts: opts, nc: nc, active: map[string]int{}, maxBusy: map[string]int{}}
	frames, err := nc.QueueSubscribe("frames.>", "inference", w.handle)
	if err != nil {
		return nil, err
	}
	ping, err := nc.Subscribe("workers.ping", func(m *nats.Msg) {
		_ = m.Respond([]byte(`{"worker":"` + opts.Name + `","model":"mobilenet_v2","backend":"go-test"}`))
	})
	if err != nil {
		_ = frames.Unsubscribe()
		return nil, err
	}
	w.subs = []*nats.Subscription{frames, ping}
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
	if m.Header.Get("traceparent") != "" {
		w.traced.Add(1)
	}
	session := m.Header.Get("Session-Id")
	seq, _ := strconv.ParseInt(m.Header.Get("Frame-Seq"), 10, 64)
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
	res := Result{
		Type: "result", Seq: seq, Session: session, Model: "mobilenet_v2", Worker: w.opts.Name,
		Predictions: []Prediction{{"Egyptian cat", 285, 0.8}, {"tabby, tabby cat", 281, 0.1}, {"tiger cat", 282, 0.05}},
		Timing:      Timing{Batch: 1},
	}
	if w.opts.Pad > 0 {
		res.Pad = strings.Repeat("x", w.opts.Pad)
	}
	data, _ := json.Marshal(res)
	kindID := strings.TrimPrefix(m.Subject, "frames.")
	_ = w.nc.Publish("results."+kindID, data)
	if m.Reply != "" && !strings.HasPrefix(m.Reply, "$JS.") {
		_ = m.Respond(data)
	}
}

// Frames is how many frames the worker has seen.
func (w *Worker) Frames() int64 { return w.frames.Load() }

// Traced is how many frames carried a traceparent header.
func (w *Worker) Traced() int64 { return w.traced.Load() }

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
}

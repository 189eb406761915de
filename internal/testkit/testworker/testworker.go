// Package testworker is an instant inference worker written in Go: it speaks
// the worker's side of the NATS contract (one endpoint of the workers'
// micro service per model-version it serves, on infer.{model}.{version}.>
// in the queue group, with the endpoint metadata; results on the result
// subject of each frame) with fixed predictions. Tests use it to exercise the hub without a model, and the
// benchmark uses it to measure the hub alone.
package testworker

import (
	"cmp"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/vmihailenco/msgpack/v5"

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
	// answer it with (none for a result) and the decode timing its result
	// reports (wall and CPU), as a real worker does for junk, for an
	// expensive image or when it is busy.
	Judge func(image []byte) (failCode string, decode contract.Timing)
	// Models are the model-versions it serves; none: DefaultModel.
	Models []Model
	// ModelErrors go in the service metadata model_errors: name@version -> why
	// it failed to load.
	ModelErrors map[string]string
	// FramesPerMessage, when 2 or more, is advertised as frames_per_message:
	// the worker then takes batch messages of up to that many frames (the
	// contract's frameBatch) and answers each with one batch reply.
	FramesPerMessage int
	// ShortBatchReply makes the worker answer a batch with one entry fewer
	// than it carried (a broken worker).
	ShortBatchReply bool
}

// Model is one model-version the worker serves.
type Model struct {
	Name    string
	Version int
	Classes int // 0: 1000
	// DisplayName goes in the endpoint metadata (display_name).
	DisplayName string
}

// DefaultModel is what a worker started without Models serves.
var DefaultModel = Model{Name: "mobilenet_v2", Version: 1}

// Worker is a running test worker.
type Worker struct {
	opts    Options
	service micro.Service // answers the micro service's ping, info and stats
	nc      *nats.Conn
	frames  atomic.Int64
	batches [][]int64    // the seqs of each message, in the order messages came
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
	if len(opts.Models) == 0 {
		opts.Models = []Model{DefaultModel}
	}
	w := &Worker{opts: opts, nc: nc, active: map[string]int{}, maxBusy: map[string]int{}}
	refs := make([]string, len(opts.Models))
	for i, m := range opts.Models {
		refs[i] = contract.ModelRef(m.Name, m.Version)
	}
	if opts.ModelErrors == nil {
		opts.ModelErrors = map[string]string{} // {} when none, as the contract has it
	}
	modelErrors, err := json.Marshal(opts.ModelErrors)
	if err != nil {
		return nil, err
	}
	metadata := map[string]string{
		contract.MetaWorker: opts.Name, contract.MetaBatchMax: "1",
		contract.MetaModels: strings.Join(refs, " "), contract.MetaModelErrors: string(modelErrors),
	}
	if opts.FramesPerMessage > 1 {
		metadata[contract.MetaFramesPerMessage] = strconv.Itoa(opts.FramesPerMessage)
		metadata[contract.MetaBatchMax] = strconv.Itoa(opts.FramesPerMessage)
	}
	w.service, err = micro.AddService(nc, micro.Config{Name: contract.WorkerService, Version: "1.0.0", Metadata: metadata})
	if err != nil {
		return nil, err
	}
	for _, m := range opts.Models {
		err := w.service.AddEndpoint(contract.InferEndpointName(m.Name, m.Version), micro.HandlerFunc(w.handle),
			micro.WithEndpointSubject(contract.InferEndpointSubject(m.Name, m.Version)),
			micro.WithEndpointQueueGroup(contract.QueueGroup),
			micro.WithEndpointMetadata(EndpointMetadata(m)))
		if err != nil {
			_ = w.service.Stop()
			return nil, err
		}
	}
	// Once Flush returns the server has the subscriptions: the worker is
	// reachable from the moment Start returns.
	if err := nc.Flush(); err != nil {
		w.Stop()
		return nil, err
	}
	return w, nil
}

// EndpointMetadata is the endpoint metadata of m, as a worker serving an
// ImageNet classifier from a TFLite file advertises it.
func EndpointMetadata(m Model) map[string]string {
	return map[string]string{
		contract.MetaModel: m.Name, contract.MetaVersion: strconv.Itoa(m.Version), contract.MetaTask: contract.TaskClassification,
		contract.MetaClasses: strconv.Itoa(cmp.Or(m.Classes, 1000)), contract.MetaLabelsSHA256: strings.Repeat("0", 64),
		contract.MetaLabelsSource: contract.LabelsFromImageNet, contract.MetaInput: "224x224x3", contract.MetaInputDtype: "uint8",
		contract.MetaLayout: "NHWC", contract.MetaPlatform: contract.PlatformTFLite, contract.MetaRuntime: "go-test",
		contract.MetaDisplayName: m.DisplayName, contract.MetaDescription: "",
	}
}

func (w *Worker) handle(r micro.Request) {
	// The micro service calls an endpoint's handler one message at a time;
	// a real worker overlaps frames, so each one gets its own goroutine.
	m := &nats.Msg{Subject: r.Subject(), Reply: r.Reply(), Header: nats.Header(r.Headers()), Data: r.Data()}
	if m.Header.Get(contract.HeaderFrameCount) != "" {
		go w.classifyBatch(m)
		return
	}
	go w.classify(m)
}

func (w *Worker) classify(m *nats.Msg) {
	parts, ok := contract.ParseInferSubject(m.Subject)
	if !ok {
		return // not a frame of the contract: nobody to answer
	}
	seq, _ := strconv.ParseInt(m.Header.Get(contract.HeaderFrameSeq), 10, 64)
	w.countMessage(seq)
	data := w.answer(parts, contract.BatchFrame{
		Session: m.Header.Get(contract.HeaderSessionID), Seq: seq, Kind: parts.Kind,
		Traceparent: m.Header.Get(contract.HeaderTraceparent), Image: m.Data,
	})
	if m.Reply != "" && !strings.HasPrefix(m.Reply, "$JS.") {
		_ = w.nc.Publish(m.Reply, data)
	}
}

// classifyBatch answers a batch message: each frame as a single one (its
// result published on its own results subject), then one reply with every
// answer in the message's order; bad_batch for one it cannot take.
func (w *Worker) classifyBatch(m *nats.Msg) {
	parts, ok := contract.ParseInferSubject(m.Subject)
	if !ok {
		return
	}
	var frames []contract.BatchFrame
	err := msgpack.Unmarshal(m.Data, &frames)
	if n, _ := strconv.Atoi(m.Header.Get(contract.HeaderFrameCount)); err != nil || n < 2 || n != len(frames) || n > w.opts.FramesPerMessage {
		data, _ := json.Marshal(contract.WorkerError{Type: contract.TypeError, Code: contract.CodeBadBatch, Message: "not a batch this worker takes"})
		_ = w.nc.Publish(m.Reply, data)
		return
	}
	seqs := make([]int64, len(frames))
	for i, f := range frames {
		seqs[i] = f.Seq
	}
	w.countMessage(seqs...)
	answers := make([][]byte, len(frames))
	var wg sync.WaitGroup
	for i, f := range frames {
		wg.Add(1)
		go func() { // a real worker puts a message's frames into one model batch
			defer wg.Done()
			fp := parts
			fp.Kind, fp.ID = f.Kind, f.Session
			answers[i] = w.answer(fp, f)
		}()
	}
	wg.Wait()
	if w.opts.ShortBatchReply {
		answers = answers[:len(answers)-1]
	}
	body, _ := msgpack.Marshal(answers)
	reply := nats.NewMsg(m.Reply)
	reply.Data = body
	reply.Header.Set(contract.HeaderContentType, contract.ContentTypeFrameBatch)
	reply.Header.Set(contract.HeaderFrameCount, strconv.Itoa(len(answers)))
	_ = w.nc.PublishMsg(reply)
}

func (w *Worker) countMessage(seqs ...int64) {
	w.frames.Add(int64(len(seqs)))
	w.mu.Lock()
	w.batches = append(w.batches, seqs)
	w.mu.Unlock()
}

// answer classifies one frame of model-version parts (kind and id: the
// frame's), publishes its answer on its results subject and returns it.
func (w *Worker) answer(parts contract.InferSubjectParts, f contract.BatchFrame) []byte {
	if tp := f.Traceparent; tp != "" {
		w.traced.Add(1)
		w.lastTP.Store(tp)
	}
	session, seq := f.Session, f.Seq
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
	failCode, timing := w.opts.FailCode, contract.Timing{}
	if w.opts.Judge != nil {
		failCode, timing = w.opts.Judge(f.Image)
	}
	timing.Batch = 1
	var data []byte
	if failCode != "" {
		data, _ = json.Marshal(contract.WorkerError{
			Type: contract.TypeError, Seq: seq, Session: session, Code: failCode, Message: w.opts.FailMessage,
		})
	} else {
		res := Result{Result: contract.Result{
			Type: contract.TypeResult, Seq: seq, Session: session, Worker: w.opts.Name,
			Model: parts.Model, Version: parts.Version, Task: contract.TaskClassification,
			Predictions: []contract.Prediction{
				{Label: "Egyptian cat", Index: 285, Confidence: 0.8},
				{Label: "tabby, tabby cat", Index: 281, Confidence: 0.1},
				{Label: "tiger cat", Index: 282, Confidence: 0.05},
			},
			Timing: timing,
		}}
		if w.opts.Pad > 0 {
			res.Pad = strings.Repeat("x", w.opts.Pad)
		}
		data, _ = json.Marshal(res)
	}
	_ = w.nc.Publish(contract.ResultSubject(parts.Kind, parts.ID), data)
	return data
}

// Messages is the seqs of the frames each message the worker took
// carried (one for a single frame), in the order they came.
func (w *Worker) Messages() [][]int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.batches)
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

// Stop leaves: its endpoints and the service's ping and info stop answering.
func (w *Worker) Stop() {
	if w.service != nil {
		_ = w.service.Stop()
	}
}

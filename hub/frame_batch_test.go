package hub

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/webcamhub/webcamhub/contract"
	"github.com/webcamhub/webcamhub/internal/testkit/testworker"
)

// batchReply is what a test reads of a frame's answer.
type batchReply struct {
	seq     int64
	session string
	worker  string
	code    string // the client's code when the frame failed
}

// startBatchHub runs a real NATS server, a hub on it, and the Go test
// workers of opts (frames_per_message, holds …), and waits until the hub
// knows them all.
func startBatchHub(t *testing.T, opts ...testworker.Options) (*Hub, []*testworker.Worker, string) {
	t.Helper()
	ns := startNATS(t, 0)
	var workers []*testworker.Worker
	for _, o := range opts {
		workers = append(workers, startWorker(t, ns.ClientURL(), o))
	}
	h, _ := startHub(t, ns.ClientURL(), nil)
	waitForInstances(t, h, len(opts))
	return h, workers, ns.ClientURL()
}

// waitForInstances returns once the hub's model table has n workers of the default model.
func waitForInstances(t *testing.T, h *Hub, n int) {
	t.Helper()
	m := testworker.DefaultModel
	waitFor(t, fmt.Sprintf("the hub to know %d workers", n), func() bool {
		h.models.mu.RLock()
		defer h.models.mu.RUnlock()
		v := h.models.served[m.Name][m.Version]
		return v != nil && v.instances == n
	})
}

// sendFrame sends frame seq of session through the hub's dispatcher, within
// timeout, and puts its answer on out.
func sendFrame(h *Hub, session string, seq int64, timeout time.Duration, out chan<- batchReply) {
	sendImage(h, session, seq, timeout, fakeJPEG, out)
}

// sendImage is sendFrame with image as the frame's bytes.
func sendImage(h *Hub, session string, seq int64, timeout time.Duration, image []byte, out chan<- batchReply) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		f := FrameRequest{Kind: contract.KindAPI, Session: session, Seq: seq, ContentType: contract.ContentTypeJPEG, Image: image}
		reply, _, err := h.dispatch.Request(ctx, f)
		if err != nil {
			out <- batchReply{seq: seq, session: session, code: codeOf(err)}
			return
		}
		var r contract.Result
		if err := json.Unmarshal(reply, &r); err != nil {
			out <- batchReply{seq: seq, session: session, code: "unreadable reply: " + err.Error()}
			return
		}
		if r.Type != contract.TypeResult {
			out <- batchReply{seq: seq, session: session, code: "reply of type " + r.Type}
			return
		}
		out <- batchReply{seq: r.Seq, session: r.Session, worker: r.Worker}
	}()
}

// holdSender makes the default model's sender look busy building a
// message (what a run does while it takes the queue), so that the frames
// sent next wait in its queue as they would behind a send being made; the
// returned func waits until n frames are queued and lets a run take them.
func holdSender(t *testing.T, h *Hub) (release func(n int)) {
	t.Helper()
	m := testworker.DefaultModel
	s := h.broker.batches.sender(h.broker, m.Name, m.Version)
	s.mu.Lock()
	s.sending = true
	s.mu.Unlock()
	return func(n int) {
		waitFor(t, fmt.Sprintf("%d frames queued for the model-version", n), func() bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			return len(s.queue) == n
		})
		go s.run()
	}
}

func receive(t *testing.T, out <-chan batchReply) batchReply {
	t.Helper()
	select {
	case r := <-out:
		return r
	case <-time.After(testWait):
		t.Fatal("a frame got no answer")
		return batchReply{}
	}
}

// waitIdle: every frame the dispatcher counted at a worker has been freed
// (a batch reply of n frees n).
func waitIdle(t *testing.T, h *Hub) {
	t.Helper()
	waitFor(t, "no frame counted at the workers", func() bool {
		h.dispatch.mu.Lock()
		defer h.dispatch.mu.Unlock()
		return h.dispatch.inFlight == 0
	})
}

// A lone frame goes alone, as today's single-frame message (the test
// worker refuses a batch of fewer than two), though its worker takes batches.
func TestBatchLoneFrameGoesAlone(t *testing.T) {
	h, workers, _ := startBatchHub(t, testworker.Options{FramesPerMessage: 4})
	out := make(chan batchReply, 1)
	for seq := int64(1); seq <= 2; seq++ {
		sendFrame(h, "s", seq, testWait, out)
		if r := receive(t, out); r.code != "" || r.seq != seq {
			t.Fatalf("frame %d: %+v", seq, r)
		}
	}
	if got := workers[0].Messages(); !slices.EqualFunc(got, [][]int64{{1}, {2}}, slices.Equal) {
		t.Fatalf("messages %v, want two single frames", got)
	}
	wantFramesPerMessage(t, h, 2, 2)
	waitIdle(t, h)
}

// wantFramesPerMessage: hub_frames_per_message counted messages in all,
// with frames in them.
func wantFramesPerMessage(t *testing.T, h *Hub, messages uint64, frames float64) {
	t.Helper()
	families, err := h.metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "hub_frames_per_message" {
			got := f.GetMetric()[0].GetHistogram()
			if got.GetSampleCount() != messages || got.GetSampleSum() != frames {
				t.Fatalf("hub_frames_per_message: %d messages of %v frames, want %d of %v", got.GetSampleCount(), got.GetSampleSum(), messages, frames)
			}
			return
		}
	}
	t.Fatal("no hub_frames_per_message")
}

// Frames for one model-version ready at the same moment (queued while a
// send is being made) go as one message, in order, and each gets its own
// answer; the dispatcher frees all of them with the one reply.
func TestBatchFramesReadyTogetherGoAsOneMessage(t *testing.T) {
	h, workers, _ := startBatchHub(t, testworker.Options{FramesPerMessage: 4})
	release := holdSender(t, h)
	out := make(chan batchReply, 3)
	sessions := map[int64]string{1: "a", 2: "b", 3: "c"}
	for seq := int64(1); seq <= 3; seq++ {
		sendFrame(h, sessions[seq], seq, testWait, out)
		holdUntilQueued(t, h, int(seq))
	}
	release(3)
	for range 3 {
		r := receive(t, out)
		if r.code != "" || r.session != sessions[r.seq] {
			t.Fatalf("answer %+v: want frame %d of %s answered with its own result", r, r.seq, sessions[r.seq])
		}
	}
	if got := workers[0].Messages(); !slices.EqualFunc(got, [][]int64{{1, 2, 3}}, slices.Equal) {
		t.Fatalf("messages %v, want one message of frames 1, 2, 3 in order", got)
	}
	wantFramesPerMessage(t, h, 1, 3)
	waitIdle(t, h)
}

// Frames ready together go in one message only as far as the server's
// max_payload allows: the rest go in the next (a message past it is refused
// by the server, and every frame in it would fail).
func TestBatchStaysWithinTheServersMaxPayload(t *testing.T) {
	h, workers, _ := startBatchHub(t, testworker.Options{FramesPerMessage: 4})
	image := append([]byte{}, fakeJPEG...)
	image = append(image, make([]byte, int(h.broker.nc.MaxPayload())*2/5)...) // two fit in a message, three do not
	release := holdSender(t, h)
	out := make(chan batchReply, 3)
	for seq := int64(1); seq <= 3; seq++ {
		sendImage(h, "s"+strconv.FormatInt(seq, 10), seq, testWait, image, out)
		holdUntilQueued(t, h, int(seq))
	}
	release(3)
	for range 3 {
		if r := receive(t, out); r.code != "" {
			t.Fatalf("frame %d answered %q", r.seq, r.code)
		}
	}
	// Each message is requested from its own goroutine, so the two may
	// reach the worker in either order: what is checked is how they split.
	got := workers[0].Messages()
	slices.SortFunc(got, func(a, b []int64) int { return cmp.Compare(a[0], b[0]) })
	if !slices.EqualFunc(got, [][]int64{{1, 2}, {3}}, slices.Equal) {
		t.Fatalf("messages %v, want frames 1 and 2 together and 3 alone", got)
	}
	waitIdle(t, h)
}

// holdUntilQueued waits until n frames wait in the default model's sender:
// each frame queued in turn, so the batch's order is known.
func holdUntilQueued(t *testing.T, h *Hub, n int) {
	t.Helper()
	m := testworker.DefaultModel
	s := h.broker.batches.sender(h.broker, m.Name, m.Version)
	waitFor(t, fmt.Sprintf("%d frames queued", n), func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.queue) == n
	})
}

// sendTogether sends frames 1…n of session s so that they wait, in order,
// in the model-version's sender behind a send being made (holdSender), then
// lets them go: frames ready at the same moment.
func sendTogether(t *testing.T, h *Hub, n int, out chan<- batchReply) {
	t.Helper()
	release := holdSender(t, h)
	for seq := int64(1); seq <= int64(n); seq++ {
		sendFrame(h, "s", seq, testWait, out)
		holdUntilQueued(t, h, int(seq))
	}
	release(n)
}

// A frame whose deadline passes while its batch is at the worker is
// answered timeout at its deadline; the others get their results when the
// worker answers.
func TestBatchFrameDeadlinePassesWhileItsBatchIsOut(t *testing.T) {
	hold := make(chan struct{})
	h, workers, _ := startBatchHub(t, testworker.Options{FramesPerMessage: 4, Hold: hold})
	release := holdSender(t, h)
	short, long := make(chan batchReply, 1), make(chan batchReply, 2)
	sendFrame(h, "s", 1, testWait, long)
	holdUntilQueued(t, h, 1)
	sendFrame(h, "s", 2, 2*time.Second, short)
	holdUntilQueued(t, h, 2)
	sendFrame(h, "s", 3, testWait, long)
	release(3)
	if r := receive(t, short); r.seq != 2 || r.code != contract.CodeTimeout {
		t.Fatalf("frame 2: %+v, want timeout", r)
	}
	select {
	case r := <-long:
		t.Fatalf("frame %d answered (%+v) while its batch is held", r.seq, r)
	default:
	}
	close(hold)
	for range 2 {
		if r := receive(t, long); r.code != "" || (r.seq != 1 && r.seq != 3) {
			t.Fatalf("answer %+v, want frames 1 and 3 answered with results", r)
		}
	}
	if got := workers[0].Messages(); !slices.EqualFunc(got, [][]int64{{1, 2, 3}}, slices.Equal) {
		t.Fatalf("messages %v, want the three frames in one", got)
	}
	waitIdle(t, h)
}

// Workers that do not advertise frames_per_message (older ones) get single
// frames only, however many are ready at once.
func TestBatchNotAdvertisedMeansSingleFrames(t *testing.T) {
	hold := make(chan struct{})
	h, workers, _ := startBatchHub(t, testworker.Options{Hold: hold})
	const frames = 6
	out := make(chan batchReply, frames)
	for seq := int64(1); seq <= frames; seq++ {
		sendFrame(h, "s", seq, testWait, out)
	}
	waitFor(t, "every frame at the worker", func() bool { return workers[0].Frames() == frames })
	close(hold)
	for range frames {
		if r := receive(t, out); r.code != "" {
			t.Fatalf("answer %+v", r)
		}
	}
	for _, m := range workers[0].Messages() {
		if len(m) != 1 {
			t.Fatalf("messages %v: a batch to a worker that takes single frames only", workers[0].Messages())
		}
	}
	h.broker.batches.mu.Lock()
	defer h.broker.batches.mu.Unlock()
	if len(h.broker.batches.senders) != 0 {
		t.Fatalf("senders %v for a model-version without batches", h.broker.batches.senders)
	}
}

// A batch carries at most the least frames_per_message among the
// model-version's workers.
func TestBatchCapIsTheLeastWorkersTake(t *testing.T) {
	h, workers, _ := startBatchHub(t, testworker.Options{Name: "two", FramesPerMessage: 2}, testworker.Options{Name: "four", FramesPerMessage: 4})
	const frames = 5
	out := make(chan batchReply, frames)
	sendTogether(t, h, frames, out)
	for range frames {
		if r := receive(t, out); r.code != "" {
			t.Fatalf("answer %+v", r)
		}
	}
	var sizes []int
	for _, w := range workers {
		for _, m := range w.Messages() {
			sizes = append(sizes, len(m))
		}
	}
	slices.Sort(sizes)
	if !slices.Equal(sizes, []int{1, 2, 2}) {
		t.Fatalf("frames per message %v, want 2, 2 and 1 (the cap is 2)", sizes)
	}
	waitIdle(t, h)
}

// A batch reply that does not hold one entry per frame answers every frame
// of it internal, and the hub goes on serving.
func TestBatchShortReplyAnswersEveryFrameInternal(t *testing.T) {
	h, workers, _ := startBatchHub(t, testworker.Options{FramesPerMessage: 4, ShortBatchReply: true})
	out := make(chan batchReply, 3)
	sendTogether(t, h, 3, out)
	for range 3 {
		if r := receive(t, out); r.code != contract.CodeInternal {
			t.Fatalf("answer %+v, want internal for every frame of a short batch reply", r)
		}
	}
	sendFrame(h, "s", 4, testWait, out)
	if r := receive(t, out); r.code != "" || r.seq != 4 {
		t.Fatalf("frame 4 after the bad reply: %+v", r)
	}
	if got := len(workers[0].Messages()); got != 2 {
		t.Fatalf("%d messages, want the batch and the lone frame", got)
	}
	waitIdle(t, h)
}

// Failover still holds for batched frames: a worker that leaves holding a
// batch has each of its frames sent once more, to a worker that is there.
func TestBatchFramesOfAWorkerThatLeftAreSentAgain(t *testing.T) {
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) })
	h, workers, url := startBatchHub(t, testworker.Options{Name: "leaving", FramesPerMessage: 4, Hold: hold})
	out := make(chan batchReply, 3)
	sendTogether(t, h, 3, out)
	waitFor(t, "the batch at the leaving worker", func() bool { return workers[0].Frames() == 3 })
	startWorker(t, url, testworker.Options{Name: "staying", FramesPerMessage: 4})
	waitForInstances(t, h, 2)
	workers[0].Stop()
	for range 3 {
		if r := receive(t, out); r.code != "" || r.worker != "staying" {
			t.Fatalf("answer %+v, want a result from the worker that stayed", r)
		}
	}
	waitIdle(t, h)
}

// Each frame of a batch has its own CLIENT span, which names the batch
// message, and its own trace context inside the message.
func TestBatchFramesKeepTheirOwnSpans(t *testing.T) {
	recorder := tracetest.NewSpanRecorder()
	useTracerProvider(t, sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder)))
	h, workers, _ := startBatchHub(t, testworker.Options{FramesPerMessage: 4})
	out := make(chan batchReply, 3)
	sendTogether(t, h, 3, out)
	for range 3 {
		if r := receive(t, out); r.code != "" {
			t.Fatalf("answer %+v", r)
		}
	}
	var requests []sdktrace.ReadOnlySpan
	waitFor(t, "the frames' request spans", func() bool {
		requests = requests[:0]
		for _, s := range recorder.Ended() {
			if strings.HasPrefix(s.Name(), "request ") {
				requests = append(requests, s)
			}
		}
		return len(requests) == 3
	})
	ids := map[string]bool{}
	traceparents := map[string]bool{}
	for _, s := range requests {
		attrs := map[string]string{}
		for _, kv := range s.Attributes() {
			attrs[string(kv.Key)] = kv.Value.Emit()
		}
		if attrs[string(attrBatchID)] == "" || attrs[string(attrBatchFrames)] != "3" || s.SpanKind() != trace.SpanKindClient {
			t.Errorf("request span %q: attributes %v, want the batch's id and its 3 frames", s.Name(), attrs)
		}
		ids[attrs[string(attrBatchID)]] = true
		traceparents["00-"+s.SpanContext().TraceID().String()+"-"+s.SpanContext().SpanID().String()+"-01"] = true
	}
	if len(ids) != 1 || len(traceparents) != 3 {
		t.Errorf("batch ids %v, span contexts %v: want one batch and three spans", ids, traceparents)
	}
	if n, last := workers[0].Traced(), workers[0].LastTraceparent(); n != 3 || !traceparents[last] {
		t.Errorf("the worker got %d traceparents, the last %q; want each frame's own request span", n, last)
	}
}

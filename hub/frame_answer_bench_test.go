package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/webcamhub/webcamhub/contract"
)

// benchReply is a live frame's result as a worker writes it: the top 5
// labels of an ImageNet model, with its timing.
var benchReply = mustJSON(contract.Result{
	Type: contract.TypeResult, Seq: 41, Session: "3f9c2a7e5b1d4c8f", Model: "mobilenet_v2", Version: 1, Task: "classify",
	Predictions: []contract.Prediction{
		{Label: "golden retriever", Index: 207, Confidence: 0.8125},
		{Label: "Labrador retriever", Index: 208, Confidence: 0.09375},
		{Label: "tennis ball", Index: 852, Confidence: 0.03125},
		{Label: "kuvasz", Index: 222, Confidence: 0.01171875},
		{Label: "Great Pyrenees", Index: 257, Confidence: 0.0078125},
	},
	Timing: contract.Timing{DecodeMs: 1.873, DecodeCPUMs: 1.62, InferMs: 11.42, Batch: 4},
	Worker: "worker-7f3a",
})

// BenchmarkAnswerFrame: the hub's reading of a worker's result to a live
// frame (frameScheduler.classify): the reply's head decoded and checked,
// the result counted.
func BenchmarkAnswerFrame(b *testing.B) {
	m := NewMetrics()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f := FrameRequest{Kind: contract.KindLive, Session: "3f9c2a7e5b1d4c8f", Seq: 41}
	to := modelTarget{Name: "mobilenet_v2", Version: 1}
	b.SetBytes(int64(len(benchReply)))
	b.ReportAllocs()
	for b.Loop() {
		var head replyHead
		if a := answerFrame(f, to, benchReply, nil, &head, log, m); a.outcome != OutcomeResult || head.Timing.DecodeMs != 1.873 {
			b.Fatalf("%+v %+v", a, head)
		}
	}
}

// BenchmarkEncodeAnswers: the hub's own answers to a frame, encoded.
func BenchmarkEncodeAnswers(b *testing.B) {
	b.Run("dropped", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			_ = encodeDropped(int64(i), contract.DroppedSuperseded)
		}
	})
	b.Run("error", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			_ = encodeError(int64(i), contract.CodeTimeout)
		}
	})
}

// BenchmarkFrameScheduler: one session's frames through its scheduler, the
// dispatcher and the answer, two in flight, each sent as an answer comes
// back (as a saturated page sends), to workers that answer at once with a
// worker's result: the hub's per-frame work between the WebSocket and NATS,
// without either.
func BenchmarkFrameScheduler(b *testing.B) {
	fs, answers, _ := newTestScheduler(b, instantWorkers{})
	b.ReportAllocs()
	seq := int64(0)
	for range 2 {
		seq++
		fs.submit(seq, fakeJPEG, time.Now())
	}
	for b.Loop() {
		// An answer is queued just before its slot is free: the frame sent
		// on it may wait for the slot, and now and then be superseded.
		if answer := <-answers; !bytes.HasPrefix(answer, []byte(`{"type":"result"`)) && !bytes.HasPrefix(answer, []byte(`{"type":"dropped"`)) {
			b.Fatalf("answered %s", answer)
		}
		seq++
		fs.submit(seq, fakeJPEG, time.Now())
	}
	<-answers
	<-answers
}

// instantWorkers answers every frame at once with benchReply, for its seq.
type instantWorkers struct{}

var benchReplyAnswer = func() seqAnswer {
	var r contract.Result
	if err := json.Unmarshal(benchReply, &r); err != nil {
		panic(err)
	}
	r.Seq = seqMarker
	return newSeqAnswer(r)
}()

func (instantWorkers) Request(_ context.Context, f FrameRequest) ([]byte, error) {
	return benchReplyAnswer.with(f.Seq), nil
}
func (instantWorkers) PingWorkers(context.Context) error { return nil }

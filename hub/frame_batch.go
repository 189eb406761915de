package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"github.com/vmihailenco/msgpack/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/webcamhub/webcamhub/contract"
	"github.com/webcamhub/webcamhub/hub/internal/sessionid"
)

// Frames in batches (docs/dispatch.md, "Several frames per message"): when
// several frames for the same model-version are ready at the same moment,
// they go to a worker as ONE message (kind batch, a msgpack array), and its
// one reply is split into each frame's answer. Batches form only from frames
// already there: a model-version's sender takes whatever is queued for it,
// and the frames that arrive while it builds and hands off that message go
// in the next one. Nothing waits for more frames: a lone frame goes at once,
// as a plain single-frame message. A model-version goes only single frames
// unless every worker the hub knows for it advertises frames_per_message of
// 2 or more (modelTable.perMessage), which also caps the batch.
//
// Each frame keeps its own attempt (its deadline, its failover, its CLIENT
// span with the batch message's id), and returns from requestOnce alone: at
// its deadline while its batch is still out, with its entry of the reply
// otherwise. The batch's request ends once every frame of it has returned.

var (
	attrBatchID     = attribute.Key("messaging.message.id")          // the batch message a frame went in
	attrBatchFrames = attribute.Key("messaging.batch.message_count") // how many frames it carried
)

// frameBatches holds one sender per model-version that has been sent batches.
type frameBatches struct {
	// instance is the hub's id in batch subjects (infer.{model}.{version}.batch.{instance}).
	instance string
	mu       sync.Mutex
	senders  map[modelTarget]*batchSender
}

func newFrameBatches() frameBatches {
	return frameBatches{instance: sessionid.New(), senders: map[modelTarget]*batchSender{}}
}

// sender is the model-version's sender, made on first use.
func (fb *frameBatches) sender(b *natsBroker, name string, version int) *batchSender {
	key := modelTarget{Name: name, Version: version}
	fb.mu.Lock()
	defer fb.mu.Unlock()
	s := fb.senders[key]
	if s == nil {
		s = &batchSender{b: b, subject: contract.InferSubject(name, version, contract.KindBatch, fb.instance)}
		fb.senders[key] = s
	}
	return s
}

// batchSender sends one model-version's frames: the queued frames, up to
// the cap, as one message each time it runs.
type batchSender struct {
	b       *natsBroker
	subject string

	mu      sync.Mutex
	queue   []*batchedFrame
	sending bool // a run is taking the queue: frames that arrive now go in its next message
}

// batchedFrame is one frame on its way through a sender.
type batchedFrame struct {
	f      FrameRequest
	ctx    context.Context       // the frame's attempt (its deadline, its failover)
	limit  int                   // the most frames a message may carry, as its model-version's workers said when it came
	answer chan frameAnswerBytes // one answer, never blocks its sender
}

type frameAnswerBytes struct {
	reply []byte
	err   error
}

// request sends f within ctx (its attempt) in the next message to its
// model-version, with at most limit frames, and returns its own reply: its
// entry of a batch reply, or the reply of a message it went alone in.
func (s *batchSender) request(ctx context.Context, f FrameRequest, limit int) ([]byte, error) {
	bf := &batchedFrame{f: f, ctx: ctx, limit: limit, answer: make(chan frameAnswerBytes, 1)}
	s.mu.Lock()
	s.queue = append(s.queue, bf)
	start := !s.sending
	s.sending = true
	s.mu.Unlock()
	if start {
		go s.run()
	}
	select {
	case a := <-bf.answer:
		return a.reply, a.err
	case <-ctx.Done():
		// Its deadline, or failover: answered now, whatever its batch does.
		return nil, ctx.Err()
	}
}

// run sends what is queued, as many frames a message as the oldest one's
// limit, until the queue is empty; frames that arrive while it builds a
// message go in the next one.
func (s *batchSender) run() {
	// Frames already runnable (woken together by one batch reply) queue
	// before the first take: a yield, not a wait: nothing holds a frame
	// once nothing else is ready to run.
	runtime.Gosched()
	for {
		s.mu.Lock()
		batch := s.takeLocked()
		if batch == nil {
			s.sending = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		msg, err := s.message(batch)
		if err != nil {
			deliverAll(batch, nil, err)
			continue
		}
		s.b.sent(len(batch))
		go s.exchange(msg, batch)
	}
}

// takeLocked takes up to the oldest one's limit of queued frames that still
// wait for their answer, oldest first; nil when none is queued. Called with
// mu held.
func (s *batchSender) takeLocked() []*batchedFrame {
	var batch []*batchedFrame
	room := s.b.nc.MaxPayload() - batchHeaderBytes // what the server takes in one message
	for len(s.queue) > 0 && (len(batch) == 0 || len(batch) < batch[0].limit) {
		bf := s.queue[0]
		size := batchEntryBytes(bf.f)
		if len(batch) > 0 && size > room {
			break // goes first in the next message (alone, it fits: checkPayloadLimit)
		}
		s.queue[0] = nil
		s.queue = s.queue[1:]
		if bf.ctx.Err() == nil { // one that gave up has returned already
			batch = append(batch, bf)
			room -= size
		}
	}
	if len(s.queue) == 0 {
		s.queue = nil // let the backing array go
	}
	return batch
}

const (
	// batchHeaderBytes: the batch message's headers (NATS/1.0, Frame-Count,
	// Content-Type, Frame-Deadline) with room to spare.
	batchHeaderBytes = 256
	// batchEntryOverhead: one entry's msgpack keys, seq, top_k, deadline and
	// traceparent (55 bytes), with room to spare; its strings are added.
	batchEntryOverhead = 160
)

// batchEntryBytes is at least what f takes in a batch body, so the frames
// a message carries stay within the server's max_payload.
func batchEntryBytes(f FrameRequest) int64 {
	return int64(len(f.Image) + len(f.Session) + len(f.Kind) + len(f.ContentType) + batchEntryOverhead)
}

// message is batch as one NATS message: a lone frame exactly as today's
// single frame, several as a batch.
func (s *batchSender) message(batch []*batchedFrame) (*nats.Msg, error) {
	if len(batch) == 1 {
		bf := batch[0]
		return frameRequestMsg(bf.ctx, contract.InferSubject(bf.f.Model, bf.f.Version, bf.f.Kind, bf.f.Session), bf.f), nil
	}
	id := "" // the message's id for the frames' spans, made only when one records
	entries := make([]contract.BatchFrame, len(batch))
	var latest int64 // the message's Frame-Deadline: the latest of its frames'
	endless := false // a frame without a deadline: the message has none
	for i, bf := range batch {
		carrier := propagation.MapCarrier{}
		propagator.Inject(bf.ctx, carrier)
		var deadlineMs int64
		if deadline, ok := bf.ctx.Deadline(); ok {
			deadlineMs = deadline.UnixMilli()
		} else {
			endless = true
		}
		latest = max(latest, deadlineMs)
		entries[i] = contract.BatchFrame{
			Session: bf.f.Session, Seq: bf.f.Seq, Kind: bf.f.Kind, ContentType: bf.f.ContentType, TopK: bf.f.TopK,
			DeadlineMs: deadlineMs, Traceparent: carrier.Get(contract.HeaderTraceparent), Image: bf.f.Image,
		}
		if span := trace.SpanFromContext(bf.ctx); span.IsRecording() {
			if id == "" {
				id = sessionid.New()
			}
			span.SetAttributes(attrBatchID.String(id), attrBatchFrames.Int(len(batch)))
		}
	}
	body, err := msgpack.Marshal(entries)
	if err != nil {
		return nil, fmt.Errorf("encoding a batch of %d frames: %w", len(batch), err)
	}
	msg := nats.NewMsg(s.subject)
	msg.Data = body
	msg.Header.Set(contract.HeaderFrameCount, strconv.Itoa(len(batch)))
	msg.Header.Set(contract.HeaderContentType, contract.ContentTypeFrameBatch)
	if !endless {
		msg.Header.Set(contract.HeaderFrameDeadline, strconv.FormatInt(latest, 10))
	}
	return msg, nil
}

// exchange requests msg and gives each frame of batch its answer. The
// request lasts until its reply, or until every frame of it has returned
// (answered at its deadline, or failed over).
func (s *batchSender) exchange(msg *nats.Msg, batch []*batchedFrame) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var waiting atomic.Int32
	waiting.Store(int32(len(batch)))
	for _, bf := range batch {
		stop := context.AfterFunc(bf.ctx, func() {
			if waiting.Add(-1) == 0 {
				cancel()
			}
		})
		defer stop()
	}
	reply, err := s.b.nc.RequestMsgWithContext(ctx, msg)
	if err != nil {
		deliverAll(batch, nil, err)
		return
	}
	if len(batch) == 1 {
		deliverAll(batch, reply.Data, nil)
		return
	}
	answers, err := splitBatchReply(reply, len(batch))
	if err != nil {
		s.b.log.Error("bad batch reply from a worker", "subject", msg.Subject, "frames", len(batch), "err", err)
		deliverAll(batch, nil, err)
		return
	}
	for i, bf := range batch {
		if answers[i] == nil { // expired at the worker: past its deadline
			bf.answer <- frameAnswerBytes{err: fmt.Errorf("frame %s #%d expired at the worker: %w", bf.f.Session, bf.f.Seq, ErrTimeout)}
			continue
		}
		bf.answer <- frameAnswerBytes{reply: answers[i]}
	}
}

func deliverAll(batch []*batchedFrame, reply []byte, err error) {
	for _, bf := range batch {
		bf.answer <- frameAnswerBytes{reply: reply, err: err}
	}
}

// splitBatchReply is each frame's answer in a batch reply of n frames: its
// JSON bytes, or nil for one that expired at the worker. A reply that is
// not n entries of bytes or nil (a worker's bad_batch error among them) is
// an error wrapping ErrBadReply, which answers every frame internal.
func splitBatchReply(reply *nats.Msg, n int) ([][]byte, error) {
	if got := reply.Header.Get(contract.HeaderFrameCount); got != strconv.Itoa(n) {
		var head replyHead
		_ = json.Unmarshal(reply.Data, &head) // a worker's error (bad_batch) says why
		return nil, fmt.Errorf("%w: %s %q for %d frames (worker code %q: %s)", ErrBadReply, contract.HeaderFrameCount, got, n, head.Code, head.Message)
	}
	var entries []any
	if err := msgpack.Unmarshal(reply.Data, &entries); err != nil {
		return nil, fmt.Errorf("%w: batch reply: %w", ErrBadReply, err)
	}
	if len(entries) != n {
		return nil, fmt.Errorf("%w: batch reply of %d entries for %d frames", ErrBadReply, len(entries), n)
	}
	answers := make([][]byte, n)
	for i, e := range entries {
		switch e := e.(type) {
		case nil:
		case []byte:
			if len(e) == 0 {
				return nil, fmt.Errorf("%w: batch reply entry %d is empty", ErrBadReply, i)
			}
			answers[i] = e
		default:
			return nil, fmt.Errorf("%w: batch reply entry %d is a %T, not bytes", ErrBadReply, i, e)
		}
	}
	return answers, nil
}

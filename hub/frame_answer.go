// A worker's reply to a frame, read.

package hub

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/buger/jsonparser"

	"github.com/webcamhub/webcamhub/contract"
)

// replyHead is the part of a worker's answer the hub reads before the bytes
// of a result go to a client unchanged.
type replyHead struct {
	Type    string `json:"type"`
	Seq     int64  `json:"seq"`
	Code    string `json:"code"`    // errors only
	Message string `json:"message"` // errors only: the worker's text, for the log
	// Timing is the worker's account of a result; the decode time is what
	// the session is charged (frameCredit).
	Timing contract.Timing `json:"timing"`
}

// errReplyField: a field of a worker's reply the hub reads has the wrong
// JSON type (what json.Unmarshal reports as an UnmarshalTypeError).
var errReplyField = errors.New("reply field of the wrong type")

// decode reads reply into h: what json.Unmarshal(reply, h) does, at a
// fraction of its cost, which was the hub's own largest per-frame cost at
// saturation (docs/benchmarks.md, "Hub CPU profile at saturation"). The
// reply is checked whole by json.Valid (it goes to the client as the worker
// wrote it), then jsonparser finds the fields of h without decoding the
// rest (the predictions). Keys are matched exactly as the contract spells
// them (json.Unmarshal also takes other cases); a null leaves a field as it
// was, as json.Unmarshal does.
func (h *replyHead) decode(reply []byte) error {
	if !json.Valid(reply) {
		return errors.New("reply is not valid JSON")
	}
	return jsonparser.ObjectEach(reply, func(key, value []byte, vt jsonparser.ValueType, _ int) error {
		if vt == jsonparser.Null {
			return nil
		}
		var err error
		switch string(key) {
		case "type":
			h.Type, err = replyString(value, vt)
		case "seq":
			h.Seq, err = replyInt(value, vt)
		case "code":
			h.Code, err = replyString(value, vt)
		case "message":
			h.Message, err = replyString(value, vt)
		case "timing":
			if vt != jsonparser.Object {
				return fmt.Errorf("%w: timing", errReplyField)
			}
			err = decodeTiming(value, &h.Timing)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		return nil
	})
}

// decodeTiming reads the reply's timing object into t.
func decodeTiming(value []byte, t *contract.Timing) error {
	return jsonparser.ObjectEach(value, func(key, value []byte, vt jsonparser.ValueType, _ int) error {
		if vt == jsonparser.Null {
			return nil
		}
		var err error
		switch string(key) {
		case "decode_ms":
			t.DecodeMs, err = replyFloat(value, vt)
		case "decode_cpu_ms":
			t.DecodeCPUMs, err = replyFloat(value, vt)
		case "infer_ms":
			t.InferMs, err = replyFloat(value, vt)
		case "batch":
			var n int64
			n, err = replyInt(value, vt)
			t.Batch = int(n)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		return nil
	})
}

// replyString is a JSON string's value, unescaped; the types of a result
// and of an error come without an allocation. (Invalid UTF-8 stays as it
// is, where json.Unmarshal writes U+FFFD: only a logged message can differ,
// an unknown code is internal either way.)
func replyString(value []byte, vt jsonparser.ValueType) (string, error) {
	if vt != jsonparser.String {
		return "", errReplyField
	}
	switch string(value) {
	case contract.TypeResult:
		return contract.TypeResult, nil
	case contract.TypeError:
		return contract.TypeError, nil
	}
	return jsonparser.ParseString(value)
}

// replyInt and replyFloat parse numbers as json.Unmarshal does (strconv).
func replyInt(value []byte, vt jsonparser.ValueType) (int64, error) {
	if vt != jsonparser.Number {
		return 0, errReplyField
	}
	return strconv.ParseInt(string(value), 10, 64)
}

func replyFloat(value []byte, vt jsonparser.ValueType) (float64, error) {
	if vt != jsonparser.Number {
		return 0, errReplyField
	}
	return strconv.ParseFloat(string(value), 64)
}

// checkReply makes sure a decoded worker reply is a result or an error for
// the frame seq.
func checkReply(head replyHead, seq int64) error {
	if head.Type != contract.TypeResult && head.Type != contract.TypeError {
		return fmt.Errorf("%w: type %q", ErrBadReply, head.Type)
	}
	if head.Seq != seq {
		return fmt.Errorf("%w: reply for frame %d, want %d", ErrBadReply, head.Seq, seq)
	}
	return nil
}

// decodedReply is a worker's reply decoded: its head alone (a live frame's
// result goes to the client as the worker wrote it), or with the
// predictions (workerReply, which the analyze API reshapes).
type decodedReply interface{ header() *replyHead }

func (h *replyHead) header() *replyHead { return h }

// frameAnswer is what a client is told of a frame sent to the workers.
type frameAnswer struct {
	outcome string // OutcomeResult, OutcomeError, or OutcomeDropped (a live frame every worker stayed full for)
	code    string // OutcomeError: the client's code
	// byWorker: the code is the worker's own answer (bad_image, too_large …),
	// not the hub's.
	byWorker bool
}

// answerFrame turns a worker request's reply and error for f into the
// client's answer, the live sessions' and the analyze API's alike: the reply
// decoded into into and checked, a worker's error worded by the contract,
// the hub's error by codeOf. Every worker full drops a live frame (the
// client's next frame is the newer one) and answers an API call
// rate_limited. It logs what the client is not told and counts the result,
// error or shed frame (Metrics).
func answerFrame(f FrameRequest, sentTo modelTarget, reply []byte, err error, into decodedReply, log *slog.Logger, m *Metrics) frameAnswer {
	if err != nil {
		if f.Kind == contract.KindLive && errors.Is(err, ErrOverloaded) {
			m.Shed.Inc()
			return frameAnswer{outcome: OutcomeDropped}
		}
		code := codeOf(err)
		if code == contract.CodeInternal {
			log.Error("frame failed", "kind", f.Kind, "seq", f.Seq, "err", err)
		}
		return answerError(m, code, false)
	}
	if err := decodeReply(reply, into); err != nil {
		log.Error("bad worker reply", "kind", f.Kind, "seq", f.Seq, "err", errors.Join(ErrBadReply, err))
		return answerError(m, contract.CodeInternal, false)
	}
	head := into.header()
	if err := checkReply(*head, f.Seq); err != nil {
		log.Error("bad worker reply", "kind", f.Kind, "seq", f.Seq, "err", err)
		return answerError(m, contract.CodeInternal, false)
	}
	if head.Type == contract.TypeError {
		log.Debug("worker answered an error", "kind", f.Kind, "seq", f.Seq, "code", head.Code, "message", head.Message)
		return answerError(m, publicCode(head.Code), true)
	}
	m.CountResult(sentTo)
	return frameAnswer{outcome: OutcomeResult}
}

// decodeReply decodes a live frame's reply head with replyHead.decode and
// any other (the analyze API's whole reply) with json.Unmarshal.
func decodeReply(reply []byte, into decodedReply) error {
	if h, ok := into.(*replyHead); ok {
		return h.decode(reply)
	}
	return json.Unmarshal(reply, into)
}

func answerError(m *Metrics, code string, byWorker bool) frameAnswer {
	m.CountError(code)
	return frameAnswer{outcome: OutcomeError, code: code, byWorker: byWorker}
}

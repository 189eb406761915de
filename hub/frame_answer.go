// A worker's reply to a frame, read.

package hub

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

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
func answerFrame(f FrameRequest, reply []byte, err error, into decodedReply, log *slog.Logger, m *Metrics) frameAnswer {
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
	if err := json.Unmarshal(reply, into); err != nil {
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
	m.Results.Inc()
	return frameAnswer{outcome: OutcomeResult}
}

func answerError(m *Metrics, code string, byWorker bool) frameAnswer {
	m.CountError(code)
	return frameAnswer{outcome: OutcomeError, code: code, byWorker: byWorker}
}

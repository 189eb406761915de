package hub

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/webcamhub/webcamhub/hub/contract"
)

// closeAbnormal marks a connection that failed under the hub: no close
// frame can be sent (RFC 6455 reserves 1006 for exactly that), so it is no
// part of the contract, and its reasons reach the log only.
const (
	closeAbnormal       = 1006
	abnormalWriteFailed = "write failed"
	abnormalPingFailed  = "ping failed"
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

// parseReplyHead decodes the head of a worker's reply to frame seq and
// checks it.
func parseReplyHead(reply []byte, seq int64) (replyHead, error) {
	var head replyHead
	if err := json.Unmarshal(reply, &head); err != nil {
		return head, errors.Join(ErrBadReply, err)
	}
	return head, checkReply(head, seq)
}

// encodeError is the error answer for code, with the code's fixed sentence.
func encodeError(seq int64, code string) []byte {
	row, _ := contract.LookupError(code)
	return mustJSON(contract.Error{Type: contract.TypeError, Seq: seq, Code: row.Code, Message: row.Message})
}

// rateLimitedAnswer is the error answer rate_limited in two parts, around
// its seq, encoded once: a client that ignores rate_limited is answered
// thousands of times a second (encodeRateLimited).
var rateLimitedAnswer = func() (parts [2][]byte) {
	const marker = -1 // no frame has it: the seq's place in the encoding
	whole := encodeError(marker, contract.CodeRateLimited)
	before, after, ok := bytes.Cut(whole, []byte(strconv.Itoa(marker)))
	if !ok {
		panic("rate_limited answer without its seq")
	}
	return [2][]byte{before, after}
}()

// encodeRateLimited is encodeError(seq, CodeRateLimited) with one allocation.
func encodeRateLimited(seq int64) []byte {
	b := make([]byte, 0, len(rateLimitedAnswer[0])+20+len(rateLimitedAnswer[1]))
	b = append(b, rateLimitedAnswer[0]...)
	b = strconv.AppendInt(b, seq, 10)
	return append(b, rateLimitedAnswer[1]...)
}

func encodeDropped(seq int64, reason string) []byte {
	return mustJSON(contract.Dropped{Type: contract.TypeDropped, Seq: seq, Reason: reason})
}

func encodePong(id json.RawMessage, now time.Time) []byte {
	return mustJSON(contract.Pong{Type: contract.TypePong, ID: id, Time: now.UnixMilli()})
}

// mustJSON encodes the hub's own message types, which cannot fail to encode.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("hub: encoding a protocol message: " + err.Error())
	}
	return b
}

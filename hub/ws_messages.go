// The messages the hub writes to its clients (the contract's types),
// encoded.

package hub

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"

	"github.com/webcamhub/webcamhub/contract"
)

// encodeError is the error answer for code, with the code's fixed sentence.
func encodeError(seq int64, code string) []byte {
	row, _ := contract.LookupError(code)
	if t, ok := errorAnswers[row.Code]; ok && seq != 0 { // seq 0 (no frame's) is left out
		return t.with(seq)
	}
	return mustJSON(contract.Error{Type: contract.TypeError, Seq: seq, Code: row.Code, Message: row.Message})
}

// encodeRateLimited is encodeError(seq, CodeRateLimited) for a frame's seq
// (never 0): the answer a client that ignores rate_limited gets thousands
// of times a second.
func encodeRateLimited(seq int64) []byte { return errorAnswers[contract.CodeRateLimited].with(seq) }

// encodeDropped is the dropped answer for reason (a contract.DroppedReasons).
func encodeDropped(seq int64, reason string) []byte {
	if t, ok := droppedAnswers[reason]; ok {
		return t.with(seq)
	}
	return mustJSON(contract.Dropped{Type: contract.TypeDropped, Seq: seq, Reason: reason})
}

// seqAnswer is an answer to a frame encoded once, in two parts around its
// seq: the hub's own answers (errors, dropped) are then filled in with one
// allocation rather than encoded by json.Marshal for every frame.
type seqAnswer [2][]byte

// seqMarker is the seq the answers are encoded with to find its place: no
// frame has it.
const seqMarker = -1

// newSeqAnswer encodes msg, whose seq is seqMarker, around its seq.
func newSeqAnswer(msg any) seqAnswer {
	whole := mustJSON(msg)
	before, after, ok := bytes.Cut(whole, []byte(`"seq":`+strconv.Itoa(seqMarker)))
	if !ok {
		panic("hub: an answer without its seq: " + string(whole))
	}
	return seqAnswer{append(before, `"seq":`...), after}
}

func (a seqAnswer) with(seq int64) []byte {
	b := make([]byte, 0, len(a[0])+20+len(a[1])) // 20: the longest int64
	b = append(b, a[0]...)
	b = strconv.AppendInt(b, seq, 10)
	return append(b, a[1]...)
}

// errorAnswers and droppedAnswers are the hub's answers of every error
// code and every dropped reason of the contract.
var (
	errorAnswers = func() map[string]seqAnswer {
		answers := make(map[string]seqAnswer, len(contract.ErrorCodes))
		for _, row := range contract.ErrorCodes {
			answers[row.Code] = newSeqAnswer(contract.Error{Type: contract.TypeError, Seq: seqMarker, Code: row.Code, Message: row.Message})
		}
		return answers
	}()
	droppedAnswers = func() map[string]seqAnswer {
		answers := make(map[string]seqAnswer, len(contract.DroppedReasons))
		for _, reason := range contract.DroppedReasons {
			answers[reason] = newSeqAnswer(contract.Dropped{Type: contract.TypeDropped, Seq: seqMarker, Reason: reason})
		}
		return answers
	}()
)

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

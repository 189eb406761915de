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

// A worker's reply to a frame, read.

package hub

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/webcamhub/webcamhub/hub/contract"
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

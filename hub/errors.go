package hub

import (
	"context"
	"errors"

	"github.com/nats-io/nats.go"

	"github.com/webcamhub/webcamhub/contract"
)

// Sentinel errors of the broker and the watch lookup; callers wrap them with
// %w and codeOf turns them into the code a client sees. (Problems the hub
// finds in a client's own message are answered with their code directly.)
var (
	ErrTimeout        = errors.New("no answer from a worker in time")
	ErrUnavailable    = errors.New("no inference worker available")
	ErrUnknownSession = errors.New("unknown session")
	ErrBadReply       = errors.New("malformed reply from a worker")
	// ErrOverloaded: every worker was full for as long as a frame may wait
	// (dispatcher); a live frame is dropped, an API call rate_limited.
	ErrOverloaded = errors.New("every worker is full")
)

// codeOf maps an error from the broker or the hub to a client error code.
// Anything it does not know becomes "internal", whose message never carries
// the error's text to a client.
func codeOf(err error) string {
	switch {
	case errors.Is(err, ErrUnknownModel):
		return contract.CodeUnknownModel
	case errors.Is(err, ErrModelUnavailable):
		return contract.CodeModelUnavailable
	case errors.Is(err, ErrModelForbidden):
		return contract.CodeModelForbidden
	case errors.Is(err, ErrTimeout), errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return contract.CodeTimeout
	case errors.Is(err, ErrUnavailable), errors.Is(err, nats.ErrNoResponders), errors.Is(err, nats.ErrConnectionClosed),
		errors.Is(err, nats.ErrConnectionReconnecting), errors.Is(err, nats.ErrReconnectBufExceeded), errors.Is(err, nats.ErrDisconnected):
		return contract.CodeUnavailable
	case errors.Is(err, ErrOverloaded):
		return contract.CodeRateLimited
	case errors.Is(err, ErrUnknownSession):
		return contract.CodeUnknownSession
	default:
		return contract.CodeInternal
	}
}

// publicCode is the code a client sees for a code a worker sent: the same
// when the contract knows it, the one the contract names for a code only a
// worker answers with (bad_batch: internal, since the hub never sends a
// malformed batch), "internal" otherwise.
func publicCode(code string) string {
	if client, ok := contract.WorkerOnlyCodes[code]; ok {
		return client
	}
	row, _ := contract.LookupError(code)
	return row.Code
}

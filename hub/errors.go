package hub

import (
	"context"
	"errors"
	"net/http"

	"github.com/nats-io/nats.go"
)

// Error codes sent to clients in {"type":"error","code":…} (see docs/protocol.md).
const (
	CodeBadImage       = "bad_image"
	CodeTooLarge       = "too_large"
	CodeTimeout        = "timeout"
	CodeUnavailable    = "unavailable"
	CodeRateLimited    = "rate_limited"
	CodeBadRequest     = "bad_request"
	CodeUnknownSession = "unknown_session"
	CodeInternal       = "internal"
)

// Sentinel errors of the broker and the watch lookup; callers wrap them with
// %w and codeOf turns them into the code a client sees. (Problems the hub
// finds in a client's own message are answered with their code directly.)
var (
	ErrTimeout        = errors.New("no answer from a worker in time")
	ErrUnavailable    = errors.New("no inference worker available")
	ErrUnknownSession = errors.New("unknown session")
	ErrBadReply       = errors.New("malformed reply from a worker")
)

// codeOf maps an error from the broker or the hub to a client error code.
// Anything it does not know becomes "internal", whose message never carries
// the error's text to a client.
func codeOf(err error) string {
	switch {
	case errors.Is(err, ErrTimeout), errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return CodeTimeout
	case errors.Is(err, ErrUnavailable), errors.Is(err, nats.ErrNoResponders), errors.Is(err, nats.ErrConnectionClosed),
		errors.Is(err, nats.ErrConnectionReconnecting), errors.Is(err, nats.ErrReconnectBufExceeded), errors.Is(err, nats.ErrDisconnected):
		return CodeUnavailable
	case errors.Is(err, ErrUnknownSession):
		return CodeUnknownSession
	default:
		return CodeInternal
	}
}

// publicMessage is the text a client sees for a code: fixed sentences, so
// nothing internal (addresses, paths, stack traces) can leak.
func publicMessage(code string) string {
	switch code {
	case CodeBadImage:
		return "the frame is not a readable JPEG, PNG, WebP or BMP image"
	case CodeTooLarge:
		return "the image is larger than the hub accepts"
	case CodeTimeout:
		return "no worker answered in time; the frame was given up"
	case CodeUnavailable:
		return "no inference worker is available right now; frames will be classified again once one is back"
	case CodeRateLimited:
		return "too many frames; slow down"
	case CodeBadRequest:
		return "the message could not be understood"
	case CodeUnknownSession:
		return "there is no live session with that id"
	default:
		return "something went wrong in the hub"
	}
}

// httpStatus is the status of the REST API for a code.
func httpStatus(code string) int {
	switch code {
	case CodeBadImage, CodeBadRequest:
		return http.StatusBadRequest
	case CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case CodeTimeout:
		return http.StatusGatewayTimeout
	case CodeUnavailable:
		return http.StatusServiceUnavailable
	case CodeRateLimited:
		return http.StatusTooManyRequests
	case CodeUnknownSession:
		return http.StatusNotFound
	default:
		return http.StatusInternalServerError
	}
}

package hub

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"time"

	"golang.org/x/time/rate"

	"github.com/webcamhub/webcamhub/contract"
)

// maxTopK bounds the "options" message: the workers return at most this many labels.
const maxTopK = 10

// maxPingIDBytes bounds the id a pong echoes: a page numbers its pings; a
// long id would make the hub write what the client sends.
const maxPingIDBytes = 64

const (
	// controlBurstSeconds: a session may send this many seconds' worth of
	// its control rate at once (a page's options and first ping together).
	controlBurstSeconds = 2
	// refusalsBeforeClose is how many control messages a session may have
	// refused as rate_limited, beyond refusalsPerSecond, before it is
	// closed: a client that slows down when told is never closed; a paced
	// flood at twice the rate is closed after about ten seconds.
	refusalsBeforeClose = 50
	refusalsPerSecond   = 1
)

// controlLimits paces a session's control messages (ping, options) and
// closes a session that goes on sending them while refused.
type controlLimits struct {
	messages *rate.Limiter // control messages allowed
	refusals *rate.Limiter // refusals tolerated
}

func newControlLimits(perSecond float64) controlLimits {
	return controlLimits{
		messages: rate.NewLimiter(rate.Limit(perSecond), max(1, int(perSecond*controlBurstSeconds))),
		refusals: rate.NewLimiter(refusalsPerSecond, refusalsBeforeClose),
	}
}

// control handles one JSON text message of the client: a frame in base64,
// a ping or new options. Every frame message takes the next seq and is
// answered with it, whatever is wrong with its image; every other message,
// malformed ones included, counts against the session's control rate.
func (s *session) control(data []byte) {
	var m contract.Control
	parseErr := json.Unmarshal(data, &m)
	if parseErr == nil && m.Type == contract.TypeFrame {
		s.seq++
		s.hub.metrics.FramesReceived.Add(1)
		image, code := decodeFrameImage(m.Image, s.hub.cfg.MaxFrameBytes)
		if code != "" {
			s.answerError(s.seq, code)
			return
		}
		s.submit(s.seq, image, time.Now())
		return
	}
	if !s.controls.messages.Allow() {
		if !s.controls.refusals.Allow() {
			if s.close(contract.CloseRateLimited, contract.CloseTextControlMessages) {
				s.hub.metrics.CountRateLimitedClose(contract.CloseTextControlMessages)
				s.log.Warn("closing a session that kept sending control messages while rate_limited")
			}
			return
		}
		s.answerError(0, contract.CodeRateLimited)
		return
	}
	if parseErr != nil {
		s.answerError(0, contract.CodeBadRequest)
		return
	}
	switch m.Type {
	case contract.TypePing:
		id, ok := pingID(m.ID)
		if !ok {
			s.answerError(0, contract.CodeBadRequest)
			return
		}
		s.enqueue(encodePong(id, time.Now()))
	case contract.TypeOptions:
		s.options(m)
	default:
		s.answerError(0, contract.CodeBadRequest)
	}
}

// options applies an options message: topK, model, or both; nothing of it
// when any part is wrong. A model switch is picked at once (an unknown name
// is answered unknown_model, one not served now model_unavailable, and the
// session keeps its model; one its credential does not allow
// model_forbidden) and acknowledged with a model message; the
// frames sent from then on go to the new model.
func (s *session) options(m contract.Control) {
	hasTopK, hasModel := present(m.TopK), present(m.Model)
	var topK int
	if !hasTopK && !hasModel || hasTopK && (json.Unmarshal(m.TopK, &topK) != nil || topK < 1 || topK > maxTopK) {
		s.answerError(0, contract.CodeBadRequest)
		return
	}
	if hasModel {
		var ref string
		if json.Unmarshal(m.Model, &ref) != nil {
			s.answerError(0, contract.CodeBadRequest)
			return
		}
		name, version, err := contract.ParseModelRef(ref)
		if err != nil {
			s.answerError(0, contract.CodeBadRequest)
			return
		}
		target, err := s.hub.models.pickFor(name, version, s.grant.Models)
		if err != nil {
			s.answerError(0, codeOf(err))
			return
		}
		s.frames.setModel(name, version)
		s.enqueue(mustJSON(contract.ModelSet{Type: contract.TypeModel, Model: target.Name, Version: target.Version, Requested: ref}))
	}
	if hasTopK {
		s.frames.setTopK(topK)
	}
}

// present reports whether a field of a control message was sent (null counts as absent).
func present(raw json.RawMessage) bool {
	return len(raw) > 0 && !bytes.Equal(raw, []byte("null"))
}

// decodeFrameImage reads the base64 image of a frame message, or says
// which error answers it.
func decodeFrameImage(raw json.RawMessage, maxBytes int) (image []byte, code string) {
	var encoded string
	if err := json.Unmarshal(raw, &encoded); err != nil {
		return nil, contract.CodeBadRequest // missing, null or not a string
	}
	if base64.StdEncoding.DecodedLen(len(encoded)) > maxBytes+2 { // +2: padding
		return nil, contract.CodeTooLarge
	}
	image, err := base64.StdEncoding.DecodeString(encoded)
	switch {
	case err != nil:
		return nil, contract.CodeBadRequest
	case len(image) == 0:
		return nil, contract.CodeBadImage
	case len(image) > maxBytes:
		return nil, contract.CodeTooLarge
	}
	return image, ""
}

// pingID is the id a pong may echo: none, a number, or a string of at most
// maxPingIDBytes, re-encoded by the hub (so invalid UTF-8 in the ping's
// string becomes U+FFFD and never reaches the client's text frame).
func pingID(raw json.RawMessage) (json.RawMessage, bool) {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, true
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, false
	}
	switch id := v.(type) {
	case float64:
	case string:
		if len(id) > maxPingIDBytes {
			return nil, false
		}
	default:
		return nil, false
	}
	encoded, err := json.Marshal(v)
	return encoded, err == nil
}

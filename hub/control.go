package hub

import (
	"encoding/json"
	"time"

	"github.com/webcamhub/webcamhub/hub/contract"
)

// maxTopK bounds the "options" message: the workers return at most this many labels.
const maxTopK = 10

// control handles one JSON text message of the client: a ping, a frame in
// base64 or new options.
func (s *session) control(data []byte) {
	var m contract.Control
	if err := json.Unmarshal(data, &m); err != nil {
		s.answerError(0, contract.CodeBadRequest)
		return
	}
	switch m.Type {
	case contract.TypePing:
		s.enqueue(encodePong(m.ID, time.Now()))
	case contract.TypeFrame:
		s.seq++
		s.hub.metrics.FramesReceived.Add(1)
		switch {
		case len(m.Image) == 0:
			s.answerError(s.seq, contract.CodeBadImage)
		case len(m.Image) > s.hub.cfg.MaxFrameBytes:
			s.answerError(s.seq, contract.CodeTooLarge)
		default:
			s.submit(s.seq, m.Image)
		}
	case contract.TypeOptions:
		if m.TopK == nil || *m.TopK < 1 || *m.TopK > maxTopK {
			s.answerError(0, contract.CodeBadRequest)
			return
		}
		s.frames.setTopK(*m.TopK)
	default:
		s.answerError(0, contract.CodeBadRequest)
	}
}

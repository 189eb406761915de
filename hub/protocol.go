package hub

import (
	"encoding/json"
	"time"
)

// ProtocolVersion is announced in the welcome message; it changes only when
// a message changes incompatibly.
const ProtocolVersion = 1

// WebSocket close codes of the hub (4000–4999 is the private range of RFC
// 6455). A message beyond the hard read limit is closed with 1009 by the
// WebSocket package itself.
const (
	CloseNormal         = 1000
	CloseGoingAway      = 1001 // the hub is shutting down
	CloseInternal       = 1011 // the handler failed
	CloseSlowClient     = 4001 // the client did not read its results fast enough
	CloseUnknownSession = 4004 // a watcher's session id is not live
	// closeAbnormal marks a connection that failed under the hub: no close
	// frame can be sent (RFC 6455 reserves 1006 for exactly that).
	closeAbnormal = 1006
)

// welcomeMsg is the first message of every connection.
type welcomeMsg struct {
	Type           string `json:"type"`
	Session        string `json:"session"`
	Watching       string `json:"watching,omitempty"`
	Protocol       int    `json:"protocol"`
	MaxFrameBytes  int    `json:"maxFrameBytes"`
	FramesInFlight int    `json:"framesInFlight"`
	FrameTimeoutMs int64  `json:"frameTimeoutMs"`
}

type errorMsg struct {
	Type    string `json:"type"`
	Seq     int64  `json:"seq,omitempty"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

type droppedMsg struct {
	Type   string `json:"type"`
	Seq    int64  `json:"seq"`
	Reason string `json:"reason"`
}

type pongMsg struct {
	Type string          `json:"type"`
	ID   json.RawMessage `json:"id,omitempty"`
	Time int64           `json:"time"`
}

// controlMsg is any text message a client sends.
type controlMsg struct {
	Type  string          `json:"type"`
	Image []byte          `json:"image,omitempty"` // base64 in JSON, for "frame"
	ID    json.RawMessage `json:"id,omitempty"`    // echoed in "pong"
	TopK  *int            `json:"topK,omitempty"`  // for "options"
}

// replyHead is the part of a worker's answer the hub checks before the
// bytes go to a client unchanged.
type replyHead struct {
	Type string `json:"type"`
	Seq  int64  `json:"seq"`
	Code string `json:"code"`
}

// workerReply is a worker's whole answer, for the analyze API, which
// reshapes it.
type workerReply struct {
	replyHead
	Predictions []Prediction `json:"predictions"`
}

// Prediction is one of the top-k labels of a result.
type Prediction struct {
	Label      string  `json:"label"`
	Index      int     `json:"index"`
	Confidence float64 `json:"confidence"`
}

func encodeError(seq int64, code string) []byte {
	return mustJSON(errorMsg{Type: "error", Seq: seq, Code: code, Message: publicMessage(code)})
}

func encodeDropped(seq int64, reason string) []byte {
	return mustJSON(droppedMsg{Type: "dropped", Seq: seq, Reason: reason})
}

func encodePong(id json.RawMessage, now time.Time) []byte {
	return mustJSON(pongMsg{Type: "pong", ID: id, Time: now.UnixMilli()})
}

// mustJSON encodes the hub's own message types, which cannot fail to encode.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("hub: encoding a protocol message: " + err.Error())
	}
	return b
}

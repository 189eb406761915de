package hub

import (
	"time"

	"github.com/gofiber/contrib/websocket"
)

const (
	// writeWait bounds one write to a client: a healthy client on a slow
	// link takes a few hundred ms for a small JSON message; ten seconds
	// means the link is gone.
	writeWait = 10 * time.Second
	// pongWait is how long a client may stay silent (no message, no pong)
	// before the hub gives up on it; browsers answer pings at once.
	pongWait = 60 * time.Second
	// pingPeriod must be shorter than pongWait so a live client's pong
	// arrives before the deadline.
	pingPeriod = pongWait * 9 / 10
	// closeGrace is how long the hub waits, after sending a close frame, for
	// the client's close frame before it cuts the TCP connection.
	closeGrace = time.Second
)

// closeAbnormal marks a connection that failed under the hub: no close
// frame can be sent (RFC 6455 reserves 1006 for exactly that), so it is no
// part of the contract, and its reasons reach the log only.
const (
	closeAbnormal       = 1006
	abnormalWriteFailed = "write failed"
	abnormalPingFailed  = "ping failed"
)

// refuse closes a connection that no session serves (more handshakes of
// its address than it may hold, a hub that began closing, a handler that
// panicked) with code and text, within the configured write timeout.
func (h *Hub) refuse(c *websocket.Conn, code int, text string) {
	_ = c.WriteControl(websocket.CloseMessage, closeFrame(code, text), time.Now().Add(h.cfg.WriteTimeout))
}

// closeFrame formats a close frame's payload: the code then the reason.
func closeFrame(code int, reason string) []byte {
	if len(reason) > 120 { // a control frame's payload is at most 125 bytes
		reason = reason[:120]
	}
	b := make([]byte, 2+len(reason))
	b[0], b[1] = byte(code>>8), byte(code)
	copy(b[2:], reason)
	return b
}

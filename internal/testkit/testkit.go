// Package testkit is what the hub's tests and the end-to-end tests share: a
// WebSocket client that speaks the hub's protocol, and free ports.
package testkit

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/webcamhub/webcamhub/contract"
)

// FreePort returns a TCP port on 127.0.0.1 that nothing listens on now, and
// that no earlier call of this process returned: the kernel may hand the
// same free port to two calls made before either is bound (a hub once got
// its NATS port as its metrics port).
func FreePort(t testing.TB) int {
	t.Helper()
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if _, taken := handedOut.LoadOrStore(port, true); !taken {
			return port
		}
	}
	t.Fatal("no free port not handed out before")
	return 0
}

// handedOut holds every port FreePort returned.
var handedOut sync.Map

// Message is any message from the hub (docs/asyncapi.yaml), in one struct.
type Message struct {
	Type        string                `json:"type"`
	Session     string                `json:"session"`
	Watching    string                `json:"watching"`
	Seq         int64                 `json:"seq"`
	Code        string                `json:"code"`
	Message     string                `json:"message"`
	Reason      string                `json:"reason"`
	Worker      string                `json:"worker"`
	Predictions []contract.Prediction `json:"predictions"`
	ResumeToken string                `json:"resumeToken"`
	Recording   bool                  `json:"recording"`
	// FrameTimeoutMs: the welcome's; how long the hub lets a frame take.
	FrameTimeoutMs int64 `json:"frameTimeoutMs"`
	// FramesInFlight: the welcome's; how many frames of a session the hub
	// has at the workers at once.
	FramesInFlight int `json:"framesInFlight"`
	// Model: a result's and a model message's model name; the welcome's
	// name@version. Version: a result's and a model message's.
	Model     string                  `json:"model"`
	Version   int                     `json:"version"`
	Task      string                  `json:"task"`
	Requested string                  `json:"requested"` // a model message's
	Models    []contract.ModelSummary `json:"models"`    // the welcome's
}

// BearerHeader is the handshake header that presents an API key or JWT
// to a hub that requires one: the subprotocols the page offers.
func BearerHeader(credential string) http.Header {
	return http.Header{"Sec-WebSocket-Protocol": {contract.Subprotocol + ", " + contract.BearerProtocolPrefix + credential}}
}

// ResumeHeader is the handshake header that resumes a session with its
// token: the subprotocols the page offers (docs/protocol.md).
func ResumeHeader(token string) http.Header {
	return http.Header{"Sec-WebSocket-Protocol": {contract.Subprotocol + ", " + contract.ResumeProtocolPrefix + token}}
}

// Top is the first label of a result, or "".
func (m Message) Top() string {
	if len(m.Predictions) == 0 {
		return ""
	}
	return m.Predictions[0].Label
}

// Client is a test's WebSocket connection to a hub.
type Client struct {
	t    testing.TB
	Conn *websocket.Conn
	Wait time.Duration // how long Next waits for a message
}

// Dial connects to base (http://host:port) at /ws+query, failing the test
// when it cannot; the connection is closed at the end of the test.
func Dial(t testing.TB, base, query string, header http.Header, wait time.Duration) *Client {
	t.Helper()
	c, err := TryDial(base, query, header)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &Client{t: t, Conn: c, Wait: wait}
}

// WebSocketURL is the hub's WebSocket endpoint for its base http://host:port.
func WebSocketURL(base string) string {
	return "ws" + strings.TrimPrefix(base, "http") + contract.WebSocketPath
}

// TryDial connects to base at /ws+query and reports why it could not.
func TryDial(base, query string, header http.Header) (*websocket.Conn, error) {
	u := WebSocketURL(base) + query
	c, resp, err := websocket.DefaultDialer.Dial(u, header)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial %s: %w (HTTP %d)", u, err, resp.StatusCode)
		}
		return nil, fmt.Errorf("dial %s: %w", u, err)
	}
	return c, nil
}

// SendFrame sends one image as a binary message.
func (c *Client) SendFrame(image []byte) {
	c.t.Helper()
	if err := c.Conn.WriteMessage(websocket.BinaryMessage, image); err != nil {
		c.t.Fatal(err)
	}
}

// SendText sends a control message.
func (c *Client) SendText(s string) {
	c.t.Helper()
	if err := c.Conn.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

// Next reads the next message, failing the test if none comes in time.
func (c *Client) Next() Message {
	c.t.Helper()
	m, err := c.Read(c.Wait)
	if err != nil {
		c.t.Fatal(err)
	}
	return m
}

// Read reads the next message, waiting at most wait.
func (c *Client) Read(wait time.Duration) (Message, error) {
	_ = c.Conn.SetReadDeadline(time.Now().Add(wait))
	kind, data, err := c.Conn.ReadMessage()
	if err != nil {
		return Message{}, err
	}
	if kind != websocket.TextMessage {
		return Message{}, fmt.Errorf("message of type %d, want text", kind)
	}
	var m Message
	if err := json.Unmarshal(data, &m); err != nil {
		return Message{}, fmt.Errorf("%w: %s", err, data)
	}
	return m, nil
}

// Welcome reads the welcome message and returns the session id.
func (c *Client) Welcome() string {
	c.t.Helper()
	m := c.Next()
	if m.Type != contract.TypeWelcome || m.Session == "" {
		c.t.Fatalf("first message = %+v, want welcome with a session", m)
	}
	return m.Session
}

// CloseCode reads until the connection closes and returns its close code.
func (c *Client) CloseCode() int {
	c.t.Helper()
	for {
		_, err := c.Read(c.Wait)
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		c.t.Fatalf("connection ended without a close frame: %v", err)
	}
}

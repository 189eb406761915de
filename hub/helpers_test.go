package hub

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	fws "github.com/fasthttp/websocket"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/webcamhub/webcamhub/hub/internal/testworker"
)

// testWait bounds every wait of a test for something that should happen;
// generous because the race detector on two cores is slow.
const testWait = 15 * time.Second

// fakeJPEG starts like a JPEG: enough for the hub, whose Go test worker
// does not decode.
var fakeJPEG = append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, bytes.Repeat([]byte{7}, 15_000)...)

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("HUB_TEST_LOGS") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startNATS runs a real NATS server (with JetStream) on port, or a free one when port is 0.
func startNATS(t testing.TB, port int) *server.Server {
	t.Helper()
	if port == 0 {
		port = server.RANDOM_PORT
	}
	ns, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: t.TempDir(),
		NoSigs: true, NoLog: true, MaxPayload: 8 << 20,
	})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(testWait) {
		t.Fatal("nats server did not start")
	}
	t.Cleanup(ns.Shutdown)
	return ns
}

func connect(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func startWorker(t testing.TB, url string, opts testworker.Options) *testworker.Worker {
	t.Helper()
	w, err := testworker.Start(connect(t, url), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return w
}

// startHub runs a hub on a free port against natsURL.
func startHub(t testing.TB, natsURL string, tweak func(*Config)) (*Hub, string) {
	t.Helper()
	cfg := Defaults()
	cfg.NATSURL = natsURL
	cfg.Listen = "127.0.0.1:0"
	cfg.StaticDir = t.TempDir()
	cfg.ShutdownTimeout = 5 * time.Second
	if tweak != nil {
		tweak(&cfg)
	}
	h, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = h.Serve(ln) }()
	t.Cleanup(func() { _ = h.Close() })
	return h, "http://" + ln.Addr().String()
}

// wsClient is a test's WebSocket client.
type wsClient struct {
	t    testing.TB
	conn *fws.Conn
}

// msg is any message from the hub.
type msg struct {
	Type        string                  `json:"type"`
	Session     string                  `json:"session"`
	Watching    string                  `json:"watching"`
	Seq         int64                   `json:"seq"`
	Code        string                  `json:"code"`
	Message     string                  `json:"message"`
	Reason      string                  `json:"reason"`
	Predictions []testworker.Prediction `json:"predictions"`
}

func dial(t testing.TB, base, query string, header http.Header) *wsClient {
	t.Helper()
	c, err := tryDial(base, query, header)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &wsClient{t: t, conn: c}
}

func tryDial(base, query string, header http.Header) (*fws.Conn, error) {
	u := "ws" + strings.TrimPrefix(base, "http") + "/ws" + query
	c, resp, err := fws.DefaultDialer.Dial(u, header)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial %s: %w (HTTP %d)", u, err, resp.StatusCode)
		}
		return nil, fmt.Errorf("dial %s: %w", u, err)
	}
	return c, nil
}

func (c *wsClient) sendFrame(data []byte) {
	c.t.Helper()
	if err := c.conn.WriteMessage(fws.BinaryMessage, data); err != nil {
		c.t.Fatal(err)
	}
}

func (c *wsClient) sendText(s string) {
	c.t.Helper()
	if err := c.conn.WriteMessage(fws.TextMessage, []byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

// next reads the next message, failing the test if none comes in time.
func (c *wsClient) next() msg {
	c.t.Helper()
	m, err := c.read()
	if err != nil {
		c.t.Fatal(err)
	}
	return m
}

func (c *wsClient) read() (msg, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(testWait))
	kind, data, err := c.conn.ReadMessage()
	if err != nil {
		return msg{}, err
	}
	if kind != fws.TextMessage {
		return msg{}, fmt.Errorf("message of type %d, want text", kind)
	}
	var m msg
	if err := json.Unmarshal(data, &m); err != nil {
		return msg{}, fmt.Errorf("%w: %s", err, data)
	}
	return m, nil
}

// welcome reads the welcome message and returns the session id.
func (c *wsClient) welcome() string {
	c.t.Helper()
	m := c.next()
	if m.Type != "welcome" || m.Session == "" {
		c.t.Fatalf("first message = %+v, want welcome with a session", m)
	}
	return m.Session
}

// closeCode reads until the connection closes and returns the close code.
func (c *wsClient) closeCode() int {
	c.t.Helper()
	for {
		_, err := c.read()
		if err == nil {
			continue
		}
		var ce *fws.CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		c.t.Fatalf("connection ended without a close frame: %v", err)
	}
}

// waitFor polls cond until it holds, failing the test after testWait.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

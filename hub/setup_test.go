package hub

import (
	"bytes"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	fws "github.com/fasthttp/websocket"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/webcamhub/webcamhub/hub/internal/embeddednats"
	"github.com/webcamhub/webcamhub/hub/internal/testworker"
	"github.com/webcamhub/webcamhub/internal/testkit"
)

// testWait bounds every wait of a test for something that should happen;
// generous because the race detector on two cores is slow.
const testWait = 15 * time.Second

// fakeJPEG starts like a JPEG: enough for the hub, whose Go test worker
// does not decode.
var fakeJPEG = append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, bytes.Repeat([]byte{7}, 15_000)...)

// pngHeaderOnly is the start of a PNG whose IHDR claims w×h pixels of
// depth bits and colorType (6: RGBA): enough for the hub's header check,
// which never decodes.
func pngHeaderOnly(w, h uint32, depth, colorType byte) []byte {
	b := []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'}
	b = binary.BigEndian.AppendUint32(b, w)
	b = binary.BigEndian.AppendUint32(b, h)
	b = append(b, depth, colorType, 0, 0, 0, 0, 0, 0, 0)
	return append(b, bytes.Repeat([]byte{0}, 300)...)
}

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
	return startNATSWith(t, &server.Options{Port: port})
}

// startNATSWith runs a real NATS server on 127.0.0.1 with JetStream and the
// embedded server's max payload, plus what opts says (port, TLS, users).
func startNATSWith(t testing.TB, opts *server.Options) *server.Server {
	t.Helper()
	opts.Host, opts.JetStream, opts.StoreDir = "127.0.0.1", true, t.TempDir()
	opts.NoSigs, opts.NoLog, opts.MaxPayload = true, true, embeddednats.MaxPayload
	ns, err := server.NewServer(opts)
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

// dial connects a test client to the hub at base.
func dial(t testing.TB, base, query string, header http.Header) *testkit.Client {
	t.Helper()
	return testkit.Dial(t, base, query, header, testWait)
}

func tryDial(base, query string, header http.Header) (*fws.Conn, error) {
	return testkit.TryDial(base, query, header)
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

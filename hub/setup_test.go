package hub

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
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
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	"github.com/webcamhub/webcamhub/hub/internal/embeddednats"
	"github.com/webcamhub/webcamhub/internal/testkit"
	"github.com/webcamhub/webcamhub/internal/testkit/testworker"
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

func startWorker(t testing.TB, url string, opts testworker.Options) *testworker.Worker {
	t.Helper()
	w, err := testworker.Start(testkit.ConnectNATS(t, url), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return w
}

// startHub runs a hub on a free port against natsURL.
func startHub(t testing.TB, natsURL string, tweak func(*Config)) (*Hub, string) {
	t.Helper()
	return startHubLogging(t, natsURL, tweak, testLogger(t))
}

// startHubLogging is startHub with the hub's logs going to log.
func startHubLogging(t testing.TB, natsURL string, tweak func(*Config), log *slog.Logger) (*Hub, string) {
	t.Helper()
	cfg := Defaults()
	cfg.NATSURL = natsURL
	cfg.Listen = "127.0.0.1:0"
	cfg.StaticDir = t.TempDir()
	cfg.ShutdownTimeout = 5 * time.Second
	if tweak != nil {
		tweak(&cfg)
	}
	h, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = h.Serve(ln) }()
	t.Cleanup(func() { _ = h.Close() })
	scheme := "http://"
	if cfg.TLSCert != "" {
		scheme = "https://"
	}
	return h, scheme + ln.Addr().String()
}

// serveMetrics serves h's metrics on a free loopback port, as Run does on
// HUB_METRICS_ADDR, and returns its base URL.
func serveMetrics(t testing.TB, h *Hub) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = h.ServeMetrics(ln) }()
	return "http://" + ln.Addr().String()
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

func postAnalyze(t *testing.T, base, body string) (int, []byte) {
	t.Helper()
	resp, err := http.Post(base+"/api/v1/analyze", "application/json", strings.NewReader(body))
	return readAnswer(t, resp, err)
}

// readAnswer is the status and body of a response, failing t on any error.
func readAnswer(t *testing.T, resp *http.Response, err error) (int, []byte) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, data
}

func analyzeBody(image []byte) string {
	return `{"base64Image":"` + base64.StdEncoding.EncodeToString(image) + `"}`
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// readyz is GET /readyz; query (e.g. "?workers=1") is appended.
func readyz(t testing.TB, base string, query ...string) (int, string) {
	t.Helper()
	resp, err := http.Get(base + "/readyz" + strings.Join(query, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// startRoleWorker runs the Go test worker on a connection with seedFile
// (the worker role) and returns that connection.
func startRoleWorker(t testing.TB, url, seedFile string, extra ...nats.Option) *testkit.RoleConn {
	t.Helper()
	nc, err := testkit.ConnectRole(t, url, seedFile, extra...)
	if err != nil {
		t.Fatalf("worker key: %v", err)
	}
	w, err := testworker.Start(nc.Conn, testworker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return nc
}

// useTracerProvider makes tp the process's provider for one test (the hub
// takes its tracer from it when it starts).
func useTracerProvider(t testing.TB, tp trace.TracerProvider) {
	before := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(before) })
}

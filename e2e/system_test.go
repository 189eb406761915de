//go:build e2e

// Package e2e runs the real processes together: the hub binary (embedded
// NATS, or an external nats-server), the Python worker with a real
// MobileNetV2 model from ../shared/testdata, and the stock nats CLI.
package e2e

import (
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/webcamhub/webcamhub/contract"
	"github.com/webcamhub/webcamhub/internal/testkit"
)

// startupWait bounds how long a process may take to become ready: the
// worker imports TensorFlow/LiteRT and loads a model, which takes seconds on
// two shared cores.
const startupWait = 90 * time.Second

// answerWait bounds waiting for one answer from the system.
const answerWait = 30 * time.Second

func repoRoot(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func testdata(t testing.TB, parts ...string) string {
	dir := envOr("SHARED_TESTDATA", filepath.Join(repoRoot(t), "..", "shared", "testdata"))
	p := filepath.Join(append([]string{dir}, parts...)...)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("test data missing: %v (set SHARED_TESTDATA)", err)
	}
	return p
}

func tfliteModel(t testing.TB) string {
	return testdata(t, "models", "mobilenet_v2_1.0_224_quant.tflite")
}

func bin(t testing.TB, envKey, name string) string {
	p := envOr(envKey, filepath.Join(repoRoot(t), ".bin", name))
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s not found at %s: run `make test-deps` (or set %s)", name, p, envKey)
	}
	return p
}

// proc is a child process whose output goes to a log file that is printed
// when the test fails.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	mu   sync.Mutex
	err  error
}

func startProc(t testing.TB, name string, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), env...)
	return startCmd(t, name, cmd)
}

// startCmd starts cmd (its arguments, environment and process attributes
// set) in the repository root as startProc does.
func startCmd(t testing.TB, name string, cmd *exec.Cmd) *proc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Dir = repoRoot(t)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(syscall.SIGTERM)
		if t.Failed() {
			data, _ := os.ReadFile(logPath)
			t.Logf("---- %s log ----\n%s", name, tail(data, 4000))
		}
	})
	return p
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// stop signals the process and waits for it (killing it after a while).
func (p *proc) stop(sig syscall.Signal) error {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(sig)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// natsEndpoint is where workers and the nats CLI connect, and how they log in.
type natsEndpoint struct {
	url        string
	workerSeed string            // NATS_NKEY of a worker (the hub's embedded NATS); empty: none
	cliSeed    string            // NATS_NKEY of the operator's nats CLI
	workerEnv  []string          // more environment for a worker (credentials, TLS of an external NATS)
	cliEnv     map[string]string // more environment for the nats CLI (its TLS files)
}

// natsCredentialEnv are the NATS login variables, blanked for a process that
// must not inherit them from the test's environment.
var natsCredentialEnv = []string{"NATS_CREDS=", "NATS_NKEY=", "NATS_USER=", "NATS_PASSWORD=", "NATS_TOKEN=", "NATS_TLS_CA=", "NATS_TLS_CERT=", "NATS_TLS_KEY=", "NATS_NO_AUTH="}

// hubProc is a running hub binary.
type hubProc struct {
	*proc
	base     string       // http://127.0.0.1:port (https with tlsRoots)
	metrics  string       // http://127.0.0.1:port of /metrics (HUB_METRICS_ADDR), apart from base
	nats     natsEndpoint // where workers connect
	httpPort int
	client   *http.Client // what waitFor asks with
}

type hubOptions struct {
	natsURL   string // external NATS (its credentials in extraEnv); empty embeds one
	natsPort  int    // embedded NATS port (0: a free one)
	httpPort  int    // 0: a free one
	storeDir  string
	extraEnv  []string
	staticDir string
	tlsRoots  *x509.CertPool // the hub serves HTTPS (HUB_TLS_* in extraEnv) with a certificate these signed
}

func startHub(t testing.TB, o hubOptions) *hubProc {
	t.Helper()
	if o.httpPort == 0 {
		o.httpPort = testkit.FreePort(t)
	}
	metricsAddr := "127.0.0.1:" + strconv.Itoa(testkit.FreePort(t))
	env := append([]string{"HUB_LISTEN=127.0.0.1:" + strconv.Itoa(o.httpPort), "HUB_METRICS_ADDR=" + metricsAddr, "LOG_LEVEL=debug"}, natsCredentialEnv...)
	natsURL := o.natsURL
	bus := natsEndpoint{url: natsURL}
	if natsURL == "" {
		if o.natsPort == 0 {
			o.natsPort = testkit.FreePort(t)
		}
		if o.storeDir == "" {
			o.storeDir = t.TempDir()
		}
		// The embedded NATS makes its role seeds in the store on start.
		bus = natsEndpoint{
			url:        "nats://127.0.0.1:" + strconv.Itoa(o.natsPort),
			workerSeed: filepath.Join(o.storeDir, "worker.nk"),
			cliSeed:    filepath.Join(o.storeDir, "cli.nk"),
		}
		env = append(env, "NATS_URL=", "NATS_EMBED_ADDR=127.0.0.1:"+strconv.Itoa(o.natsPort), "NATS_STORE_DIR="+o.storeDir)
	} else {
		env = append(env, "NATS_URL="+natsURL)
	}
	if o.staticDir != "" {
		env = append(env, "HUB_STATIC_DIR="+o.staticDir)
	}
	env = append(env, o.extraEnv...)
	p := startProc(t, "hub-"+strconv.Itoa(o.httpPort), env, bin(t, "HUB_BIN", "hub"))
	h := &hubProc{proc: p, base: "http://127.0.0.1:" + strconv.Itoa(o.httpPort), metrics: "http://" + metricsAddr, nats: bus, httpPort: o.httpPort, client: http.DefaultClient}
	if o.tlsRoots != nil {
		h.base, h.client = "https://127.0.0.1:"+strconv.Itoa(o.httpPort), testkit.HTTPSClient(o.tlsRoots, answerWait)
	}
	h.waitFor(t, "/healthz")
	return h
}

// waitFor polls path until it answers 200.
func (h *hubProc) waitFor(t testing.TB, path string) {
	t.Helper()
	deadline := time.Now().Add(startupWait)
	for {
		resp, err := h.client.Get(h.base + path)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if h.exited() {
			t.Fatalf("%s exited before %s answered", h.name, path)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%s did not answer 200 within %v", h.base, path, startupWait)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitWorkers polls /readyz until the hub counts at least n workers
// answering its pings (a worker answers once its models are loaded):
// /readyz?workers=1 waits for one, a test that needs several waits here.
func (h *hubProc) waitWorkers(t testing.TB, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var ready struct {
			Workers int `json:"workers"`
		}
		if resp, err := h.client.Get(h.base + "/readyz"); err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&ready)
			resp.Body.Close()
		}
		if ready.Workers >= n {
			return
		}
		if h.exited() {
			t.Fatalf("%s exited before it counted %d workers", h.name, n)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not count %d workers within %v (last: %d)", h.name, n, within, ready.Workers)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startWorker runs the real Python worker on bus with the TFLite model.
func startWorker(t testing.TB, bus natsEndpoint, name string, extraArgs ...string) *proc {
	t.Helper()
	// The runtime is pinned (no timing at start) for the TFLite model (BENCH_RUNTIME
	// names another for a benchmark); a worker given another --model runs it on auto
	// (Keras alone for keras-random). A --runtime in extraArgs comes last and wins.
	runtime := envOr("BENCH_RUNTIME", "litert")
	for _, arg := range extraArgs {
		if arg == "--model" {
			runtime = "auto"
		}
	}
	return runWorker(t, bus, name, nil, append([]string{"--model", "tflite:" + tfliteModel(t), "--runtime", runtime}, extraArgs...)...)
}

// startRepositoryWorker runs the real Python worker on bus serving the model
// repository dir (<name>/<version>/<file>, WORKER_MODELS_DIR), which it
// watches: the versions serve names (WORKER_SERVE, e.g. "a,b@2"; empty:
// all), on the runtime BENCH_RUNTIME names (litert by default).
func startRepositoryWorker(t testing.TB, bus natsEndpoint, name, dir, serve string, extraArgs ...string) *proc {
	t.Helper()
	env := []string{"WORKER_MODELS_DIR=" + dir, "WORKER_MODEL=", "WORKER_SERVE=" + serve}
	return runWorker(t, bus, name, env, append([]string{"--runtime", envOr("BENCH_RUNTIME", "litert")}, extraArgs...)...)
}

// runWorker runs `python -m inference_server` on bus with more env and args.
func runWorker(t testing.TB, bus natsEndpoint, name string, env []string, args ...string) *proc {
	t.Helper()
	python := envOr("WORKER_PYTHON", filepath.Join(repoRoot(t), ".venv", "bin", "python"))
	args = append([]string{python, "-m", "inference_server", "--nats-url", bus.url, "--name", name}, args...)
	env = append(append(append([]string{}, natsCredentialEnv...), bus.workerEnv...), env...)
	if bus.workerSeed != "" {
		env = append(env, "NATS_NKEY="+bus.workerSeed)
	}
	return startProc(t, name, env, args...)
}

// dialHub connects a test client to the hub at base.
func dialHub(t testing.TB, base, query string) *testkit.Client {
	t.Helper()
	return testkit.Dial(t, base, query, nil, answerWait)
}

// message is any message from the hub.
type message = testkit.Message

func readImage(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(testdata(t, "images", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// servedModel is a model the hub at base serves now and its default
// version (GET /api/v1/models), for the README's commands (MODEL_NAME,
// MODEL_VERSION).
func servedModel(t testing.TB, base string) (name, version string) {
	t.Helper()
	resp, err := http.Get(base + contract.APIModelsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list contract.ModelList
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	for _, m := range list.Models {
		if m.Ready {
			return m.Name, strconv.Itoa(m.DefaultVersion)
		}
	}
	t.Fatalf("the hub serves no model: %+v", list)
	return "", ""
}

//go:build e2e

package e2e

import (
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/webcamhub/webcamhub/internal/testkit"
)

// ctrlCStopWait bounds a stop of `make run`: the workers' drain (nothing
// held here: milliseconds, at most the worker's DRAIN_TIMEOUT_S of 30 s), then
// the hub's (HUB_SHUTDOWN_TIMEOUT, 10 s), with room for a busy machine.
const ctrlCStopWait = 60 * time.Second

// `make run` (scripts/run-local.sh) stopped as a terminal's Ctrl-C stops it:
// SIGINT to the script's whole process group. The workers stop before the
// hub and its embedded NATS, so nothing fails: no traceback, no failed
// drain, NATS never lost by a worker, and the script ends.
func TestRunLocalStopsCleanlyOnCtrlC(t *testing.T) {
	hubPort, workerBase := testkit.FreePort(t), freePorts(t, 3)-1
	cmd := exec.Command(filepath.Join(repoRoot(t), "scripts", "run-local.sh"))
	cmd.Env = append(append(os.Environ(), natsCredentialEnv...),
		"NATS_URL=", "HTTPS=", "HUB_TLS_CERT=", "HUB_ACME_DOMAIN=",
		"MODEL=tflite:"+fleetModel(t), "RUNTIME=litert", "WORKERS=2",
		"HUB_LISTEN=127.0.0.1:"+strconv.Itoa(hubPort),
		"NATS_EMBED_ADDR=127.0.0.1:"+strconv.Itoa(testkit.FreePort(t)),
		"WORKER_METRICS_BASE_PORT="+strconv.Itoa(workerBase),
		"NATS_STORE_DIR="+filepath.Join(t.TempDir(), "nats"),
		"HUB_BIN="+bin(t, "HUB_BIN", "hub"),
		"WORKER_PYTHON="+envOr("WORKER_PYTHON", filepath.Join(repoRoot(t), ".venv", "bin", "python")))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its own group, as a terminal's job
	// A test started in the background inherits SIGINT ignored, and so would the
	// script, which cannot trap a signal ignored on entry; a terminal's job has it
	// at its default. While Go handles SIGINT, a child starts with the default.
	interrupts := make(chan os.Signal, 1)
	signal.Notify(interrupts, os.Interrupt)
	script := startCmd(t, "run-local", cmd)
	signal.Stop(interrupts)

	(&hubProc{proc: script, base: "http://127.0.0.1:" + strconv.Itoa(hubPort), client: http.DefaultClient}).waitFor(t, "/readyz")
	for i := 1; i <= 2; i++ {
		(&hubProc{proc: script, base: "http://127.0.0.1:" + strconv.Itoa(workerBase+i), client: http.DefaultClient}).waitFor(t, "/readyz")
	}

	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-script.done:
	case <-time.After(ctrlCStopWait):
		t.Fatalf("run-local.sh still running %v after Ctrl-C", ctrlCStopWait)
	}
	out := mustRead(t, script.log)
	for _, bad := range []string{"Traceback", "drain failed", "lost NATS while stopping"} {
		if strings.Contains(out, bad) {
			t.Errorf("the stop logged %q:\n%s", bad, out)
		}
	}
	// Both workers stopped (drained) before the hub began to shut down.
	hubStopping, workerStopped := strings.Index(out, `"msg":"shutting down"`), strings.LastIndex(out, `"msg": "stopped"`)
	if n := strings.Count(out, `"msg": "stopped"`); n != 2 || hubStopping < workerStopped {
		t.Errorf("want both workers stopped, then the hub shutting down; got %d worker stops, the last at byte %d, the hub's at %d:\n%s", n, workerStopped, hubStopping, out)
	}
}

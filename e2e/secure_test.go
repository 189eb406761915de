//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/webcamhub/webcamhub/internal/testkit"
)

// startSecuredNATSServer runs nats-server the way docs/scaling.md deploys
// it: TLS with client certificates, one nkey user per role with the
// permissions of deploy/nats/permissions.conf, JetStream. The certificates
// and keys are made here. It returns the endpoint for workers and the
// environment of a hub.
func startSecuredNATSServer(t *testing.T) (bus natsEndpoint, hubEnv []string) {
	t.Helper()
	dir := t.TempDir()
	tls := testkit.MakeTLSFiles(t)
	seed := func(role string) (file, pub string) {
		kp, err := nkeys.CreateUser()
		if err != nil {
			t.Fatal(err)
		}
		s, _ := kp.Seed()
		file = filepath.Join(dir, role+".nk")
		if err := os.WriteFile(file, append(s, '\n'), 0o600); err != nil {
			t.Fatal(err)
		}
		pub, _ = kp.PublicKey()
		return file, pub
	}
	hubSeed, hubPub := seed("hub")
	workerSeed, workerPub := seed("worker")
	cliSeed, cliPub := seed("cli")
	// nats-server includes files relative to the configuration only.
	perms, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "nats", "permissions.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "permissions.conf"), perms, 0o600); err != nil {
		t.Fatal(err)
	}
	port := testkit.FreePort(t)
	conf := `listen: 127.0.0.1:` + strconv.Itoa(port) + `
max_payload: 8MB
jetstream { store_dir: "` + filepath.Join(dir, "js") + `" }
tls { cert_file: "` + tls.ServerCert + `", key_file: "` + tls.ServerKey + `", ca_file: "` + tls.CA + `", verify: true, timeout: 2 }
include "permissions.conf"
authorization { users: [
  { nkey: ` + hubPub + `, permissions: $HUB_PERMISSIONS }
  { nkey: ` + workerPub + `, permissions: $WORKER_PERMISSIONS }
  { nkey: ` + cliPub + `, permissions: $CLI_PERMISSIONS }
] }
`
	confFile := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startProc(t, "nats-server-tls", nil, bin(t, "NATS_SERVER_BIN", "nats-server"), "-c", confFile)
	waitListening(t, srv, port)
	tlsEnv := []string{"NATS_TLS_CA=" + tls.CA, "NATS_TLS_CERT=" + tls.ClientCert, "NATS_TLS_KEY=" + tls.ClientKey}
	bus = natsEndpoint{
		url: "tls://127.0.0.1:" + strconv.Itoa(port), workerSeed: workerSeed, cliSeed: cliSeed,
		workerEnv: tlsEnv, cliEnv: map[string]string{"NATS_CA": tls.CA, "NATS_CERT": tls.ClientCert, "NATS_KEY": tls.ClientKey},
	}
	return bus, append([]string{"NATS_NKEY=" + hubSeed}, tlsEnv...)
}

// waitListening waits until p accepts TCP connections on port.
func waitListening(t *testing.T, p *proc, port int) {
	t.Helper()
	deadline := time.Now().Add(startupWait)
	for {
		if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			c.Close()
			return
		}
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("%s is not listening on %d", p.name, port)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The hub and the real worker on an external nats-server that wants TLS
// and the role nkeys, with the deploy permissions: the page's path, the
// analyze path and the README's nats CLI command (as the cli role) all
// classify cat.bmp.
func TestHubAndWorkerOnExternalNATSWithTLSAndNkeys(t *testing.T) {
	bus, hubEnv := startSecuredNATSServer(t)
	hub := startHub(t, hubOptions{natsURL: bus.url, extraEnv: append(hubEnv, "HUB_RECORD=true")})
	worker := startWorker(t, bus, "worker-tls")
	hub.waitFor(t, "/readyz?workers=1")

	c, session := dialWithResumeToken(t, hub)
	c.SendFrame(readImage(t, "cat.bmp"))
	if m := c.Next(); m.Type != "result" || m.Session != session || m.Top() != "Egyptian cat" {
		t.Fatalf("over TLS: %+v", m)
	}

	vars := map[string]string{"NATS_URL": bus.url, "NATS_NKEY": bus.cliSeed, "IMAGE": testdata(t, "images", "cat.bmp")}
	for k, v := range bus.cliEnv {
		vars[k] = v
	}
	out := runREADMECommand(t, "classify-file", vars)
	var res message
	if err := json.Unmarshal(bytes.TrimSpace(out), &res); err != nil || res.Top() != "Egyptian cat" {
		t.Fatalf("README nats command over TLS printed %q (%v)", out, err)
	}
	listing := string(runREADMECommand(t, "list-sessions", vars))
	if !strings.Contains(listing, "frames.live."+session) {
		t.Fatalf("list-sessions over TLS:\n%s", listing)
	}
	workerRefusedNothing(t, worker)
}

// dialWithResumeToken connects a streamer and checks that its welcome has a resume
// token (the hub could use the RESUME bucket under its role's permissions).
func dialWithResumeToken(t *testing.T, hub *hubProc) (*testkit.Client, string) {
	t.Helper()
	c := dialHub(t, hub.base, "")
	welcome := c.Next()
	if welcome.Type != "welcome" || welcome.ResumeToken == "" {
		t.Fatalf("welcome without a resume token: %+v", welcome)
	}
	return c, welcome.Session
}

// workerRefusedNothing fails the test when the worker logged a refusal.
func workerRefusedNothing(t *testing.T, worker *proc) {
	t.Helper()
	log, _ := os.ReadFile(worker.log)
	for _, refused := range []string{"not permitted", "cannot connect"} {
		if bytes.Contains(log, []byte(refused)) {
			t.Fatalf("the worker logged %q:\n%s", refused, log)
		}
	}
}

// What `make run` starts, tried as an attacker on the same machine would
// with the stock nats CLI: anonymous clients are refused; the operator's and
// the workers' keys are refused what their roles must not do; the live
// session keeps getting results from the real worker throughout.
func TestEmbeddedNATSRefusesWhatTheREADMEDoesNotNeed(t *testing.T) {
	hub := startHub(t, hubOptions{})
	startWorker(t, hub.nats, "worker-closed")
	hub.waitFor(t, "/readyz?workers=1")
	c := dialHub(t, hub.base, "")
	session := c.Welcome()
	seq := int64(0)
	stillServing := func(after string) {
		t.Helper()
		seq++
		c.SendFrame(readImage(t, "cat.bmp"))
		if m := c.Next(); m.Type != "result" || m.Seq != seq || m.Top() != "Egyptian cat" {
			t.Fatalf("after %s: %+v", after, m)
		}
	}
	stillServing("start")
	natsCLI := bin(t, "NATS_CLI_BIN", "nats")
	for _, try := range []struct {
		what, seed string
		args       []string
		want       string
	}{
		{"anonymous sub frames.>", "", []string{"sub", "frames.>"}, "Authorization Violation"},
		{"cli sub frames.live.>", hub.nats.cliSeed, []string{"sub", "frames.live.>"}, `Permissions Violation for Subscription to "frames.live.>"`},
		{"worker sub frames.live.> outside the queue group", hub.nats.workerSeed, []string{"sub", "frames.live.>"}, `Permissions Violation for Subscription to "frames.live.>"`},
		{"cli pub results.live.x", hub.nats.cliSeed, []string{"pub", "results.live." + session, `{"type":"ended"}`}, `Permissions Violation for Publish to "results.live.` + session + `"`},
		{"cli answers sessions.info.>", hub.nats.cliSeed, []string{"reply", "sessions.info.>", "{}"}, `Permissions Violation for Subscription to "sessions.info.>"`},
		{"worker answers sessions.info.>", hub.nats.workerSeed, []string{"reply", "sessions.info.>", "{}"}, `Permissions Violation for Subscription to "sessions.info.>"`},
		{"cli stream add", hub.nats.cliSeed, []string{"stream", "add", "STOLEN", "--subjects", "frames.>", "--defaults"}, `Permissions Violation for Publish to "$JS.API.STREAM.CREATE.STOLEN"`},
		{"worker stream add", hub.nats.workerSeed, []string{"stream", "add", "STOLEN", "--subjects", "frames.>", "--defaults"}, `Permissions Violation for Publish to "$JS.API.STREAM.CREATE.STOLEN"`},
	} {
		args := []string{"--server", hub.nats.url, "--timeout", "3s"}
		if try.seed != "" {
			args = append(args, "--nkey", try.seed)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		out, _ := exec.CommandContext(ctx, natsCLI, append(args, try.args...)...).CombinedOutput()
		cancel()
		if !strings.Contains(string(out), try.want) {
			t.Fatalf("%s: the nats CLI printed %q, want %q", try.what, out, try.want)
		}
		stillServing(try.what)
	}
}

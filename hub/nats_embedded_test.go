package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/webcamhub/webcamhub/contract"
	"github.com/webcamhub/webcamhub/hub/internal/embeddednats"
	"github.com/webcamhub/webcamhub/internal/testkit"
	"github.com/webcamhub/webcamhub/internal/testkit/testworker"
)

// embeddedHub is a hub running its own NATS server, closed unless tweaked.
type embeddedHub struct {
	*Hub
	base, natsURL, store string
}

func startEmbeddedHub(t testing.TB, tweak func(*Config)) embeddedHub {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(testkit.FreePort(t))
	store := t.TempDir()
	h, base := startHub(t, "", func(c *Config) {
		c.NATSEmbedAddr, c.NATSStoreDir = addr, store
		if tweak != nil {
			tweak(c)
		}
	})
	return embeddedHub{Hub: h, base: base, natsURL: "nats://" + addr, store: store}
}

// The embedded NATS accepts only its role nkeys: anonymous clients are
// refused at once; the cli and worker keys are refused every subject they
// must not touch; and meanwhile a live session keeps getting results.
func TestEmbeddedNATSRefusesAnonymousAndWhatARoleMustNotTouch(t *testing.T) {
	h := startEmbeddedHub(t, nil)
	worker := startRoleWorker(t, h.natsURL, embeddednats.SeedFile(h.store, roleWorker))
	live := dial(t, h.base, "", nil)
	session := live.Welcome()
	seq := int64(0)
	stillServing := func() {
		t.Helper()
		seq++
		live.SendFrame(fakeJPEG)
		if m := live.Next(); m.Type != "result" || m.Seq != seq {
			t.Fatalf("frame %d: %+v, want a result", seq, m)
		}
	}
	stillServing()

	if _, err := testkit.ConnectRole(t, h.natsURL, ""); !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("anonymous client: %v, want an authorization violation", err)
	}
	stillServing()

	cli, err := testkit.ConnectRole(t, h.natsURL, embeddednats.SeedFile(h.store, roleCLI))
	if err != nil {
		t.Fatalf("cli key: %v", err)
	}
	for name, c := range map[string]*testkit.RoleConn{"cli": cli, "worker": worker} {
		t.Run(name, func(t *testing.T) {
			// Reading live frames outside the queue group (or in another one).
			if _, err := c.Subscribe("frames.live.>", func(*nats.Msg) {}); err != nil {
				t.Fatal(err)
			}
			c.Refused(t, `Subscription to "frames.live.>"`, testWait)
			if _, err := c.QueueSubscribe("frames.live.>", "thieves", func(*nats.Msg) {}); err != nil {
				t.Fatal(err)
			}
			c.Refused(t, `Subscription to "frames.live.>" using queue "thieves"`, testWait)
			// Reading a session's results.
			if _, err := c.Subscribe("results.live."+session, func(*nats.Msg) {}); err != nil {
				t.Fatal(err)
			}
			c.Refused(t, `Subscription to "results.live.`+session+`"`, testWait)
			// Answering sessions.info.> so that a made-up id becomes watchable.
			if _, err := c.Subscribe("sessions.info.>", func(m *nats.Msg) { _ = m.Respond([]byte(`{}`)) }); err != nil {
				t.Fatal(err)
			}
			c.Refused(t, `Subscription to "sessions.info.>"`, testWait)
			// Sending frames as a live session.
			if err := c.Publish("frames.live."+session, fakeJPEG); err != nil {
				t.Fatal(err)
			}
			c.Refused(t, `Publish to "frames.live.`+session+`"`, testWait)
			// Creating a stream.
			js, err := jetstream.New(c.Conn)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "STOLEN", Subjects: []string{"frames.>"}}); err == nil {
				t.Fatal("a stream was created")
			}
			c.Refused(t, `Publish to "$JS.API.STREAM.CREATE.STOLEN"`, testWait)
			stillServing()
		})
	}
	// Only a worker publishes results; the cli may not forge one for a watcher.
	if err := cli.Publish("results.live."+session, []byte(`{"type":"ended"}`)); err != nil {
		t.Fatal(err)
	}
	cli.Refused(t, `Publish to "results.live.`+session+`"`, testWait)
	watcher := dial(t, h.base, "?watch=AAAAAAAAAAAAAAAAAAAAAA", nil)
	if m := watcher.Next(); m.Type != "error" || m.Code != contract.CodeUnknownSession {
		t.Fatalf("watching a made-up id: %+v, want unknown_session", m)
	}
	stillServing()
	if got := testutil.ToFloat64(h.Metrics().natsRefused.WithLabelValues(embeddednats.ViolationAuthentication)); got < 1 {
		t.Errorf("authentication refusals counted: %v", got)
	}
	if got := testutil.ToFloat64(h.Metrics().natsRefused.WithLabelValues(embeddednats.ViolationPermission)); got < 13 {
		t.Errorf("permission refusals counted: %v, want at least 13", got)
	}
}

// The cli key does what the README does with it: classify a file.
func TestCLIKeyClassifiesAFile(t *testing.T) {
	h := startEmbeddedHub(t, nil)
	worker := startRoleWorker(t, h.natsURL, embeddednats.SeedFile(h.store, roleWorker))
	cli, err := testkit.ConnectRole(t, h.natsURL, embeddednats.SeedFile(h.store, roleCLI))
	if err != nil {
		t.Fatal(err)
	}
	reply, err := cli.Request("frames.cli.mycat", fakeJPEG, testWait)
	if err != nil {
		t.Fatal(err)
	}
	var res testworker.Result
	if err := json.Unmarshal(reply.Data, &res); err != nil || res.Type != "result" {
		t.Fatalf("reply %q: %v", reply.Data, err)
	}
	select {
	case err := <-cli.Errs:
		t.Fatalf("the cli was refused something: %v", err)
	case <-worker.Errs:
		t.Fatal("the worker was refused something")
	default:
	}
}

// Seeds are made once, private, and reused: a restarted hub accepts the
// same worker key.
func TestRoleSeedsAreKeptPrivateAndReused(t *testing.T) {
	store := t.TempDir()
	addr := "127.0.0.1:" + strconv.Itoa(testkit.FreePort(t))
	tweak := func(c *Config) { c.NATSEmbedAddr, c.NATSStoreDir = addr, store }
	first, _ := startHub(t, "", tweak)
	seeds := map[string][]byte{}
	for _, role := range natsRoles {
		path := embeddednats.SeedFile(store, role)
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Fatalf("%s has mode %v, want 0600", path, st.Mode().Perm())
		}
		seeds[role], _ = os.ReadFile(path)
		if !bytes.HasPrefix(seeds[role], []byte("SU")) {
			t.Fatalf("%s does not hold a user seed", path)
		}
	}
	if bytes.Equal(seeds[roleHub], seeds[roleWorker]) || bytes.Equal(seeds[roleWorker], seeds[roleCLI]) {
		t.Fatal("two roles share a key")
	}
	_ = first.Close()
	startHub(t, "", tweak)
	for role, seed := range seeds {
		if now, _ := os.ReadFile(embeddednats.SeedFile(store, role)); !bytes.Equal(now, seed) {
			t.Fatalf("the %s seed changed on restart", role)
		}
	}
	if _, err := testkit.ConnectRole(t, "nats://"+addr, embeddednats.SeedFile(store, roleWorker)); err != nil {
		t.Fatalf("the worker key after a restart: %v", err)
	}
}

// -nats-no-auth opens the embedded server (a warning says so).
func TestNoAuthOpensTheEmbeddedServerWithAWarning(t *testing.T) {
	var logs testkit.LogBuffer
	addr := "127.0.0.1:" + strconv.Itoa(testkit.FreePort(t))
	cfg := Defaults()
	cfg.Listen, cfg.StaticDir, cfg.NATSEmbedAddr, cfg.NATSStoreDir, cfg.NATSNoAuth = "127.0.0.1:0", t.TempDir(), addr, t.TempDir(), true
	h, err := New(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	if _, err := testkit.ConnectRole(t, "nats://"+addr, ""); err != nil {
		t.Fatalf("anonymous client with -nats-no-auth: %v", err)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "accepts ANY client") {
		t.Fatalf("no warning about the open server:\n%s", logs.String())
	}
}

// The resume token survives a restart of a hub on the closed embedded NATS
// (its hash is in JetStream, under the hub role's permissions).
func TestResumeAfterARestartOfTheEmbeddedHub(t *testing.T) {
	store := t.TempDir()
	addr := "127.0.0.1:" + strconv.Itoa(testkit.FreePort(t))
	tweak := func(c *Config) { c.NATSEmbedAddr, c.NATSStoreDir = addr, store }
	first, base := startHub(t, "", tweak)
	c := dial(t, base, "", testkit.ResumeHeader(""))
	welcome := c.Next()
	if welcome.ResumeToken == "" {
		t.Fatalf("welcome without a resume token: %+v", welcome)
	}
	_ = c.Conn.Close()
	_ = first.Close()

	second, base := startHub(t, "", tweak)
	if got := dial(t, base, "?resume="+welcome.Session, nil).Welcome(); got == welcome.Session {
		t.Fatal("resumed with the id alone")
	}
	if got := dial(t, base, "?resume="+welcome.Session, testkit.ResumeHeader(welcome.ResumeToken)).Welcome(); got != welcome.Session {
		t.Fatalf("resume with the token after a restart: id %q, want %q", got, welcome.Session)
	}
	if n := testutil.ToFloat64(second.Metrics().NATSPermissionViolations) + testutil.ToFloat64(second.Metrics().natsRefused.WithLabelValues(embeddednats.ViolationPermission)); n != 0 {
		t.Fatalf("%v permission violations", n)
	}
}

func TestEmbeddedNATSServesWorkersAndHub(t *testing.T) {
	h := startEmbeddedHub(t, nil)
	// A worker connects to the embedded server the way the Python one does:
	// with the worker seed the hub made.
	startRoleWorker(t, h.natsURL, embeddednats.SeedFile(h.store, roleWorker))
	c := dial(t, h.base, "", nil)
	c.Welcome()
	c.SendFrame(fakeJPEG)
	if m := c.Next(); m.Type != contract.TypeResult {
		t.Fatalf("got %+v, want a result through the embedded NATS", m)
	}
}

package hub

import (
	"github.com/prometheus/client_golang/prometheus/testutil"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/webcamhub/webcamhub/contract"
	"github.com/webcamhub/webcamhub/hub/internal/embeddednats"
	"github.com/webcamhub/webcamhub/internal/testkit"
)

// securedNATS is an external NATS server that wants TLS (with client
// certificates) and one of the role nkeys, each with its permissions.
type securedNATS struct {
	url   string
	seeds string // directory of the role seed files
	tls   testkit.TLSFiles
}

func startSecuredNATS(t testing.TB) securedNATS { return startSecuredNATSWith(t, nil) }

// startSecuredNATSWith lets tweak change the role permissions first.
func startSecuredNATSWith(t testing.TB, tweak func(map[string]*server.Permissions)) securedNATS {
	t.Helper()
	s := securedNATS{seeds: t.TempDir(), tls: testkit.MakeTLSFiles(t)}
	keys, err := embeddednats.LoadOrCreateSeeds(s.seeds, natsRoles)
	if err != nil {
		t.Fatal(err)
	}
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: s.tls.ServerCert, KeyFile: s.tls.ServerKey, CaFile: s.tls.CA, Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	opts := &server.Options{Port: server.RANDOM_PORT, TLS: true, TLSVerify: true, TLSConfig: tc, TLSTimeout: 2}
	perms := rolePermissions()
	if tweak != nil {
		tweak(perms)
	}
	for _, role := range natsRoles {
		pub, _ := keys[role].PublicKey()
		opts.Nkeys = append(opts.Nkeys, &server.NkeyUser{Nkey: pub, Permissions: perms[role]})
	}
	ns := startNATSWith(t, opts)
	s.url = "tls://" + ns.Addr().(*net.TCPAddr).String()
	return s
}

func (s securedNATS) hubConfig(c *Config) {
	c.NATSURL = s.url
	c.NATSNkey = embeddednats.SeedFile(s.seeds, roleHub)
	c.NATSTLSCA, c.NATSTLSCert, c.NATSTLSKey = s.tls.CA, s.tls.ClientCert, s.tls.ClientKey
}

func (s securedNATS) worker(t testing.TB) {
	t.Helper()
	startRoleWorker(t, s.url, embeddednats.SeedFile(s.seeds, roleWorker),
		nats.RootCAs(s.tls.CA), nats.ClientCert(s.tls.ClientCert, s.tls.ClientKey))
}

// A hub on an external NATS with TLS (server name verified, client
// certificate) and the hub nkey, recording on (JetStream under the hub's
// permissions): frames are classified and /readyz is 200.
func TestHubOnExternalNATSWithTLSAndNkey(t *testing.T) {
	s := startSecuredNATS(t)
	s.worker(t)
	_, base := startHub(t, "", func(c *Config) {
		s.hubConfig(c)
		c.Record, c.RecordMaxAge, c.RecordMaxBytes = true, time.Hour, 64<<20
	})
	c := dial(t, base, "", nil)
	c.Welcome()
	for seq := int64(1); seq <= 3; seq++ {
		c.SendFrame(fakeJPEG)
		if m := c.Next(); m.Type != "result" || m.Seq != seq {
			t.Fatalf("frame %d over TLS: %+v", seq, m)
		}
	}
	waitFor(t, "/readyz?workers=1 200", func() bool { code, _ := readyz(t, base, "?workers=1"); return code == http.StatusOK })
}

// Credentials the server does not know, and a CA that did not sign the
// server: the hub starts, says so in its log at once (the NATS error, the
// server, the role) and /readyz is 503 with the reason.
func TestWrongNATSCredentialsAreLoggedAndReadyzSaysWhy(t *testing.T) {
	s := startSecuredNATS(t)
	stranger, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := stranger.Seed()
	strangerFile := filepath.Join(t.TempDir(), "stranger.nk")
	if err := os.WriteFile(strangerFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	otherCA := testkit.MakeTLSFiles(t)
	for name, c := range map[string]struct {
		tweak      func(*Config)
		log, ready string
	}{
		"unknown nkey": {func(c *Config) { s.hubConfig(c); c.NATSNkey = strangerFile }, "refused the credentials", "authorization violation"},
		"wrong CA":     {func(c *Config) { s.hubConfig(c); c.NATSTLSCA = otherCA.CA }, "TLS failed", "certificate"},
	} {
		t.Run(name, func(t *testing.T) {
			var logs testkit.LogBuffer
			cfg := Defaults()
			cfg.Listen, cfg.StaticDir, cfg.ShutdownTimeout = "127.0.0.1:0", t.TempDir(), 2*time.Second
			c.tweak(&cfg)
			h, err := New(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = h.Close() })
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go func() { _ = h.Serve(ln) }()
			base := "http://" + ln.Addr().String()
			t.Cleanup(func() {
				if t.Failed() {
					t.Log(logs.String())
				}
			})
			waitFor(t, "the failure in the log: "+c.log, func() bool { return strings.Contains(logs.String(), c.log) })
			line := logs.String()
			for _, want := range []string{"level=ERROR", c.log, "nats_role=hub", "nats_servers=" + s.url} {
				if !strings.Contains(line, want) {
					t.Fatalf("log lacks %q:\n%s", want, line)
				}
			}
			code, body := readyz(t, base)
			if code != http.StatusServiceUnavailable || !strings.Contains(body, "as hub") || !strings.Contains(body, s.url) || !strings.Contains(strings.ToLower(body), c.ready) {
				t.Fatalf("/readyz %d %s, want 503 naming the server, the role and %q", code, body, c.ready)
			}
		})
	}
}

// A publish the hub's role does not permit (here: pinging the workers) is
// logged and counted, and the hub keeps serving.
func TestHubPermissionViolationIsLoggedAndCounted(t *testing.T) {
	s := startSecuredNATSWith(t, func(p map[string]*server.Permissions) {
		var allow []string
		for _, subj := range p[roleHub].Publish.Allow {
			if subj != contract.WorkerPingSubject {
				allow = append(allow, subj)
			}
		}
		p[roleHub].Publish.Allow = allow
	})
	s.worker(t)
	h, base := startHub(t, "", s.hubConfig)
	if code, _ := readyz(t, base, "?workers=1"); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz?workers=1 %d without permission to ping the workers", code)
	}
	waitFor(t, "the violation counted", func() bool { return testutil.ToFloat64(h.Metrics().NATSPermissionViolations) >= 1 })
	c := dial(t, base, "", nil)
	c.Welcome()
	c.SendFrame(fakeJPEG)
	if m := c.Next(); m.Type != "result" {
		t.Fatalf("after the violation: %+v", m)
	}
	resp, err := http.Get(serveMetrics(t, h) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	// At least the first refused ping (the failover watch pings again and again).
	if !regexp.MustCompile(`(?m)^hub_nats_permission_violations_total [1-9]`).Match(body) {
		t.Fatalf("metrics:\n%s", body)
	}
}

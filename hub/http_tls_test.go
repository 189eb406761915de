package hub

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/webcamhub/webcamhub/contract"
	"github.com/webcamhub/webcamhub/hub/internal/certreload"
	"github.com/webcamhub/webcamhub/internal/testkit"
	"github.com/webcamhub/webcamhub/internal/testkit/testworker"
)

// answerOf takes a client call's two results: answerOf(t)(client.Get(url)).
func answerOf(t *testing.T) func(*http.Response, error) (int, []byte) {
	return func(resp *http.Response, err error) (int, []byte) {
		t.Helper()
		return readAnswer(t, resp, err)
	}
}

// startHTTPSHub runs a hub serving HTTPS with the server pair of files on a
// free port; base is https://127.0.0.1:port.
func startHTTPSHub(t *testing.T, natsURL string, files testkit.TLSFiles, tweak func(*Config)) (*Hub, string) {
	t.Helper()
	return startHub(t, natsURL, func(c *Config) {
		c.TLSCert, c.TLSKey = files.ServerCert, files.ServerKey
		if tweak != nil {
			tweak(c)
		}
	})
}

func TestHTTPSServesThePageTheWebSocketAndTheAPI(t *testing.T) {
	ns := startNATS(t, 0)
	startWorker(t, ns.ClientURL(), testworker.Options{})
	files := testkit.MakeTLSFiles(t)
	dist := t.TempDir()
	if err := os.WriteFile(filepath.Join(dist, "index.html"), []byte("<!doctype html><title>Lens Hub</title>"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, base := startHTTPSHub(t, ns.ClientURL(), files, func(c *Config) { c.StaticDir = dist })
	roots := testkit.CertPool(t, files.CA)
	client := testkit.HTTPSClient(roots, testWait)

	status, body := answerOf(t)(client.Get(base + "/"))
	if status != http.StatusOK || !strings.Contains(string(body), "Lens Hub") {
		t.Fatalf("GET / over HTTPS = %d %q", status, body)
	}
	status, body = answerOf(t)(client.Post(base+"/api/v1/analyze", "application/json", strings.NewReader(analyzeBody(fakeJPEG))))
	if status != http.StatusOK || !strings.Contains(string(body), "Egyptian cat") {
		t.Fatalf("analyze over HTTPS = %d %q", status, body)
	}

	// wss from the hub's own https origin: frames answered.
	c := testkit.DialTLS(t, base, "", http.Header{"Origin": {base}}, roots, testWait)
	session := c.Welcome()
	c.SendFrame(fakeJPEG)
	if m := c.Next(); m.Type != contract.TypeResult || m.Session != session || m.Top() != "Egyptian cat" {
		t.Fatalf("answer over wss = %+v", m)
	}
	// The origin check follows the scheme: the same host over http is another origin.
	port := base[strings.LastIndex(base, ":"):]
	for _, wrong := range []string{"http://127.0.0.1" + port, "http://localhost" + port} {
		if conn, err := testkit.TryDialTLS(base, "", http.Header{"Origin": {wrong}}, roots); err == nil {
			conn.Close()
			t.Fatalf("Origin %s let in on an HTTPS hub", wrong)
		}
	}
	testkit.DialTLS(t, base, "", http.Header{"Origin": {"https://localhost" + port}}, roots, testWait).Welcome()
}

func TestHTTPSRefusesOldTLSAndAnswersPlainHTTPInWords(t *testing.T) {
	ns := startNATS(t, 0)
	files := testkit.MakeTLSFiles(t)
	_, base := startHTTPSHub(t, ns.ClientURL(), files, nil)
	addr := strings.TrimPrefix(base, "https://")

	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: testkit.CertPool(t, files.CA), MaxVersion: tls.VersionTLS11})
	if err == nil {
		conn.Close()
		t.Fatal("a TLS 1.1 handshake succeeded")
	}

	plain := &http.Client{Timeout: testWait, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := plain.Get("http://" + addr + "/?x=1")
	status, body := readAnswer(t, resp, err)
	if status != http.StatusPermanentRedirect || resp.Header.Get("Location") != base+"/?x=1" || !strings.Contains(string(body), "speaks HTTPS") {
		t.Fatalf("plain GET to the TLS port = %d %q %q", status, resp.Header.Get("Location"), body)
	}
	status, body = answerOf(t)(plain.Post("http://"+addr+"/api/v1/analyze", "application/json", strings.NewReader(analyzeBody(fakeJPEG))))
	if status != http.StatusBadRequest || !strings.Contains(string(body), "use "+base+"/api/v1/analyze") {
		t.Fatalf("plain POST to the TLS port = %d %q", status, body)
	}
	// And the port still speaks TLS afterwards.
	status, _ = answerOf(t)(testkit.HTTPSClient(testkit.CertPool(t, files.CA), testWait).Get(base + "/healthz"))
	if status != http.StatusOK {
		t.Fatalf("healthz over HTTPS after plain requests = %d", status)
	}
}

// servedSerial is the serial number of the certificate a fresh handshake gets.
func servedSerial(t *testing.T, addr string, roots *x509.CertPool) string {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

func TestHTTPSPicksUpReplacedCertificateFiles(t *testing.T) {
	ns := startNATS(t, 0)
	first, second := testkit.MakeTLSFiles(t), testkit.MakeTLSFiles(t)
	dir := t.TempDir()
	live := testkit.TLSFiles{CA: first.CA, ServerCert: filepath.Join(dir, "cert.pem"), ServerKey: filepath.Join(dir, "key.pem")}
	copyTo := func(from testkit.TLSFiles) {
		// As certbot does: new files moved into place.
		for src, dst := range map[string]string{from.ServerCert: live.ServerCert, from.ServerKey: live.ServerKey} {
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst+".new", b, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(dst+".new", dst); err != nil {
				t.Fatal(err)
			}
		}
	}
	copyTo(first)
	_, base := startHTTPSHub(t, ns.ClientURL(), live, nil)
	addr := strings.TrimPrefix(base, "https://")
	roots := testkit.CertPool(t, first.CA, second.CA)
	old := servedSerial(t, addr, roots)

	copyTo(second)
	waitFor(t, "the replaced certificate to be served", func() bool { return servedSerial(t, addr, roots) != old })
	// Served for real: a client that trusts only the new CA connects.
	status, _ := answerOf(t)(testkit.HTTPSClient(testkit.CertPool(t, second.CA), testWait).Get(base + "/healthz"))
	if status != http.StatusOK {
		t.Fatalf("healthz with the new certificate = %d", status)
	}
}

func TestBadCertificateStopsTheHubBeforeAnythingListens(t *testing.T) {
	a, b := testkit.MakeTLSFiles(t), testkit.MakeTLSFiles(t)
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	if err := os.WriteFile(garbage, []byte("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, cert, key, want string }{
		{"key of another certificate", a.ServerCert, b.ServerKey, "private key does not match public key"},
		{"not a certificate", garbage, a.ServerKey, garbage},
		{"missing key file", a.ServerCert, a.ServerKey + ".missing", "no such file or directory"},
		{"a directory as the certificate", t.TempDir(), a.ServerKey, "is a directory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			httpPort, natsPort := testkit.FreePort(t), testkit.FreePort(t)
			cfg := Defaults()
			cfg.Listen = "127.0.0.1:" + strconv.Itoa(httpPort)
			cfg.NATSEmbedAddr = "127.0.0.1:" + strconv.Itoa(natsPort)
			cfg.NATSStoreDir = t.TempDir()
			cfg.StaticDir = t.TempDir()
			cfg.TLSCert, cfg.TLSKey = c.cert, c.key
			ctx, cancel := context.WithTimeout(context.Background(), testWait)
			defer cancel()
			err := Run(ctx, cfg, testLogger(t))
			if !errors.Is(err, ErrInvalidConfig) || !errors.Is(err, certreload.ErrBadCertificate) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Run = %v, want a certificate error naming %q", err, c.want)
			}
			if ctx.Err() != nil {
				t.Fatal("Run did not return at once")
			}
			// Nothing was started: neither the HTTPS port nor the embedded NATS.
			for _, port := range []int{httpPort, natsPort} {
				if conn, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
					conn.Close()
					t.Fatalf("port %d listens after a refused start", port)
				}
			}
			entries, _ := os.ReadDir(cfg.NATSStoreDir)
			if len(entries) > 0 {
				t.Fatalf("the embedded NATS store was written: %v", entries)
			}
		})
	}
}

func TestServesTheCACertificateOnlyWhenAsked(t *testing.T) {
	ns := startNATS(t, 0)
	files := testkit.MakeTLSFiles(t)
	roots := testkit.CertPool(t, files.CA)
	client := testkit.HTTPSClient(roots, testWait)

	_, base := startHTTPSHub(t, ns.ClientURL(), files, nil)
	if status, _ := answerOf(t)(client.Get(base + "/ca.crt")); status != http.StatusNotFound {
		t.Fatalf("GET /ca.crt by default = %d, want 404", status)
	}
	_, base = startHTTPSHub(t, ns.ClientURL(), files, func(c *Config) { c.ServeCACert = files.CA })
	resp, err := client.Get(base + "/ca.crt")
	status, body := readAnswer(t, resp, err)
	want, _ := os.ReadFile(files.CA)
	if status != http.StatusOK || string(body) != string(want) || resp.Header.Get("Content-Type") != "application/x-x509-ca-cert" {
		t.Fatalf("GET /ca.crt = %d %q %q", status, resp.Header.Get("Content-Type"), body)
	}
}

// hub_tls_cert_expiry_timestamp_seconds is the served certificate's NotAfter;
// a plain-HTTP hub has no such series.
func TestTLSCertExpiryIsAMetric(t *testing.T) {
	ns := startNATS(t, 0)
	files := testkit.MakeTLSFiles(t)
	h, _ := startHTTPSHub(t, ns.ClientURL(), files, nil)
	pair, err := tls.LoadX509KeyPair(files.ServerCert, files.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	got := testkit.Metric(t, testkit.ScrapeMetrics(t, serveMetrics(t, h)+"/metrics"), "hub_tls_cert_expiry_timestamp_seconds", nil).GetGauge().GetValue()
	if want := float64(pair.Leaf.NotAfter.Unix()); got != want {
		t.Errorf("hub_tls_cert_expiry_timestamp_seconds %v, want %v", got, want)
	}
	plain, _ := startHub(t, ns.ClientURL(), nil)
	if _, ok := testkit.ScrapeMetrics(t, serveMetrics(t, plain)+"/metrics")["hub_tls_cert_expiry_timestamp_seconds"]; ok {
		t.Error("a plain-HTTP hub reports a certificate expiry")
	}
}

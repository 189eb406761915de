package hub

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	fws "github.com/fasthttp/websocket"

	"github.com/webcamhub/webcamhub/internal/testkit"
)

// acmeWait bounds getting a certificate from pebble: an order, a TLS-ALPN-01
// validation against the hub and the issuance, under the race detector.
const acmeWait = 90 * time.Second

// acmeTestDomain is the name the hub gets a certificate for; pebble's DNS
// (pebble-challtestsrv) resolves every name to 127.0.0.1.
const acmeTestDomain = "hub.webcamhub.test"

// pebbleTool finds a binary of Let's Encrypt's test CA: $envVar (set by the
// Makefile), .bin/ of the repository, or PATH.
func pebbleTool(t *testing.T, name, envVar string) string {
	t.Helper()
	if p := os.Getenv(envVar); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := filepath.Abs(filepath.Join("..", ".bin", name)); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	t.Skipf("%s is not installed: `make tools` installs it into .bin/ (go install github.com/letsencrypt/pebble/v2/cmd/%s), or set %s", name, name, envVar)
	return ""
}

// startProcess runs a helper server for the test and stops it at its end;
// its output is shown when the test fails.
func startProcess(t *testing.T, env []string, bin string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out := &testkit.LogBuffer{} // the process's output, for the test's failure message
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(bin), out.String())
		}
	})
}

// pebbleCA is a running pebble with its DNS: where its directory is, and
// the root that signs the certificates it issues.
type pebbleCA struct {
	directory string
	roots     *x509.CertPool
}

// startPebble runs pebble-challtestsrv as pebble's DNS (every name is
// 127.0.0.1) and pebble, validating TLS-ALPN-01 on tlsPort. Pebble's own
// HTTPS uses a certificate of files, whose CA the hub is told to trust.
func startPebble(t *testing.T, files testkit.TLSFiles, tlsPort int) pebbleCA {
	t.Helper()
	pebble := pebbleTool(t, "pebble", "PEBBLE_BIN")
	challtestsrv := pebbleTool(t, "pebble-challtestsrv", "PEBBLE_CHALLTESTSRV_BIN")
	dnsAddr := "127.0.0.1:" + strconv.Itoa(testkit.FreePort(t))
	startProcess(t, nil, challtestsrv, "-dnsserver", dnsAddr, "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "", "-management", "127.0.0.1:"+strconv.Itoa(testkit.FreePort(t)))

	listen, management := "127.0.0.1:"+strconv.Itoa(testkit.FreePort(t)), "127.0.0.1:"+strconv.Itoa(testkit.FreePort(t))
	config := map[string]any{"pebble": map[string]any{
		"listenAddress": listen, "managementListenAddress": management,
		"certificate": files.ServerCert, "privateKey": files.ServerKey,
		"httpPort": tlsPort, "tlsPort": tlsPort, // (HTTP-01 is not offered a port here: autocert tries TLS-ALPN-01 first)
		"ocspResponderURL": "", "externalAccountBindingRequired": false, "keyAlgorithm": "ecdsa",
		"profiles": map[string]any{"default": map[string]any{"description": "test", "validityPeriod": 7776000}},
	}}
	configFile := filepath.Join(t.TempDir(), "pebble-config.json")
	data, _ := json.Marshal(config)
	if err := os.WriteFile(configFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	// Validation for real, at once (pebble sleeps up to 15 s before each
	// by default), and no nonces refused at random.
	startProcess(t, []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0"}, pebble, "-config", configFile, "-dnsserver", dnsAddr)

	client := testkit.HTTPSClient(testkit.CertPool(t, files.CA), 5*time.Second)
	var root []byte
	waitFor(t, "pebble to serve its directory and root", func() bool {
		resp, err := client.Get("https://" + management + "/roots/0")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		root = buf.Bytes()
		return resp.StatusCode == http.StatusOK
	})
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(root) {
		t.Fatalf("pebble's root is not PEM: %q", root)
	}
	return pebbleCA{directory: "https://" + listen + "/dir", roots: roots}
}

// dialTo makes every connection go to addr, whatever name the URL has: the
// test's stand-in for DNS pointing the domain at the hub.
func dialTo(addr string) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
}

func TestACMECertificateFromPebble(t *testing.T) {
	ns := startNATS(t, 0)
	files := testkit.MakeTLSFiles(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ca := startPebble(t, files, port)

	cacheDir := t.TempDir()
	cfg := Defaults()
	cfg.NATSURL = ns.ClientURL()
	cfg.Listen = ln.Addr().String()
	cfg.StaticDir = t.TempDir()
	cfg.ShutdownTimeout = 5 * time.Second
	cfg.ACMEDomains = []string{acmeTestDomain}
	cfg.ACMEDirectory = ca.directory
	cfg.ACMECAFile = files.CA
	cfg.ACMECacheDir = cacheDir
	h, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = h.Serve(ln) }()
	t.Cleanup(func() { _ = h.Close() })

	// The first request for the domain gets the certificate from pebble,
	// which validates TLS-ALPN-01 on the hub's port; it is verified against
	// pebble's root and names the domain.
	base := fmt.Sprintf("https://%s:%d", acmeTestDomain, port)
	client := &http.Client{Timeout: acmeWait, Transport: &http.Transport{
		DialContext:     dialTo(ln.Addr().String()),
		TLSClientConfig: &tls.Config{RootCAs: ca.roots, MinVersion: tls.VersionTLS12},
	}}
	resp, err := client.Get(base + "/healthz")
	if err != nil {
		t.Fatalf("HTTPS with a certificate from pebble: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil || resp.TLS.PeerCertificates[0].DNSNames[0] != acmeTestDomain {
		t.Fatalf("GET /healthz = %d, TLS %+v", resp.StatusCode, resp.TLS)
	}
	if _, err := os.Stat(filepath.Join(cacheDir, acmeTestDomain)); err != nil {
		t.Fatalf("the certificate is not kept in the cache directory: %v", err)
	}

	// wss from the domain's own origin.
	dialer := fws.Dialer{NetDialContext: dialTo(ln.Addr().String()), TLSClientConfig: &tls.Config{RootCAs: ca.roots}, HandshakeTimeout: testWait}
	conn, _, err := dialer.Dial(strings.Replace(base, "https", "wss", 1)+"/ws", http.Header{"Origin": {base}})
	if err != nil {
		t.Fatalf("wss to the ACME domain: %v", err)
	}
	conn.Close()

	// A name the hub was not told to serve gets no certificate.
	other, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{ServerName: "other.webcamhub.test", RootCAs: ca.roots})
	if err == nil {
		other.Close()
		t.Fatal("a handshake for a name outside -acme-domain succeeded")
	}
}

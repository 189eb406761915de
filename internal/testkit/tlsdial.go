package testkit

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
)

// CertPool holds the certificates of the PEM files, failing the test when
// one holds none.
func CertPool(t testing.TB, files ...string) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	for _, f := range files {
		pem, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			t.Fatalf("%s holds no PEM certificate", f)
		}
	}
	return pool
}

// HTTPSClient is an HTTP client that trusts roots only and follows no redirect.
func HTTPSClient(roots *x509.CertPool, timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout:       timeout,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// DialTLS is Dial for an https:// base whose certificate roots signed: the
// WebSocket over TLS (wss://).
func DialTLS(t testing.TB, base, query string, header http.Header, roots *x509.CertPool, wait time.Duration) *Client {
	t.Helper()
	c, err := TryDialTLS(base, query, header, roots)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &Client{t: t, Conn: c, Wait: wait}
}

// TryDialTLS is TryDial for an https:// base whose certificate roots signed.
func TryDialTLS(base, query string, header http.Header, roots *x509.CertPool) (*websocket.Conn, error) {
	u := WebSocketURL(base) + query
	d := *websocket.DefaultDialer
	d.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	c, resp, err := d.Dial(u, header)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial %s: %w (HTTP %d)", u, err, resp.StatusCode)
		}
		return nil, fmt.Errorf("dial %s: %w", u, err)
	}
	return c, nil
}

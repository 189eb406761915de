package tlssniff

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/webcamhub/webcamhub/internal/testkit"
)

// startTLSServer serves "hello over TLS" on a wrapped TLS listener.
func startTLSServer(t *testing.T) (addr string, files testkit.TLSFiles) {
	t.Helper()
	files = testkit.MakeTLSFiles(t)
	cert, err := tls.LoadX509KeyPair(files.ServerCert, files.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "hello over TLS") }),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() { _ = srv.Serve(tls.NewListener(Wrap(ln), &tls.Config{Certificates: []tls.Certificate{cert}})) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String(), files
}

func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func TestTLSPassesThrough(t *testing.T) {
	addr, files := startTLSServer(t)
	pem, err := os.ReadFile(files.CA)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	resp, err := client.Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "hello over TLS" {
		t.Fatalf("body = %q", body)
	}
}

func TestPlainHTTPGetIsRedirectedToHTTPS(t *testing.T) {
	addr, _ := startTLSServer(t)
	client := &http.Client{CheckRedirect: noRedirects}
	resp, err := client.Get("http://" + addr + "/index.html?x=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	want := "https://" + addr + "/index.html?x=1"
	if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want || !strings.Contains(string(body), "use "+want) {
		t.Fatalf("plain GET = %d Location %q body %q, want 308 to %s", resp.StatusCode, resp.Header.Get("Location"), body, want)
	}
}

func TestPlainHTTPPostGets400(t *testing.T) {
	addr, _ := startTLSServer(t)
	resp, err := http.Post("http://"+addr+"/api/v1/analyze", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "speaks HTTPS") || resp.Header.Get("Location") != "" {
		t.Fatalf("plain POST = %d %q", resp.StatusCode, body)
	}
}

func TestGarbageGets400WithoutALocation(t *testing.T) {
	addr, _ := startTLSServer(t)
	for _, req := range []string{
		"GET http://other/ HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a/b@c\r\n\r\n",
		"hello\r\n\r\n",
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(c, req)
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		answer, _ := io.ReadAll(c)
		c.Close()
		if !strings.HasPrefix(string(answer), "HTTP/1.1 400 ") || strings.Contains(string(answer), "Location") || !strings.Contains(string(answer), "speaks HTTPS") {
			t.Errorf("%q answered %q, want a 400 without a Location", req, answer)
		}
	}
}

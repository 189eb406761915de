//go:build e2e

package e2e

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/webcamhub/webcamhub/internal/devcert"
	"github.com/webcamhub/webcamhub/internal/testkit"
)

// What `make run HTTPS=1` runs: the local CA and certificate of devcert,
// the hub binary serving HTTPS with them and the CA at /ca.crt, and a real
// worker; a client that trusts only that CA gets labels over wss.
func TestHTTPSWithTheLocalCA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	names, err := devcert.LocalNames()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := devcert.Ensure(dir, names, time.Now()); err != nil {
		t.Fatal(err)
	}
	files := devcert.FilesIn(dir)
	roots := testkit.CertPool(t, files.CA)
	hub := startHub(t, hubOptions{tlsRoots: roots, extraEnv: []string{"HUB_TLS_CERT=" + files.Cert, "HUB_TLS_KEY=" + files.Key, "HUB_SERVE_CA_CERT=" + files.CA}})
	base, client := hub.base, hub.client
	startWorker(t, hub.nats, "worker-https")
	hub.waitFor(t, "/readyz?workers=1")

	c := testkit.DialTLS(t, base, "", http.Header{"Origin": {"https://localhost:" + strconv.Itoa(hub.httpPort)}}, roots, answerWait)
	session := c.Welcome()
	c.SendFrame(readImage(t, "cat.bmp"))
	if m := c.Next(); m.Type != "result" || m.Session != session || m.Top() != "Egyptian cat" {
		t.Fatalf("answer over wss = %+v", m)
	}

	resp, err := client.Get(base + "/ca.crt")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	served, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(files.CA)
	if resp.StatusCode != http.StatusOK || string(served) != string(want) {
		t.Fatalf("GET /ca.crt = %d, %d bytes, want the CA (%d bytes)", resp.StatusCode, len(served), len(want))
	}
}

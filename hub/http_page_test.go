package hub

import (
	"compress/gzip"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestServesTheBuiltPage(t *testing.T) {
	ns := startNATS(t, 0)
	dist := t.TempDir()
	if err := os.WriteFile(filepath.Join(dist, "index.html"), []byte("<!doctype html><title>Lens Hub</title>"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, base := startHub(t, ns.ClientURL(), func(c *Config) { c.StaticDir = dist })
	if status, body := get(t, base+"/"); status != 200 || !strings.Contains(body, "Lens Hub") {
		t.Fatalf("GET / = %d %q", status, body)
	}
	if status, body := get(t, base+"/no-such-file.js"); status != 404 || !strings.Contains(body, "message") {
		t.Fatalf("GET a missing file = %d %q, want 404 JSON", status, body)
	}
}

// A browser (which accepts gzip) gets the page compressed, and the page's
// directory is never written to: it may be read-only (a container's root).
func TestServesThePageCompressedWithoutWritingBesideIt(t *testing.T) {
	ns := startNATS(t, 0)
	dist := t.TempDir()
	page := "<!doctype html><title>Lens Hub</title>" + strings.Repeat("<p>webcam</p>", 200)
	if err := os.WriteFile(filepath.Join(dist, "index.html"), []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	_, base := startHub(t, ns.ClientURL(), func(c *Config) { c.StaticDir = dist })
	req, err := http.NewRequest(http.MethodGet, base+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("GET / accepting gzip = %d, Content-Encoding %q; want 200 gzip", resp.StatusCode, resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if body, err := io.ReadAll(zr); err != nil || string(body) != page {
		t.Fatalf("the gzip body is not the page (%v): %d bytes", err, len(body))
	}
	entries, err := os.ReadDir(dist)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("the page directory holds %d entries after serving, want only index.html: %v", len(entries), entries)
	}
}

func TestWithoutABuiltPageSaysHowToBuildIt(t *testing.T) {
	ns := startNATS(t, 0)
	_, base := startHub(t, ns.ClientURL(), func(c *Config) { c.StaticDir = filepath.Join(t.TempDir(), "missing") })
	if status, body := get(t, base+"/"); status != 200 || !strings.Contains(body, "make run") {
		t.Fatalf("GET / = %d %q", status, body)
	}
}

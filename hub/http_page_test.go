package hub

import (
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

func TestWithoutABuiltPageSaysHowToBuildIt(t *testing.T) {
	ns := startNATS(t, 0)
	_, base := startHub(t, ns.ClientURL(), func(c *Config) { c.StaticDir = filepath.Join(t.TempDir(), "missing") })
	if status, body := get(t, base+"/"); status != 200 || !strings.Contains(body, "make run") {
		t.Fatalf("GET / = %d %q", status, body)
	}
}

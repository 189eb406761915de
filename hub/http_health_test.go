package hub

import (
	"net/http"
	"testing"

	"github.com/webcamhub/webcamhub/internal/testkit/testworker"
)

func TestHealthAndReadiness(t *testing.T) {
	ns := startNATS(t, 0)
	h, base := startHub(t, ns.ClientURL(), nil)
	get := func(url string) int {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := get(base + "/healthz"); s != 200 {
		t.Fatalf("healthz %d", s)
	}
	if s := get(base + "/readyz"); s != http.StatusServiceUnavailable {
		t.Fatalf("readyz without a worker: %d, want 503", s)
	}
	startWorker(t, ns.ClientURL(), testworker.Options{})
	if s := get(base + "/readyz"); s != 200 {
		t.Fatalf("readyz with a worker: %d, want 200", s)
	}
	if s := get(serveMetrics(t, h) + "/metrics"); s != 200 {
		t.Fatalf("metrics %d", s)
	}
}

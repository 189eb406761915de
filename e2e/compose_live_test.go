//go:build e2e

package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/webcamhub/webcamhub/contract"
)

// TestComposeLive checks docker-compose.yml running on a real Docker engine
// through the hub's published port: the page is served, and a photo is
// classified over /ws and over the analyze API by a worker container.
// scripts/test-compose-live.sh (make test-compose-live) starts the project
// and runs this test with WEBCAMHUB_LIVE_URL set; without it there is nothing
// to check.
func TestComposeLive(t *testing.T) {
	base := os.Getenv("WEBCAMHUB_LIVE_URL")
	if base == "" {
		t.Skip("WEBCAMHUB_LIVE_URL not set: make test-compose-live runs this test against the compose project")
	}

	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(strings.ToLower(string(page)), "<html") {
		t.Fatalf("GET /: status %d, %d bytes, no page", resp.StatusCode, len(page))
	}

	c := dialHub(t, base, "")
	c.Welcome()
	c.SendFrame(readImage(t, "parrot.jpg"))
	if m := c.Next(); m.Type != contract.TypeResult || m.Top() != "macaw" {
		t.Fatalf("/ws parrot.jpg: %+v, want a result with macaw on top", m)
	}

	body, _ := json.Marshal(map[string]string{"base64Image": base64.StdEncoding.EncodeToString(readImage(t, "grace_hopper.bmp"))})
	resp, err = http.Post(base+"/api/v1/analyze", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var preds []contract.Prediction
	if err := json.NewDecoder(resp.Body).Decode(&preds); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("analyze: status %d, %v", resp.StatusCode, err)
	}
	if len(preds) != 3 || preds[0].Label != "military uniform" {
		t.Fatalf("analyze grace_hopper.bmp: %+v", preds)
	}
}

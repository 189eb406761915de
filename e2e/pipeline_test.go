//go:build e2e

package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/webcamhub/webcamhub/contract"
	"github.com/webcamhub/webcamhub/internal/testkit"
)

// The README's promise: one command runs the system, and cat.bmp comes out
// "Egyptian cat" over WebSocket, over the nats CLI and over the API.
func TestCatIsEgyptianCatOverWebSocketCLIAndAPI(t *testing.T) {
	hub := startHub(t, hubOptions{})
	startWorker(t, hub.nats, "worker-1")
	hub.waitFor(t, "/readyz?workers=1")

	c := dialHub(t, hub.base, "")
	session := c.Welcome()
	for seq, img := range []string{"cat.bmp", "cat_720p.jpg", "parrot.jpg"} {
		c.SendFrame(readImage(t, img))
		m := c.Next()
		want := map[string]string{"cat.bmp": "Egyptian cat", "cat_720p.jpg": "Egyptian cat", "parrot.jpg": "macaw"}[img]
		if m.Type != contract.TypeResult || m.Seq != int64(seq+1) || m.Session != session || m.Top() != want {
			t.Fatalf("%s: %+v, want result %d with top label %q", img, m, seq+1, want)
		}
		if len(m.Predictions) != 3 || m.Predictions[0].Confidence < 0.5 {
			t.Fatalf("%s: predictions %+v", img, m.Predictions)
		}
	}
	c.SendFrame([]byte("\xFF\xD8\xFF\xE0 but then garbage"))
	if m := c.Next(); m.Type != contract.TypeError || m.Code != contract.CodeBadImage || m.Seq != 4 {
		t.Fatalf("truncated JPEG: %+v, want bad_image for seq 4", m)
	}
	c.SendFrame(readImage(t, "cat.bmp"))
	if m := c.Next(); m.Top() != "Egyptian cat" || m.Seq != 5 {
		t.Fatalf("after a bad frame: %+v", m)
	}
	// Options: five labels per result from now on.
	c.SendText(`{"type":"options","topK":5}`)
	c.SendFrame(readImage(t, "cat.bmp"))
	if m := c.Next(); m.Seq != 6 || len(m.Predictions) != 5 || m.Top() != "Egyptian cat" {
		t.Fatalf("with topK 5: %+v", m)
	}

	// The README's WebSocket command, exactly.
	ws := runREADMECommand(t, "classify-websocket", map[string]string{"HUB_WS": testkit.WebSocketURL(hub.base)})
	var wsRes message
	if err := json.Unmarshal(bytes.TrimSpace(ws), &wsRes); err != nil || wsRes.Type != contract.TypeResult || wsRes.Top() != "Egyptian cat" {
		t.Fatalf("README WebSocket command printed %q (%v), want an Egyptian cat result", ws, err)
	}

	// The README's nats CLI command, exactly.
	out := runREADMECommand(t, "classify-file", map[string]string{
		"NATS_URL": hub.nats.url, "NATS_NKEY": hub.nats.cliSeed, "IMAGE": testdata(t, "images", "cat.bmp"),
	})
	var res message
	if err := json.Unmarshal(bytes.TrimSpace(out), &res); err != nil {
		t.Fatalf("nats CLI printed %q: %v", out, err)
	}
	if res.Type != contract.TypeResult || res.Top() != "Egyptian cat" {
		t.Fatalf("nats CLI: %+v, want Egyptian cat", res)
	}

	body, _ := json.Marshal(map[string]string{"base64Image": base64.StdEncoding.EncodeToString(readImage(t, "grace_hopper.bmp"))})
	resp, err := http.Post(hub.base+"/api/v1/analyze", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var preds []contract.Prediction
	if err := json.NewDecoder(resp.Body).Decode(&preds); err != nil || resp.StatusCode != 200 {
		t.Fatalf("analyze: status %d, %v", resp.StatusCode, err)
	}
	if len(preds) != 3 || preds[0].Label != "military uniform" {
		t.Fatalf("analyze grace_hopper.bmp: %+v", preds)
	}
}

// runREADMECommand runs the shell block of README.md marked
// <!-- e2e:NAME --> with the nats CLI of .bin first on the PATH.
func runREADMECommand(t testing.TB, name string, vars map[string]string) []byte {
	t.Helper()
	script := readmeBlock(t, name)
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = repoRoot(t)
	cmd.Env = append(cmd.Environ(), "PATH="+repoRoot(t)+"/.bin:"+envOr("PATH", ""))
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("README block %s failed: %v\n%s\nstderr: %s", name, err, script, stderr.String())
	}
	return out
}

// readmeBlock returns the fenced code block that follows <!-- e2e:NAME --> in README.md.
func readmeBlock(t testing.TB, name string) string {
	t.Helper()
	data := mustRead(t, repoRoot(t)+"/README.md")
	marker := "<!-- e2e:" + name + " -->"
	i := strings.Index(data, marker)
	if i < 0 {
		t.Fatalf("README.md has no %s", marker)
	}
	rest := data[i+len(marker):]
	start := strings.Index(rest, "```")
	if start < 0 {
		t.Fatalf("no code block after %s", marker)
	}
	rest = rest[start+3:]
	rest = rest[strings.Index(rest, "\n")+1:]
	end := strings.Index(rest, "```")
	if end < 0 {
		t.Fatalf("unterminated code block after %s", marker)
	}
	return rest[:end]
}

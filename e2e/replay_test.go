//go:build e2e

package e2e

import (
	"bufio"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/webcamhub/webcamhub/contract"
)

// Records a live session with gaps between its frames, then replays it with
// exactly the README's nats CLI commands: every replayed frame gets the same
// labels as it got live, in the same order, at the recorded pace.
func TestRecordAndReplayWithTheREADMECommands(t *testing.T) {
	hub := startHub(t, hubOptions{extraEnv: []string{"HUB_RECORD=true"}})
	startWorker(t, hub.nats, "worker-replay")
	hub.waitFor(t, "/readyz?workers=1")

	images := []string{"cat.bmp", "parrot.jpg", "grace_hopper.bmp", "bird.bmp", "sunflower.bmp", "dragonfly.bmp", "cat_720p.jpg", "parrot.jpg"}
	const gap = 300 * time.Millisecond
	c := dialHub(t, hub.base, "")
	session := c.Welcome()
	live := make([]string, len(images))
	start := time.Now()
	var recorded time.Duration
	for i, img := range images {
		if i > 0 {
			time.Sleep(gap)
		}
		recorded = time.Since(start)
		c.SendFrame(readImage(t, img))
		m := c.Next()
		if m.Type != contract.TypeResult || m.Seq != int64(i+1) {
			t.Fatalf("live frame %d: %+v", i+1, m)
		}
		live[i] = labels(m)
	}

	modelName, modelVersion := servedModel(t, hub.base)
	vars := map[string]string{"NATS_URL": hub.nats.url, "NATS_NKEY": hub.nats.cliSeed, "SESSION": session, "NAME": "e2e" + strconv.FormatInt(time.Now().UnixNano()%1e6, 10),
		"MODEL_NAME": modelName, "MODEL_VERSION": modelVersion}

	listing := string(runREADMECommand(t, "list-sessions", vars))
	if !strings.Contains(listing, contract.RecordedFrameStoredSubject(session)) || !strings.Contains(listing, strconv.Itoa(len(images))) {
		t.Fatalf("list-sessions does not show %s with %d frames:\n%s", session, len(images), listing)
	}

	watch := startREADMECommand(t, "watch-replay", vars)
	lines := watch.lines()
	waitUntilSubscribed(t, hub.nats, contract.ResultSubject(contract.KindReplay, vars["NAME"]), lines)

	runREADMECommand(t, "replay-session", vars)
	var first, last time.Time
	for i := 0; i < len(images); {
		select {
		case line := <-lines:
			var m message
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("replayed result %d: %q: %v", i+1, line, err)
			}
			if m.Type == "probe" {
				continue
			}
			if m.Type != contract.TypeResult || m.Seq != int64(i+1) || m.Session != session {
				t.Fatalf("replayed result %d: %+v", i+1, m)
			}
			if got := labels(m); got != live[i] {
				t.Fatalf("frame %d: replay labels %q, live labels %q", i+1, got, live[i])
			}
			if i == 0 {
				first = time.Now()
			}
			last = time.Now()
			i++
		case <-time.After(answerWait):
			t.Fatalf("replay: only %d of %d results arrived", i, len(images))
		}
	}
	// Original pacing: the replay spreads over about the recording's span
	// (minus the first frame's classification); an instant replay would
	// take a few hundred ms at most.
	if replayed := last.Sub(first); replayed < recorded*6/10 {
		t.Fatalf("replay took %v for a recording of %v: not at the original pace", replayed, recorded)
	}
}

// labels is the top-3 of a result, in order, as one string.
func labels(m message) string {
	var b strings.Builder
	for _, p := range m.Predictions {
		b.WriteString(p.Label + "|")
	}
	return b.String()
}

// bgCommand is a README block left running in the background.
type bgCommand struct {
	cmd *exec.Cmd
	out chan string
}

func startREADMECommand(t *testing.T, name string, vars map[string]string) *bgCommand {
	t.Helper()
	script := readmeBlock(t, name)
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", "exec "+strings.TrimSpace(script))
	cmd.Dir = repoRoot(t)
	cmd.Env = append(cmd.Environ(), "PATH="+repoRoot(t)+"/.bin:"+envOr("PATH", ""))
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b := &bgCommand{cmd: cmd, out: make(chan string, 1000)}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if line := strings.TrimSpace(sc.Text()); line != "" {
				b.out <- line
			}
		}
		close(b.out)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return b
}

func (b *bgCommand) lines() <-chan string { return b.out }

// waitUntilSubscribed publishes probes on subject until one comes out of
// lines, so that nothing published after it can be missed.
func waitUntilSubscribed(t *testing.T, bus natsEndpoint, subject string, lines <-chan string) {
	t.Helper()
	// Only a worker may publish results: the probes go out with its key.
	nc := bus.connectAsWorker(t)
	deadline := time.Now().Add(startupWait)
	for time.Now().Before(deadline) {
		_ = nc.Publish(subject, []byte(`{"type":"probe"}`))
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatal("the subscriber exited")
			}
			if strings.Contains(line, "probe") {
				return
			}
			t.Fatalf("unexpected line before the replay: %q", line)
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.Fatal("the subscriber never received a probe")
}

// A store with history: a run with recording on, then one with it off on
// the same store. The second run's frames are not written to disk (the
// store grows by far less than them), what was recorded stays listed for
// replay, and the hub says so in one log line.
func TestRecordingOffWritesNoFramesOnAStoreWithHistory(t *testing.T) {
	store := t.TempDir()
	images := []string{"cat.bmp", "parrot.jpg", "grace_hopper.bmp", "bird.bmp", "sunflower.bmp"}
	run := func(env ...string) (session string, sent int64, hub *hubProc) {
		hub = startHub(t, hubOptions{storeDir: store, extraEnv: env})
		worker := startWorker(t, hub.nats, "worker-history")
		hub.waitFor(t, "/readyz?workers=1")
		c := dialHub(t, hub.base, "")
		session = c.Welcome()
		for i, img := range images {
			data := readImage(t, img)
			c.SendFrame(data)
			if m := c.Next(); m.Type != contract.TypeResult || m.Seq != int64(i+1) {
				t.Fatalf("frame %d: %+v", i+1, m)
			}
			sent += int64(len(data))
		}
		_ = c.Conn.Close()
		if err := worker.stop(syscall.SIGTERM); err != nil {
			t.Fatalf("worker exit: %v", err)
		}
		if err := hub.stop(syscall.SIGTERM); err != nil {
			t.Fatalf("hub exit: %v", err)
		}
		return session, sent, hub
	}

	recorded, _, _ := run("HUB_RECORD=true")
	before := dirBytes(t, filepath.Join(store, "jetstream"))
	_, sent, hub := run()
	grown := dirBytes(t, filepath.Join(store, "jetstream")) - before
	t.Logf("recording off: %d bytes of frames sent, the store grew by %d bytes", sent, grown)
	if grown*2 >= sent {
		t.Fatalf("recording off: the store grew by %d bytes while %d bytes of frames were sent", grown, sent)
	}
	logs, err := os.ReadFile(hub.log)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(logs), "earlier recordings kept") {
		t.Fatalf("no log line about the kept recordings:\n%s", logs)
	}

	// The recording is still there for the README's commands.
	hub = startHub(t, hubOptions{storeDir: store})
	vars := map[string]string{"NATS_URL": hub.nats.url, "NATS_NKEY": hub.nats.cliSeed}
	if listing := string(runREADMECommand(t, "list-sessions", vars)); !strings.Contains(listing, contract.RecordedFrameStoredSubject(recorded)) {
		t.Fatalf("list-sessions does not show the recorded session %s:\n%s", recorded, listing)
	}
}

// dirBytes is the size of the files under dir.
func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		n += info.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// connectAsWorker connects to bus with a worker's key (the hub's embedded
// NATS); the connection closes when the test ends.
func (bus natsEndpoint) connectAsWorker(t testing.TB) *nats.Conn {
	t.Helper()
	login, err := nats.NkeyOptionFromSeed(bus.workerSeed)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(bus.url, login)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

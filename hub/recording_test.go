package hub

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/webcamhub/webcamhub/contract"
	"github.com/webcamhub/webcamhub/hub/internal/embeddednats"
	"github.com/webcamhub/webcamhub/internal/testkit"
	"github.com/webcamhub/webcamhub/internal/testkit/testworker"
)

func TestRecordingKeepsFramesAndResultsWithoutAnsweringFrames(t *testing.T) {
	ns := startNATS(t, 0)
	startWorker(t, ns.ClientURL(), testworker.Options{})
	_, base := startHub(t, ns.ClientURL(), func(c *Config) {
		c.Record = true
		c.RecordMaxAge = time.Hour
		c.RecordMaxBytes = 64 << 20
	})
	js, err := jetstream.New(testkit.ConnectNATS(t, ns.ClientURL()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// FRAMES listens only on the hub's copies, never where frames are requested.
	for name, subject := range map[string]string{"FRAMES": contract.RecordingFrameSubject(">"), "RESULTS": contract.ResultsWildcard} {
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		cfg := s.CachedInfo().Config
		if len(cfg.Subjects) != 1 || cfg.Subjects[0] != subject || !cfg.NoAck || cfg.MaxAge != time.Hour || cfg.MaxBytes != 64<<20 {
			t.Fatalf("stream %s config: subjects %v no_ack %v max_age %v max_bytes %d", name, cfg.Subjects, cfg.NoAck, cfg.MaxAge, cfg.MaxBytes)
		}
	}

	c := dial(t, base, "", nil)
	welcome := c.Next()
	if welcome.Type != contract.TypeWelcome || !welcome.Recording {
		t.Fatalf("welcome with recording on: %+v", welcome)
	}
	for seq := int64(1); seq <= 3; seq++ {
		c.SendFrame(fakeJPEG)
		// The worker's result, not a JetStream PubAck, answers the frame.
		if m := c.Next(); m.Type != contract.TypeResult || m.Seq != seq {
			t.Fatalf("frame %d with recording on: %+v", seq, m)
		}
	}
	// Stored under frames.live.<session>, the subject a replay filters on.
	waitFor(t, "3 recorded frames and 3 results", func() bool {
		return streamMsgs(t, js, framesStream, contract.FrameSubject(contract.KindLive, welcome.Session)) == 3 &&
			streamMsgs(t, js, resultsStream, "") == 3
	})
}

// With recording on and no worker, a frame still finds no responders:
// it is answered "unavailable" at once, not left to time out.
func TestRecordingLeavesFramesWithoutResponders(t *testing.T) {
	ns := startNATS(t, 0)
	_, base := startHub(t, ns.ClientURL(), func(c *Config) {
		c.Record, c.RecordMaxAge, c.RecordMaxBytes = true, time.Hour, 64<<20
		c.FrameTimeout = time.Minute // a timeout would not come within the test's wait
	})
	c := dial(t, base, "", nil)
	c.Welcome()
	c.SendFrame(fakeJPEG)
	if m := c.Next(); m.Type != contract.TypeError || m.Code != contract.CodeUnavailable {
		t.Fatalf("a frame with recording on and no worker: %+v, want %s", m, contract.CodeUnavailable)
	}
}

// A store with history (a run with recording on), then runs with it off on
// the same store: nothing captures frames or results any more, what was
// recorded is kept (one log line says so) until HUB_RECORD_DELETE_OLD.
func TestRecordingOffCapturesNothingOnAStoreWithHistory(t *testing.T) {
	store := t.TempDir()
	addr := "127.0.0.1:" + strconv.Itoa(testkit.FreePort(t))
	url := "nats://" + addr
	hubConn := func() *nats.Conn { // as the hub's role: the streams, results.live.*
		t.Helper()
		nc, err := testkit.ConnectRole(t, url, embeddednats.SeedFile(store, roleHub), nats.CustomInboxPrefix(hubInboxPrefix))
		if err != nil {
			t.Fatal(err)
		}
		return nc.Conn
	}
	run := func(tweak func(*Config), frames int) (*Hub, *testkit.LogBuffer, string) {
		t.Helper()
		var logs testkit.LogBuffer
		var record bool
		h, base := startHubLogging(t, "", func(c *Config) {
			c.NATSEmbedAddr, c.NATSStoreDir, c.RecordMaxAge, c.RecordMaxBytes = addr, store, time.Hour, 64<<20
			tweak(c)
			record = c.Record
		}, slog.New(slog.NewTextHandler(&logs, nil)))
		worker := startRoleWorker(t, url, embeddednats.SeedFile(store, roleWorker))
		c := dial(t, base, "", nil)
		welcome := c.Next()
		if welcome.Recording != record {
			t.Fatalf("welcome says recording %v, the hub records %v", welcome.Recording, record)
		}
		published, err := hubConn().SubscribeSync(contract.ResultSubject(contract.KindLive, welcome.Session))
		if err != nil {
			t.Fatal(err)
		}
		// The server has the subscription before the first frame: a SUB is
		// sent asynchronously, and a session with no frame ends at once.
		if err := hubConn().Flush(); err != nil {
			t.Fatal(err)
		}
		for seq := int64(1); seq <= int64(frames); seq++ {
			c.SendFrame(fakeJPEG)
			if m := c.Next(); m.Type != contract.TypeResult || m.Seq != seq {
				t.Fatalf("frame %d: %+v", seq, m)
			}
		}
		_ = c.Conn.Close() // the session ends: "ended" on its results subject
		// Every result and the end went through NATS (and past any stream).
		for range frames + 1 {
			if _, err := published.NextMsg(testWait); err != nil {
				t.Fatalf("the session's results and end: %v", err)
			}
		}
		worker.Close()
		return h, &logs, welcome.Session
	}
	streams := func() jetstream.JetStream {
		t.Helper()
		js, err := jetstream.New(hubConn())
		if err != nil {
			t.Fatal(err)
		}
		return js
	}

	h, _, recorded := run(func(c *Config) { c.Record = true }, 3)
	js := streams()
	waitFor(t, "3 recorded frames, their results and the session's end", func() bool {
		return streamMsgs(t, js, framesStream, contract.FrameSubject(contract.KindLive, recorded)) == 3 && streamMsgs(t, js, resultsStream, "") == 4
	})
	before := map[string]jetstream.StreamState{}
	for _, name := range recordingStreams {
		before[name] = streamState(t, js, name)
	}
	_ = h.Close()

	h, logs, _ := run(func(c *Config) {}, 5)
	js = streams()
	for _, name := range recordingStreams {
		s, err := js.Stream(context.Background(), name)
		if err != nil {
			t.Fatalf("recording off: stream %s of the earlier run: %v", name, err)
		}
		if subjects := s.CachedInfo().Config.Subjects; len(subjects) != 1 || subjects[0] != name {
			t.Errorf("recording off: stream %s captures %v", name, subjects)
		}
		if got := streamState(t, js, name); got.Msgs != before[name].Msgs || got.Bytes != before[name].Bytes {
			t.Errorf("recording off: stream %s went from %d messages (%d bytes) to %d (%d bytes)", name, before[name].Msgs, before[name].Bytes, got.Msgs, got.Bytes)
		}
	}
	if line := logLine(logs.String(), "earlier recordings kept"); !strings.Contains(line, "FRAMES.msgs=3") || !strings.Contains(line, "FRAMES.bytes=") {
		t.Errorf("no line saying what was kept:\n%s", logs.String())
	}
	_ = h.Close()

	h, logs, _ = run(func(c *Config) { c.RecordDeleteOld = true }, 0)
	defer h.Close()
	js = streams()
	for _, name := range recordingStreams {
		if _, err := js.Stream(context.Background(), name); !errors.Is(err, jetstream.ErrStreamNotFound) {
			t.Errorf("HUB_RECORD_DELETE_OLD: stream %s: %v", name, err)
		}
	}
	if line := logLine(logs.String(), "deleted the recordings of earlier runs"); !strings.Contains(line, "FRAMES.msgs=3") {
		t.Errorf("no line saying what was deleted:\n%s", logs.String())
	}
}

// The streams of a hub from before recording had its own subjects listened
// on frames.live.>, so a frame always had a responder: a hub with
// recording off makes them capture nothing, and frames find no responders.
func TestRecordingOffStopsTheStreamsOfOlderHubs(t *testing.T) {
	ns := startNATS(t, 0)
	js, err := jetstream.New(testkit.ConnectNATS(t, ns.ClientURL()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for name, subject := range map[string]string{framesStream: contract.FrameSubject(contract.KindLive, ">"), resultsStream: contract.ResultsWildcard} {
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{subject}, NoAck: true, MaxAge: time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	_, base := startHub(t, ns.ClientURL(), func(c *Config) { c.FrameTimeout = time.Minute })
	for _, name := range recordingStreams {
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if cfg := s.CachedInfo().Config; len(cfg.Subjects) != 1 || cfg.Subjects[0] != name || cfg.MaxAge != time.Hour {
			t.Errorf("stream %s: subjects %v, max age %v: want only its name, and its age bound kept", name, cfg.Subjects, cfg.MaxAge)
		}
	}
	c := dial(t, base, "", nil)
	c.Welcome()
	c.SendFrame(fakeJPEG)
	if m := c.Next(); m.Type != contract.TypeError || m.Code != contract.CodeUnavailable {
		t.Fatalf("a frame with no worker: %+v, want %s", m, contract.CodeUnavailable)
	}
	if n := streamMsgs(t, js, framesStream, ""); n != 0 {
		t.Fatalf("FRAMES captured %d frames with recording off", n)
	}
}

// streamMsgs counts the messages of a stream (on subject, when given).
func streamMsgs(t testing.TB, js jetstream.JetStream, name, subject string) uint64 {
	t.Helper()
	s, err := js.Stream(context.Background(), name)
	if err != nil {
		return 0
	}
	var opts []jetstream.StreamInfoOpt
	if subject != "" {
		opts = append(opts, jetstream.WithSubjectFilter(subject))
	}
	info, err := s.Info(context.Background(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	if subject != "" {
		return info.State.Subjects[subject]
	}
	return info.State.Msgs
}

func streamState(t testing.TB, js jetstream.JetStream, name string) jetstream.StreamState {
	t.Helper()
	s, err := js.Stream(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State
}

// logLine is the first line of logs that contains msg.
func logLine(logs, msg string) string {
	for line := range strings.Lines(logs) {
		if strings.Contains(line, msg) {
			return line
		}
	}
	return ""
}

func TestRecordingIsOffByDefault(t *testing.T) {
	ns := startNATS(t, 0)
	startHub(t, ns.ClientURL(), nil)
	js, err := jetstream.New(testkit.ConnectNATS(t, ns.ClientURL()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Stream(context.Background(), "FRAMES"); err == nil {
		t.Fatal("FRAMES exists though recording is off")
	}
}

// A recording hub started before its NATS is there keeps running (retrying)
// and makes the streams once NATS is up.
func TestRecordingStreamsAreMadeWhenNATSComesLater(t *testing.T) {
	port := testkit.FreePort(t)
	startHub(t, "nats://127.0.0.1:"+strconv.Itoa(port), func(c *Config) {
		c.Record, c.RecordMaxAge, c.RecordMaxBytes = true, time.Hour, 64<<20
	})
	ns := startNATS(t, port)
	js, err := jetstream.New(testkit.ConnectNATS(t, ns.ClientURL()))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the FRAMES stream", func() bool {
		_, err := js.Stream(context.Background(), "FRAMES")
		return err == nil
	})
}

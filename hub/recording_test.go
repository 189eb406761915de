package hub

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/webcamhub/webcamhub/hub/contract"
	"github.com/webcamhub/webcamhub/hub/internal/testworker"
	"github.com/webcamhub/webcamhub/internal/testkit"
)

func TestRecordingKeepsFramesAndResultsWithoutAnsweringFrames(t *testing.T) {
	ns := startNATS(t, 0)
	startWorker(t, ns.ClientURL(), testworker.Options{})
	_, base := startHub(t, ns.ClientURL(), func(c *Config) {
		c.Record = true
		c.RecordMaxAge = time.Hour
		c.RecordMaxBytes = 64 << 20
	})
	js, err := jetstream.New(connect(t, ns.ClientURL()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for name, subject := range map[string]string{"FRAMES": contract.FrameSubject(contract.KindLive, ">"), "RESULTS": contract.ResultsWildcard} {
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
	session := c.Welcome()
	for seq := int64(1); seq <= 3; seq++ {
		c.SendFrame(fakeJPEG)
		// The worker's result, not a JetStream PubAck, answers the frame.
		if m := c.Next(); m.Type != contract.TypeResult || m.Seq != seq {
			t.Fatalf("frame %d with recording on: %+v", seq, m)
		}
	}
	waitFor(t, "3 recorded frames and 3 results", func() bool {
		frames, err1 := js.Stream(ctx, "FRAMES")
		results, err2 := js.Stream(ctx, "RESULTS")
		if err1 != nil || err2 != nil {
			return false
		}
		fi, err1 := frames.Info(ctx, jetstream.WithSubjectFilter(contract.FrameSubject(contract.KindLive, session)))
		ri, err2 := results.Info(ctx)
		return err1 == nil && err2 == nil && fi.State.Msgs == 3 && ri.State.Msgs == 3
	})
}

func TestRecordingIsOffByDefault(t *testing.T) {
	ns := startNATS(t, 0)
	startHub(t, ns.ClientURL(), nil)
	js, err := jetstream.New(connect(t, ns.ClientURL()))
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
	js, err := jetstream.New(connect(t, ns.ClientURL()))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the FRAMES stream", func() bool {
		_, err := js.Stream(context.Background(), "FRAMES")
		return err == nil
	})
}

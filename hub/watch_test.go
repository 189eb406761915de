package hub

import (
	"testing"

	"github.com/webcamhub/webcamhub/hub/internal/testworker"
)

func TestWatcherSeesTheWatchedSessionsResults(t *testing.T) {
	ns := startNATS(t, 0)
	startWorker(t, ns.ClientURL(), testworker.Options{})
	// Two hubs on one NATS: the watcher is on the other one.
	_, baseA := startHub(t, ns.ClientURL(), nil)
	_, baseB := startHub(t, ns.ClientURL(), nil)

	streamer := dial(t, baseA, "", nil)
	session := streamer.welcome()
	watcher := dial(t, baseB, "?watch="+session, nil)
	if m := watcher.next(); m.Type != "welcome" || m.Watching != session {
		t.Fatalf("watcher welcome = %+v", m)
	}
	for seq := int64(1); seq <= 3; seq++ {
		streamer.sendFrame(fakeJPEG)
		if m := streamer.next(); m.Type != "result" || m.Seq != seq {
			t.Fatalf("streamer got %+v", m)
		}
		if m := watcher.next(); m.Type != "result" || m.Seq != seq || m.Session != session {
			t.Fatalf("watcher got %+v, want result %d of %s", m, seq, session)
		}
	}
	// A watcher sends no frames.
	watcher.sendFrame(fakeJPEG)
	if m := watcher.next(); m.Type != "error" || m.Code != CodeBadRequest {
		t.Fatalf("frame from a watcher: %+v, want bad_request", m)
	}
	_ = streamer.conn.Close()
	if m := watcher.next(); m.Type != "ended" || m.Session != session {
		t.Fatalf("after the streamer left: %+v, want ended", m)
	}
}

func TestWatchingAnUnknownOrMalformedSessionIsAnError(t *testing.T) {
	ns := startNATS(t, 0)
	_, base := startHub(t, ns.ClientURL(), nil)
	for _, id := range []string{"AAAAAAAAAAAAAAAAAAAAAA", "not-an-id", "a.b.c"} {
		c := dial(t, base, "?watch="+id, nil)
		if m := c.next(); m.Type != "error" || m.Code != CodeUnknownSession {
			t.Fatalf("watch %q: %+v, want unknown_session", id, m)
		}
		if code := c.closeCode(); code != CloseUnknownSession {
			t.Fatalf("watch %q: close code %d, want %d", id, code, CloseUnknownSession)
		}
	}
}

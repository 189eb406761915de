package hub

import (
	"testing"

	"github.com/webcamhub/webcamhub/hub/contract"
	"github.com/webcamhub/webcamhub/hub/internal/testworker"
)

func TestWatcherSeesTheWatchedSessionsResults(t *testing.T) {
	ns := startNATS(t, 0)
	startWorker(t, ns.ClientURL(), testworker.Options{})
	// Two hubs on one NATS: the watcher is on the other one.
	_, baseA := startHub(t, ns.ClientURL(), nil)
	_, baseB := startHub(t, ns.ClientURL(), nil)

	streamer := dial(t, baseA, "", nil)
	session := streamer.Welcome()
	watcher := dial(t, baseB, "?watch="+session, nil)
	if m := watcher.Next(); m.Type != contract.TypeWelcome || m.Watching != session {
		t.Fatalf("watcher welcome = %+v", m)
	}
	for seq := int64(1); seq <= 3; seq++ {
		streamer.SendFrame(fakeJPEG)
		if m := streamer.Next(); m.Type != contract.TypeResult || m.Seq != seq {
			t.Fatalf("streamer got %+v", m)
		}
		if m := watcher.Next(); m.Type != contract.TypeResult || m.Seq != seq || m.Session != session {
			t.Fatalf("watcher got %+v, want result %d of %s", m, seq, session)
		}
	}
	// A watcher sends no frames.
	watcher.SendFrame(fakeJPEG)
	if m := watcher.Next(); m.Type != contract.TypeError || m.Code != contract.CodeBadRequest {
		t.Fatalf("frame from a watcher: %+v, want bad_request", m)
	}
	_ = streamer.Conn.Close()
	if m := watcher.Next(); m.Type != contract.TypeEnded || m.Session != session {
		t.Fatalf("after the streamer left: %+v, want ended", m)
	}
}

func TestWatchingAnUnknownOrMalformedSessionIsAnError(t *testing.T) {
	ns := startNATS(t, 0)
	_, base := startHub(t, ns.ClientURL(), nil)
	for _, id := range []string{"AAAAAAAAAAAAAAAAAAAAAA", "not-an-id", "a.b.c"} {
		c := dial(t, base, "?watch="+id, nil)
		if m := c.Next(); m.Type != contract.TypeError || m.Code != contract.CodeUnknownSession {
			t.Fatalf("watch %q: %+v, want unknown_session", id, m)
		}
		if code := c.CloseCode(); code != contract.CloseUnknownSession {
			t.Fatalf("watch %q: close code %d, want %d", id, code, contract.CloseUnknownSession)
		}
	}
}

// A tab that reconnects (another hub, or the same one after a restart) keeps
// its session id, so its watchers go on receiving its results; an id that is
// live elsewhere or malformed is not taken over.
func TestResumeKeepsTheSessionIdForWatchers(t *testing.T) {
	ns := startNATS(t, 0)
	startWorker(t, ns.ClientURL(), testworker.Options{})
	_, baseA := startHub(t, ns.ClientURL(), nil)
	_, baseB := startHub(t, ns.ClientURL(), nil)

	first := dial(t, baseA, "", nil)
	session := first.Welcome()
	watcher := dial(t, baseB, "?watch="+session, nil)
	watcher.Welcome()

	// While the session is live, nobody else can take its id.
	if other := dial(t, baseB, "?resume="+session, nil).Welcome(); other == session {
		t.Fatal("a second connection took over a live session's id")
	}
	if other := dial(t, baseB, "?resume=not-an-id", nil).Welcome(); other == "not-an-id" {
		t.Fatal("a malformed id was accepted")
	}

	_ = first.Conn.Close()
	if m := watcher.Next(); m.Type != contract.TypeEnded {
		t.Fatalf("watcher: %+v, want ended", m)
	}
	again := dial(t, baseB, "?resume="+session, nil)
	if got := again.Welcome(); got != session {
		t.Fatalf("resumed session id %q, want %q", got, session)
	}
	again.SendFrame(fakeJPEG)
	if m := again.Next(); m.Type != contract.TypeResult || m.Seq != 1 {
		t.Fatalf("resumed session: %+v, want result 1 (seq counts per connection)", m)
	}
	if m := watcher.Next(); m.Type != contract.TypeResult || m.Session != session {
		t.Fatalf("watcher after the resume: %+v", m)
	}
}

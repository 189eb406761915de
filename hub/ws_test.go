package hub

import (
	"github.com/prometheus/client_golang/prometheus/testutil"
	"net/http"
	"strings"
	"testing"

	"github.com/webcamhub/webcamhub/contract"
	"github.com/webcamhub/webcamhub/internal/testkit"
	"github.com/webcamhub/webcamhub/internal/testkit/testworker"
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
// its session id with its resume token, so its watchers go on receiving its
// results; an id that is live elsewhere or malformed is not taken over, and
// the id alone (what a watch link carries) or a wrong token resumes nothing.
func TestResumeKeepsTheSessionIdForWatchers(t *testing.T) {
	ns := startNATS(t, 0)
	startWorker(t, ns.ClientURL(), testworker.Options{})
	_, baseA := startHub(t, ns.ClientURL(), nil)
	_, baseB := startHub(t, ns.ClientURL(), nil)

	first := dial(t, baseA, "", testkit.ResumeHeader("")) // the page offers the subprotocol
	if got := first.Conn.Subprotocol(); got != contract.Subprotocol {
		t.Fatalf("selected subprotocol %q, want %q", got, contract.Subprotocol)
	}
	welcome := first.Next()
	session, token := welcome.Session, welcome.ResumeToken
	if len(token) < 22 || strings.Contains(token, session) {
		t.Fatalf("resume token %q: want at least 128 bits, not the session id", token)
	}
	watcher := dial(t, baseB, "?watch="+session, nil)
	if w := watcher.Next(); w.Type != contract.TypeWelcome || w.ResumeToken != "" {
		t.Fatalf("watcher welcome %+v: a watcher gets no resume token", w)
	}

	// While the session is live, nobody else can take its id, not even with the token.
	if other := dial(t, baseB, "?resume="+session, testkit.ResumeHeader(token)).Welcome(); other == session {
		t.Fatal("a second connection took over a live session's id")
	}
	if other := dial(t, baseB, "?resume=not-an-id", nil).Welcome(); other == "not-an-id" {
		t.Fatal("a malformed id was accepted")
	}

	_ = first.Conn.Close()
	if m := watcher.Next(); m.Type != contract.TypeEnded {
		t.Fatalf("watcher: %+v, want ended", m)
	}
	// The id alone, or with a made-up token, gets a fresh session.
	for name, header := range map[string]http.Header{"no token": nil, "wrong token": testkit.ResumeHeader(strings.Repeat("A", 43))} {
		if got := dial(t, baseB, "?resume="+session, header).Welcome(); got == session {
			t.Fatalf("resume with %s took over the session", name)
		}
	}
	again := dial(t, baseB, "?resume="+session, testkit.ResumeHeader(token))
	resumed := again.Next()
	if resumed.Session != session {
		t.Fatalf("resumed session id %q, want %q", resumed.Session, session)
	}
	if resumed.ResumeToken == "" || resumed.ResumeToken == token {
		t.Fatalf("a resumed session gets a new token, got %q", resumed.ResumeToken)
	}
	again.SendFrame(fakeJPEG)
	if m := again.Next(); m.Type != contract.TypeResult || m.Seq != 1 {
		t.Fatalf("resumed session: %+v, want result 1 (seq counts per connection)", m)
	}
	if m := watcher.Next(); m.Type != contract.TypeResult || m.Session != session {
		t.Fatalf("watcher after the resume: %+v", m)
	}
	// The old token is spent.
	_ = again.Conn.Close()
	if m := watcher.Next(); m.Type != contract.TypeEnded {
		t.Fatalf("watcher: %+v, want ended", m)
	}
	if got := dial(t, baseA, "?resume="+session, testkit.ResumeHeader(token)).Welcome(); got == session {
		t.Fatal("an old token resumed the session")
	}
}

// Watchers get only results, errors and the end of the session they watch:
// anything else published on its results subject is dropped and counted.
func TestWatchersIgnoreWhatIsNotAResultErrorOrEnded(t *testing.T) {
	ns := startNATS(t, 0)
	startWorker(t, ns.ClientURL(), testworker.Options{})
	h, base := startHub(t, ns.ClientURL(), nil)
	streamer := dial(t, base, "", nil)
	session := streamer.Welcome()
	watcher := dial(t, base, "?watch="+session, nil)
	watcher.Welcome()
	nc := testkit.ConnectNATS(t, ns.ClientURL())
	subject := contract.ResultSubject(contract.KindLive, session)
	for _, forged := range []string{
		`<script>alert(1)</script>`,
		`{"type":"welcome","session":"` + session + `"}`,
		`{"type":"ended","session":"someone-else"}`,
		`{"type":"result","seq":1,"session":"` + session + `"}`,
		`{"type":"result","seq":1,"session":"another","predictions":[{"label":"x","index":1,"confidence":1}]}`,
	} {
		if err := nc.Publish(subject, []byte(forged)); err != nil {
			t.Fatal(err)
		}
	}
	_ = nc.Flush()
	waitFor(t, "5 forged messages discarded", func() bool { return testutil.ToFloat64(h.Metrics().WatchedDiscarded) == 5 })
	streamer.SendFrame(fakeJPEG)
	streamer.Next()
	if m := watcher.Next(); m.Type != contract.TypeResult || m.Seq != 1 || m.Session != session {
		t.Fatalf("watcher got %+v, want the real result first", m)
	}
}

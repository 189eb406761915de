package hub

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/webcamhub/webcamhub/contract"
	"github.com/webcamhub/webcamhub/internal/testkit/testworker"
)

// NATS goes away: the session stays open and frames are answered
// "unavailable"; NATS comes back on the same address: results flow again
// without the client reconnecting.
func TestNATSOutageAnswersUnavailableThenRecovers(t *testing.T) {
	ns := startNATS(t, 0)
	url := ns.ClientURL()
	port := ns.Addr().(interface{ String() string }).String()
	startWorker(t, url, testworker.Options{})
	h, base := startHub(t, url, nil)

	c := dial(t, base, "", nil)
	c.Welcome()
	c.SendFrame(fakeJPEG)
	if m := c.Next(); m.Type != contract.TypeResult {
		t.Fatalf("before the outage: %+v", m)
	}

	ns.Shutdown()
	ns.WaitForShutdown()
	// A frame sent before the hub notices the loss would be answered
	// "timeout"; the contract under test is what happens once it knows.
	waitFor(t, "the hub to notice NATS is gone", func() bool { return !h.broker.Connected() })
	c.SendFrame(fakeJPEG)
	if m := c.Next(); m.Type != contract.TypeError || m.Code != contract.CodeUnavailable || m.Seq != 2 {
		t.Fatalf("during the outage: %+v, want unavailable for seq 2", m)
	}

	p, err := strconv.Atoi(port[strings.LastIndex(port, ":")+1:])
	if err != nil {
		t.Fatal(err)
	}
	startNATS(t, p)
	deadline := time.Now().Add(testWait)
	for seq := int64(3); ; seq++ {
		c.SendFrame(fakeJPEG)
		m := c.Next()
		if m.Seq != seq {
			t.Fatalf("answer %+v, want seq %d", m, seq)
		}
		if m.Type == contract.TypeResult {
			break
		}
		if m.Code != contract.CodeUnavailable && m.Code != contract.CodeTimeout {
			t.Fatalf("while recovering: %+v", m)
		}
		if time.Now().After(deadline) {
			t.Fatal("no result after NATS came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestNoWorkerAnswersUnavailable(t *testing.T) {
	ns := startNATS(t, 0)
	_, base := startHub(t, ns.ClientURL(), nil)

	c := dial(t, base, "", nil)
	c.Welcome()
	c.SendFrame(fakeJPEG)
	if m := c.Next(); m.Type != contract.TypeError || m.Code != contract.CodeUnavailable {
		t.Fatalf("got %+v, want unavailable", m)
	}
}

func TestCloseEndsSessionsWithGoingAwayAndIsSafeTwice(t *testing.T) {
	ns := startNATS(t, 0)
	startWorker(t, ns.ClientURL(), testworker.Options{})
	h, base := startHub(t, ns.ClientURL(), nil)

	c := dial(t, base, "", nil)
	c.Welcome()
	done := make(chan error, 1)
	go func() { done <- h.Close() }()
	if code := c.CloseCode(); code != contract.CloseGoingAway {
		t.Fatalf("close code %d, want %d", code, contract.CloseGoingAway)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := tryDial(base, "", nil); err == nil {
		t.Fatal("a closed hub took a new session")
	}
}

package hub

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	fws "github.com/fasthttp/websocket"

	"github.com/webcamhub/webcamhub/contract"
	"github.com/webcamhub/webcamhub/internal/testkit/testworker"
)

// Every frame message takes a seq and is answered with it, whatever is
// wrong with it, so the client's count and the hub's stay the same.
func TestEveryFrameMessageTakesASeqAndIsAnsweredWithIt(t *testing.T) {
	ns := startNATS(t, 0)
	startWorker(t, ns.ClientURL(), testworker.Options{})
	h, base := startHub(t, ns.ClientURL(), func(c *Config) { c.MaxFrameBytes = 20_000 })

	c := dial(t, base, "", nil)
	c.Welcome()
	c.SendFrame(fakeJPEG)
	if m := c.Next(); m.Type != contract.TypeResult || m.Seq != 1 {
		t.Fatalf("got %+v, want result 1", m)
	}
	big := base64.StdEncoding.EncodeToString(append(fakeJPEG, fakeJPEG...))
	for i, bad := range []struct{ message, code string }{
		{`{"type":"frame","image":"%%% not base64 %%%"}`, contract.CodeBadRequest},
		{`{"type":"frame","image":""}`, contract.CodeBadImage},
		{`{"type":"frame","image":42}`, contract.CodeBadRequest},
		{`{"type":"frame"}`, contract.CodeBadRequest},
		{`{"type":"frame","image":"` + big + `"}`, contract.CodeTooLarge},
		{`{"type":"frame","image":"` + base64.StdEncoding.EncodeToString([]byte("not an image")) + `"}`, contract.CodeBadImage},
	} {
		c.SendText(bad.message)
		want := int64(i + 2)
		if m := c.Next(); m.Type != contract.TypeError || m.Seq != want || m.Code != bad.code {
			t.Fatalf("%.60s: got %+v, want %s for seq %d", bad.message, m, bad.code, want)
		}
	}
	c.SendFrame(fakeJPEG)
	if m := c.Next(); m.Type != contract.TypeResult || m.Seq != 8 {
		t.Fatalf("got %+v, want result 8", m)
	}
	if n := testutil.ToFloat64(h.Metrics().FramesReceived); n != 8 {
		t.Fatalf("frames received %v, want 8", n)
	}
}

// A pong is valid UTF-8 JSON whatever the ping's id held, and echoes only
// short ids.
func TestPongEchoesOnlyABoundedValidID(t *testing.T) {
	ns := startNATS(t, 0)
	_, base := startHub(t, ns.ClientURL(), nil)

	c := dial(t, base, "", nil)
	c.Welcome()
	raw := func() []byte {
		_ = c.Conn.SetReadDeadline(time.Now().Add(testWait))
		_, data, err := c.Conn.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	c.SendText("{\"type\":\"ping\",\"id\":\"a\xff\xfeb\"}") // invalid UTF-8 inside the string
	data := raw()
	var pong struct {
		Type string `json:"type"`
		ID   any    `json:"id"`
	}
	if err := json.Unmarshal(data, &pong); err != nil || !utf8.Valid(data) || pong.Type != contract.TypePong || pong.ID != "a\uFFFD\uFFFDb" {
		t.Fatalf("pong %q (%v): want valid UTF-8 with the id's bad bytes replaced", data, err)
	}
	c.SendText(`{"type":"ping","id":7}`)
	if data := raw(); !strings.Contains(string(data), `"id":7`) {
		t.Fatalf("pong %s, want id 7", data)
	}
	for _, bad := range []string{`{"type":"ping","id":"` + strings.Repeat("x", maxPingIDBytes+1) + `"}`, `{"type":"ping","id":{"a":[1,2]}}`, `{"type":"ping","id":[1]}`} {
		c.SendText(bad)
		if m := c.Next(); m.Type != contract.TypeError || m.Code != contract.CodeBadRequest {
			t.Fatalf("%.40s: got %+v, want bad_request", bad, m)
		}
	}
}

// A paced ping flood is answered rate_limited and, when it goes on, closed
// with a typed code; a client that answers pings at its rate is not.
func TestPacedPingFloodIsRateLimitedThenClosed(t *testing.T) {
	ns := startNATS(t, 0)
	_, base := startHub(t, ns.ClientURL(), func(c *Config) { c.ControlRate = 20 })

	c := dial(t, base, "", nil)
	c.Welcome()
	answers := map[string]int{}
	closed := make(chan int, 1)
	go func() {
		for {
			m, err := c.Read(testWait)
			var ce *fws.CloseError
			if errors.As(err, &ce) {
				closed <- ce.Code
				return
			}
			if err != nil {
				closed <- 0
				return
			}
			answers[m.Type+m.Code]++
		}
	}()
	const pings = 5000 // at 200 a second, ten times the rate
	sent := 0
	for ; sent < pings; sent++ {
		if c.Conn.WriteMessage(fws.TextMessage, []byte(`{"type":"ping","id":1}`)) != nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if code := <-closed; code != contract.CloseRateLimited {
		t.Fatalf("after %d paced pings: closed with %d, want %d", sent, code, contract.CloseRateLimited)
	}
	if answers[contract.TypePong] == 0 || answers[contract.TypeError+contract.CodeRateLimited] == 0 {
		t.Fatalf("answers %v: want pongs, then rate_limited, then the close", answers)
	}
}

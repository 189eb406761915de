package hub

import (
	"context"
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/webcamhub/webcamhub/contract"
)

// FuzzControl feeds arbitrary text messages to a session's control handling
// (no network: the session's queue is read directly, workers answer
// "unavailable"). It must never panic; everything it queues for the client
// is valid UTF-8 JSON; a message that is a JSON object of type frame takes
// exactly one seq, anything else none.
func FuzzControl(f *testing.F) {
	for _, seed := range []string{
		`{"type":"ping","id":7}`, `{"type":"ping","id":"a\u00ff"}`, "{\"type\":\"ping\",\"id\":\"\xff\xfe\"}",
		`{"type":"ping","id":{"deep":[1,2,3]}}`, `{"type":"options","topK":5}`, `{"type":"options","topK":"5"}`,
		`{"type":"frame","image":"/9j/4AAQ"}`, `{"type":"frame","image":"%%%"}`, `{"type":"frame","image":null}`,
		`{"type":"frame"}`, `{"type":"teleport"}`, `{not json`, `[]`, `null`, `""`, `{"type":"frame","type":"ping"}`,
	} {
		f.Add([]byte(seed))
	}
	cfg := Defaults()
	cfg.MaxFrameBytes = 4096
	h := &Hub{cfg: cfg, log: testLogger(f), metrics: NewMetrics(), tracer: tracer()}
	h.dispatch = newDispatcher(noWorkers{}, cfg.DispatchWait, h.tracer, h.metrics)
	f.Fuzz(func(t *testing.T, data []byte) {
		s := newSession(h, nil, "fuzz", "")
		s.control(data)
		s.frames.stop()
		var m struct {
			Type string `json:"type"`
		}
		isFrame := json.Unmarshal(data, &m) == nil && m.Type == contract.TypeFrame
		if want := map[bool]int64{true: 1, false: 0}[isFrame]; s.seq != want {
			t.Fatalf("%q took %d seqs, want %d", data, s.seq, want)
		}
		for len(s.send) > 0 {
			msg := <-s.send
			if !utf8.Valid(msg) || !json.Valid(msg) {
				t.Fatalf("%q was answered with %q: not valid UTF-8 JSON", data, msg)
			}
		}
	})
}

// noWorkers is a workerPool with no worker in it: every frame is answered
// unavailable.
type noWorkers struct{}

func (noWorkers) Request(context.Context, FrameRequest) ([]byte, error) { return nil, ErrUnavailable }
func (noWorkers) PingWorkers(context.Context) error                     { return ErrUnavailable }

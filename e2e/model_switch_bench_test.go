//go:build e2e

package e2e

import (
	"encoding/json"
	"testing"
	"time"

	fws "github.com/fasthttp/websocket"

	"github.com/webcamhub/webcamhub/contract"
	"github.com/webcamhub/webcamhub/internal/testkit"
)

const (
	// switchEvery: a session switches model once a second.
	switchEvery = time.Second
	// modelSwitches: enough switches for a p99 of a few dozen.
	modelSwitches = 24
)

// modelSwitch is what one options{model} of BenchmarkModelSwitch came to.
type modelSwitch struct {
	from, to    string
	sent        time.Time
	ack         time.Duration // to the model message; 0: none
	firstResult time.Duration // to the first result of the new model; 0: none before the next switch
	oldAfterAck int           // results of the old model after the model message
}

// BenchmarkModelSwitch: one session streaming the page's frames at 25 a
// second (up to the welcome's framesInFlight out) switches between models A
// and B, both served by one worker, every second: the time from sending
// options{model} to the hub's model message, and to the first result of the
// new model; and how many results of the old model came after the model
// message (at most framesInFlight: frames already at the worker).
func BenchmarkModelSwitch(b *testing.B) {
	frame := pageFrame(b)
	repo := modelRepository(b, map[string]string{"a": fastTFLiteModel(b), "b": smallTFLiteModel(b)})
	logMachine(b, "start")
	hub := startHub(b, hubOptions{extraEnv: loadGeneratorEnv("LOG_LEVEL=warn")})
	startRepositoryWorker(b, hub.nats, "bench-worker-ab", repo, "", "--log-level", "warning")
	waitModels(b, hub.base, map[string]bool{"a": true, "b": true})

	conn, _, err := fws.DefaultDialer.Dial(testkit.WebSocketURL(hub.base), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	welcome, err := readWelcome(conn)
	if err != nil {
		b.Fatalf("welcome: %v", err)
	}
	if err := chooseModel(conn, "a"); err != nil {
		b.Fatal(err)
	}
	type received struct {
		answer
		at time.Time
	}
	messages := make(chan received, 64)
	readErr := make(chan error, 1)
	go func() {
		for {
			_ = conn.SetReadDeadline(time.Now().Add(answerWait))
			_, data, err := conn.ReadMessage()
			if err != nil {
				readErr <- err
				return
			}
			var m answer
			if json.Unmarshal(data, &m) == nil {
				messages <- received{m, time.Now()}
			}
		}
	}()

	answers := map[string]int{}
	sentAt := map[int64]time.Time{}
	var seq int64
	switches := make([]modelSwitch, 0, modelSwitches) // never grown: current points into it
	var current *modelSwitch
	model := "a"
	frames := time.NewTicker(webcamPace)
	defer frames.Stop()
	switchTicker := time.NewTicker(switchEvery)
	defer switchTicker.Stop()
	stopAt := time.Now().Add(time.Duration(modelSwitches)*switchEvery + switchEvery/2)
	for len(sentAt) > 0 || time.Now().Before(stopAt) {
		select {
		case <-frames.C:
			if len(sentAt) >= welcome.FramesInFlight || !time.Now().Before(stopAt) {
				continue
			}
			if err := conn.WriteMessage(fws.BinaryMessage, frame); err != nil {
				b.Fatalf("frame: %v", err)
			}
			seq++
			sentAt[seq] = time.Now()
		case <-switchTicker.C:
			if len(switches) == modelSwitches {
				continue
			}
			to := map[string]string{"a": "b", "b": "a"}[model]
			options, _ := json.Marshal(map[string]string{"type": contract.TypeOptions, "model": to})
			switches = append(switches, modelSwitch{from: model, to: to, sent: time.Now()})
			current = &switches[len(switches)-1]
			model = to
			if err := conn.WriteMessage(fws.TextMessage, options); err != nil {
				b.Fatalf("options: %v", err)
			}
		case m := <-messages:
			switch {
			case m.Type == contract.TypeModel:
				if current == nil || current.ack != 0 || m.Model != current.to {
					b.Errorf("a model message for %q (version %d, requested %q) not answering the last switch %+v", m.Model, m.Version, m.Requested, current)
					continue
				}
				current.ack = m.at.Sub(current.sent)
			case m.Seq == 0:
				b.Errorf("a message answering no frame: %+v", m.message)
			default:
				if _, ok := sentAt[m.Seq]; !ok {
					continue
				}
				delete(sentAt, m.Seq)
				answers[m.kind()]++
				if m.Type != contract.TypeResult || current == nil || current.ack == 0 {
					continue
				}
				switch m.Model {
				case current.from:
					current.oldAfterAck++
				case current.to:
					if current.firstResult == 0 {
						current.firstResult = m.at.Sub(current.sent)
					}
				}
			}
		case err := <-readErr:
			b.Fatalf("reading: %v (answers %v, %d out)", err, answers, len(sentAt))
		}
	}

	var acks, firsts []time.Duration
	unacked, noResult, mostOld, totalOld := 0, 0, 0, 0
	for i, s := range switches {
		b.Logf("switch %d %s→%s: model message %.1f ms, first result of %s %.1f ms, results of %s after the model message %d",
			i+1, s.from, s.to, ms(s.ack), s.to, ms(s.firstResult), s.from, s.oldAfterAck)
		if s.ack == 0 {
			unacked++
		} else {
			acks = append(acks, s.ack)
		}
		if s.firstResult == 0 {
			noResult++
		} else {
			firsts = append(firsts, s.firstResult)
		}
		mostOld = max(mostOld, s.oldAfterAck)
		totalOld += s.oldAfterAck
	}
	b.Logf("%d switches, one every %v, frames at 25/s with up to %d out: to the model message %s; to the first result of the new model %s; results of the old model after the model message: at most %d in one switch, %d in all; answers %v; %d frames sent",
		len(switches), switchEvery, welcome.FramesInFlight, durationsMs(acks), durationsMs(firsts), mostOld, totalOld, answers, seq)
	logMachine(b, "end")
	if unacked > 0 {
		b.Errorf("%d of %d switches never got their model message", unacked, len(switches))
	}
	if noResult > 0 {
		b.Errorf("%d of %d switches had no result of the new model within %v", noResult, len(switches), switchEvery)
	}
	if mostOld > welcome.FramesInFlight {
		b.Errorf("up to %d results of the old model after a model message: more than the %d frames in flight", mostOld, welcome.FramesInFlight)
	}
	b.ReportMetric(ms(quantile(sortedDurations(acks), 0.5)), "ack-p50-ms")
	b.ReportMetric(ms(quantile(sortedDurations(acks), 0.99)), "ack-p99-ms")
	b.ReportMetric(ms(quantile(sortedDurations(firsts), 0.5)), "first-result-p50-ms")
	b.ReportMetric(ms(quantile(sortedDurations(firsts), 0.99)), "first-result-p99-ms")
	b.ReportMetric(float64(mostOld), "old-after-ack-max")
	b.ReportMetric(0, "ns/op")
}

//go:build e2e

package e2e

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// BenchmarkDispatchPaths: what the transport alone costs a frame, one frame
// in flight, 8 KB (a page frame), Go on both ends over a real nats-server:
// a core NATS request to a queue-group responder (what the hub does) against
// pull-based delivery through a JetStream work-queue stream (publish with
// ack, the worker fetches, answers on the reply subject in a header, acks).
// docs/dispatch.md weighs the options with these figures.
func BenchmarkDispatchPaths(b *testing.B) {
	url := startNATSServer(b).url
	hubConn, workerConn := connectNATS(b, url), connectNATS(b, url)
	frame := make([]byte, 8<<10)
	const frames = 2000
	answer := []byte(`{"type":"result"}`)

	// Core NATS request/reply through a queue group.
	sub, err := workerConn.QueueSubscribe("bench.frames.x", "inference", func(m *nats.Msg) { _ = m.Respond(answer) })
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe()
	_ = workerConn.Flush()
	core := timeFrames(b, frames, func() {
		if _, err := hubConn.Request("bench.frames.x", frame, answerWait); err != nil {
			b.Fatal(err)
		}
	})

	// JetStream work queue, pulled by the worker.
	ctx := context.Background()
	js, _ := jetstream.New(hubConn)
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "BENCHWQ", Subjects: []string{"bench.wq.>"},
		Retention: jetstream.WorkQueuePolicy, Storage: jetstream.MemoryStorage, MaxMsgs: 1000, Discard: jetstream.DiscardNew})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "workers", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		b.Fatal(err)
	}
	wjs, _ := jetstream.New(workerConn)
	wcons, err := wjs.Consumer(ctx, "BENCHWQ", "workers")
	if err != nil {
		b.Fatal(err)
	}
	consuming, err := wcons.Consume(func(m jetstream.Msg) {
		_ = workerConn.Publish(m.Headers().Get("Reply-To"), answer)
		_ = m.Ack()
	}, jetstream.PullMaxMessages(1))
	if err != nil {
		b.Fatal(err)
	}
	defer consuming.Stop()
	inbox := nats.NewInbox()
	replies, _ := hubConn.SubscribeSync(inbox)
	pulled := timeFrames(b, frames, func() {
		msg := nats.NewMsg("bench.wq.x")
		msg.Data = frame
		msg.Header.Set("Reply-To", inbox)
		if _, err := js.PublishMsg(ctx, msg); err != nil {
			b.Fatal(err)
		}
		if _, err := replies.NextMsg(answerWait); err != nil {
			b.Fatal(err)
		}
	})
	b.Logf("one 8 KB frame in flight, %d frames: core request p50 %.3f ms p99 %.3f ms; JetStream work queue p50 %.3f ms p99 %.3f ms", frames, core[0], core[1], pulled[0], pulled[1])
	b.ReportMetric(core[0], "core-p50-ms")
	b.ReportMetric(pulled[0], "jetstream-p50-ms")
	b.ReportMetric(0, "ns/op")
}

// connectNATS connects to url once the server listens (it may still be
// starting); closed at the end of the benchmark.
func connectNATS(b *testing.B, url string) *nats.Conn {
	deadline := time.Now().Add(startupWait)
	for {
		nc, err := nats.Connect(url)
		if err == nil {
			b.Cleanup(nc.Close)
			return nc
		}
		if time.Now().After(deadline) {
			b.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// timeFrames runs one frame n times after a warm-up; returns p50 and p99 in ms.
func timeFrames(b *testing.B, n int, one func()) [2]float64 {
	for range n / 10 {
		one()
	}
	lat := make([]time.Duration, 0, n)
	for range n {
		t0 := time.Now()
		one()
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	return [2]float64{ms(quantile(lat, 0.5)), ms(quantile(lat, 0.99))}
}

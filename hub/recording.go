package hub

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/webcamhub/webcamhub/hub/contract"
)

// Recording streams (docs/protocol.md, "Record and replay").
const (
	framesStream  = "FRAMES"
	resultsStream = "RESULTS"
	// jetStreamSetupTimeout bounds creating or updating the streams at
	// start: a JetStream API call on a healthy server takes milliseconds,
	// a cluster electing a leader can take a few seconds.
	jetStreamSetupTimeout = 10 * time.Second
)

// ensureRecordingStreams creates or updates FRAMES (live frames) and RESULTS
// (every result). NoAck keeps JetStream from answering the hub's frame
// requests with a PubAck; age and size bounds keep recording from filling
// the disk, oldest first.
func ensureRecordingStreams(nc *nats.Conn, cfg Config) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("recording: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), jetStreamSetupTimeout)
	defer cancel()
	for _, sc := range []jetstream.StreamConfig{
		{Name: framesStream, Subjects: []string{contract.FrameSubject(contract.KindLive, ">")}, Description: "live camera frames, for replay"},
		{Name: resultsStream, Subjects: []string{contract.ResultsWildcard}, Description: "results of every frame"},
	} {
		sc.NoAck = true
		sc.MaxAge = cfg.RecordMaxAge
		sc.MaxBytes = cfg.RecordMaxBytes
		sc.Storage = jetstream.FileStorage
		sc.Discard = jetstream.DiscardOld
		sc.Replicas = cfg.JSReplicas
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("recording: ensuring stream %s: %w", sc.Name, err)
		}
	}
	return nil
}

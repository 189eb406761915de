package hub

import (
	"context"
	"errors"
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
	// jetStreamSetupTry bounds one try within jetStreamSetupTimeout: a
	// fresh cluster may leave unanswered one of two hubs creating the same
	// stream at once; asking again gets the answer.
	jetStreamSetupTry = 3 * time.Second
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
		if err := ensureStream(ctx, js, sc); err != nil {
			return fmt.Errorf("recording: ensuring stream %s (%d replicas): %w", sc.Name, sc.Replicas, err)
		}
	}
	return nil
}

// ensureStream creates or updates sc, asking again after a try that got no
// answer in jetStreamSetupTry, until ctx ends.
func ensureStream(ctx context.Context, js jetstream.JetStream, sc jetstream.StreamConfig) error {
	for {
		try, cancel := context.WithTimeout(ctx, jetStreamSetupTry)
		_, err := js.CreateOrUpdateStream(try, sc)
		cancel()
		if err == nil || ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
	}
}

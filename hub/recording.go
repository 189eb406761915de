package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/webcamhub/webcamhub/contract"
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

var recordingStreams = []string{framesStream, resultsStream}

// recordingStreamConfigs are FRAMES and RESULTS while recording. FRAMES
// listens only on the hub's copies (recording.frames.>), never on frames.>
// where frames are requested: a stream there would be a responder to every
// frame, so NATS would never answer "no responders" and the hub would never
// shed. It stores them as frames.live.<session>, the subjects a replay
// filters on. NoAck keeps JetStream from answering anything; age and size
// bounds keep recording from filling the disk, oldest first.
func recordingStreamConfigs(cfg Config) []jetstream.StreamConfig {
	configs := []jetstream.StreamConfig{
		{Name: framesStream, Subjects: []string{contract.RecordingFrameSubject(">")}, Description: "live camera frames, for replay",
			SubjectTransform: &jetstream.SubjectTransformConfig{Source: contract.RecordingFrameSubject(">"), Destination: contract.FrameSubject(contract.KindLive, ">")}},
		{Name: resultsStream, Subjects: []string{contract.ResultsWildcard}, Description: "results of every frame"},
	}
	for i := range configs {
		sc := &configs[i]
		sc.NoAck = true
		sc.MaxAge = cfg.RecordMaxAge
		sc.MaxBytes = cfg.RecordMaxBytes
		sc.Storage = jetstream.FileStorage
		sc.Discard = jetstream.DiscardOld
		sc.Replicas = cfg.JSReplicas
	}
	return configs
}

// setUpRecording makes the recording streams capture what cfg says, and
// nothing when recording is off, whatever an earlier run left: a stream
// that is not recording keeps only its own name as subject (JetStream gives
// every stream one), which no role may publish to. What earlier runs
// recorded stays for replay, aging out under its bounds, unless
// cfg.RecordDeleteOld. One log line says what is kept or deleted.
func setUpRecording(nc *nats.Conn, cfg Config, log *slog.Logger) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("recording: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), jetStreamSetupTimeout)
	defer cancel()
	if cfg.RecordDeleteOld {
		if err := deleteRecordings(ctx, js, log); err != nil {
			return err
		}
	}
	if cfg.Record {
		for _, sc := range recordingStreamConfigs(cfg) {
			if err := ensureStream(ctx, js, sc); err != nil {
				return fmt.Errorf("recording: ensuring stream %s (%d replicas): %w", sc.Name, sc.Replicas, err)
			}
		}
		log.Info("recording frames and results", "max_age", cfg.RecordMaxAge, "max_bytes", cfg.RecordMaxBytes)
		return nil
	}
	return stopRecording(ctx, js, log)
}

// stopRecording turns the capture of the recording streams off, keeping
// what they hold.
func stopRecording(ctx context.Context, js jetstream.JetStream, log *slog.Logger) error {
	var kept []any
	for _, name := range recordingStreams {
		info, err := streamInfo(ctx, js, name)
		if err != nil {
			return fmt.Errorf("recording is off, but stream %s could not be checked: %w", name, err)
		}
		if info == nil {
			continue
		}
		sc := info.Config
		if !slices.Equal(sc.Subjects, []string{name}) || sc.SubjectTransform != nil {
			sc.Subjects, sc.SubjectTransform = []string{name}, nil
			if err := ensureStream(ctx, js, sc); err != nil {
				return fmt.Errorf("recording is off, but stream %s still captures %v: %w", name, info.Config.Subjects, err)
			}
		}
		kept = append(kept, slog.Group(name, "msgs", info.State.Msgs, "bytes", info.State.Bytes, "max_age", sc.MaxAge))
	}
	if kept != nil {
		log.Info("recording is off: earlier recordings kept for replay (HUB_RECORD_DELETE_OLD=true deletes them), capturing nothing", kept...)
	}
	return nil
}

// deleteRecordings deletes the recording streams, saying what they held.
func deleteRecordings(ctx context.Context, js jetstream.JetStream, log *slog.Logger) error {
	var deleted []any
	for _, name := range recordingStreams {
		info, err := streamInfo(ctx, js, name)
		if err != nil {
			return fmt.Errorf("recording: deleting stream %s: %w", name, err)
		}
		if info == nil {
			continue
		}
		if err := js.DeleteStream(ctx, name); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("recording: deleting stream %s: %w", name, err)
		}
		deleted = append(deleted, slog.Group(name, "msgs", info.State.Msgs, "bytes", info.State.Bytes))
	}
	if deleted != nil {
		log.Info("deleted the recordings of earlier runs (HUB_RECORD_DELETE_OLD)", deleted...)
	}
	return nil
}

// streamInfo is the stream's configuration and state, nil when there is no
// such stream or no JetStream at all (then nothing was recorded there).
func streamInfo(ctx context.Context, js jetstream.JetStream, name string) (*jetstream.StreamInfo, error) {
	s, err := js.Stream(ctx, name)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound), errors.Is(err, nats.ErrNoResponders),
		errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return s.CachedInfo(), nil
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

// recordAnswered: with recording on, each live frame a worker answered is
// published once more on recording.frames.<session>, which only the FRAMES
// stream listens to. The request itself never depends on recording.
func (b *natsBroker) recordAnswered(f FrameRequest) {
	if !b.recordFrames || f.Kind != contract.KindLive {
		return
	}
	if err := b.nc.PublishMsg(frameMsg(contract.RecordingFrameSubject(f.Session), f)); err != nil {
		b.log.Warn("a frame was not recorded", "session", f.Session, "seq", f.Seq, "err", err)
	}
}

package hub

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	// resumeBucket is the JetStream key-value bucket of resume tokens: the
	// SHA-256 of each session's latest token, by session id, so that any hub
	// (or this one after a restart) can check a token it did not issue.
	resumeBucket = "RESUME"
	// resumeTTL is how long after its last welcome a session may be resumed:
	// long enough for a laptop's lid to stay shut over a night.
	resumeTTL = 24 * time.Hour
	// resumeTimeout bounds one token store call: a JetStream round trip
	// takes milliseconds; past this the resume is refused, the client gets
	// a fresh id and keeps streaming.
	resumeTimeout = 2 * time.Second
	// resumeTokenBytes are the random bytes of a token: 256 bits.
	resumeTokenBytes = 32
)

// ErrResumeRefused is returned when a resume token does not match the session.
var ErrResumeRefused = errors.New("resume refused: no matching token")

// resumeTokens issues and checks the secrets that let a session's owner
// resume it. The bucket is opened on first use, so a hub that starts before
// its NATS is reachable gets it once NATS is.
type resumeTokens struct {
	nc       *nats.Conn
	replicas int // servers that keep the bucket (Config.JSReplicas)
	mu       sync.Mutex
	kv       jetstream.KeyValue
}

func (r *resumeTokens) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.kv != nil {
		return r.kv, nil
	}
	js, err := jetstream.New(r.nc)
	if err != nil {
		return nil, err
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: resumeBucket, Description: "resume token hashes by session id",
		History: 1, TTL: resumeTTL, Storage: jetstream.FileStorage, Replicas: r.replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("resume tokens: bucket %s: %w", resumeBucket, err)
	}
	r.kv = kv
	return kv, nil
}

// issue makes a new token for session id and stores its hash.
func (r *resumeTokens) issue(id string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), resumeTimeout)
	defer cancel()
	kv, err := r.bucket(ctx)
	if err != nil {
		return "", err
	}
	var b [resumeTokenBytes]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	token := base64.RawURLEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(token))
	if _, err := kv.Put(ctx, id, sum[:]); err != nil {
		return "", fmt.Errorf("resume tokens: storing: %w", err)
	}
	return token, nil
}

// check returns nil when token is the latest one issued for session id.
func (r *resumeTokens) check(id, token string) error {
	if token == "" {
		return ErrResumeRefused
	}
	ctx, cancel := context.WithTimeout(context.Background(), resumeTimeout)
	defer cancel()
	kv, err := r.bucket(ctx)
	if err != nil {
		return err
	}
	entry, err := kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return ErrResumeRefused
	}
	if err != nil {
		return fmt.Errorf("resume tokens: reading: %w", err)
	}
	sum := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(sum[:], entry.Value()) != 1 {
		return ErrResumeRefused
	}
	return nil
}

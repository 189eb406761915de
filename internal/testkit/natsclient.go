package testkit

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// ConnectNATS connects a test client to the NATS server at url, reconnecting
// forever, closed when the test ends.
func ConnectNATS(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// RoleConn is a NATS connection of a test client and the errors the server
// sent it (permission violations arrive asynchronously).
type RoleConn struct {
	*nats.Conn
	Errs chan error // the errors the server sent, as they came
}

// ConnectRole connects to url with the seed file (or anonymously when it is
// empty); the error is the connection's, for tests of refusals.
func ConnectRole(t testing.TB, url, seedFile string, extra ...nats.Option) (*RoleConn, error) {
	t.Helper()
	errs := make(chan error, 100)
	opts := append([]nats.Option{nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case errs <- err:
		default:
		}
	})}, extra...)
	if seedFile != "" {
		opt, err := nats.NkeyOptionFromSeed(seedFile)
		if err != nil {
			t.Fatal(err)
		}
		opts = append(opts, opt)
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, err
	}
	t.Cleanup(nc.Close)
	return &RoleConn{Conn: nc, Errs: errs}, nil
}

// Refused waits, at most wait, for the server to refuse what the test just
// tried (a permission violation naming what).
func (c *RoleConn) Refused(t testing.TB, what string, wait time.Duration) {
	t.Helper()
	_ = c.Flush()
	deadline := time.After(wait)
	for {
		select {
		case err := <-c.Errs:
			if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), what) {
				return
			}
		case <-deadline:
			t.Fatalf("the server did not refuse %s", what)
		}
	}
}

// LogBuffer is a log sink a test reads while the code under test (or a
// process) writes.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *LogBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *LogBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

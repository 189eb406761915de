package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/webcamhub/webcamhub/contract"
)

const (
	// natsReconnectWait is the first wait before dialling again: short,
	// because a hub without NATS answers every frame "unavailable" and
	// getting back quickly matters more than saving dials.
	natsReconnectWait = 250 * time.Millisecond
	// natsReconnectMaxWait caps the backoff: a server refusing our
	// credentials is asked again at most this often, and a server coming
	// back is noticed within it.
	natsReconnectMaxWait = 5 * time.Second
	// natsConnectTimeout is how long one dial may take before it counts as failed.
	natsConnectTimeout = 2 * time.Second
	// natsRepeatLogEvery keeps a failure that repeats at every retry from
	// filling the log; a new failure is logged at once.
	natsRepeatLogEvery = time.Minute
)

// natsLogin is how the hub connects: to which servers, as which role, with
// which credentials (described for the logs, never the secrets).
type natsLogin struct {
	servers     string // URL(s), with any password or token redacted
	url         string // what nats.Connect dials
	role        string // hub, or the external user's description
	credentials string // "nkey", "creds file …", "none" …
	opts        []nats.Option
}

// natsBroker carries the hub's NATS traffic over one nats.go connection:
// frames to the workers, subscriptions, pings; it keeps reconnecting and
// says why it is down.
type natsBroker struct {
	nc        *nats.Conn
	log       *slog.Logger
	login     natsLogin
	closeOnce sync.Once

	onPermissionViolation func()
	attempts              frameAttempts // frames waiting for a reply (nats_failover.go)
	batches               frameBatches  // a sender per model-version whose workers take batches (frame_batch.go)
	workersSeen           atomic.Int64  // workers that answered the last ping (watchWorkers), hub_workers
	// recordFrames: live frames answered are published once more for the
	// FRAMES stream (HUB_RECORD, recording.go); set before the first frame.
	recordFrames bool
	// sentMessage is told the frames of each message sent to the workers
	// (hub_frames_per_message); set before the first frame, nil in tests.
	sentMessage func(frames int)
	// models is what the workers serve (nats_models.go keeps it current).
	models     *modelTable
	refreshMu  sync.Mutex
	refreshing chan struct{} // closed when the info request under way is answered; nil when none is

	mu           sync.Mutex
	firstConnect func()    // run once, when a connection that failed at start is made
	lastErr      error     // why the connection is down, for /readyz
	lastLogged   string    // the failure last logged, and when
	loggedAt     time.Time //
	lostAt       time.Time // when the connection last dropped
}

// connectNATS dials login.url (one or more, comma-separated) and keeps
// reconnecting forever with backoff: a hub whose NATS went away (or refuses
// its credentials) keeps its sessions and answers frames "unavailable" until
// the connection is back. Each failure is logged at once with the server and
// the role; /readyz gives it as the reason.
func connectNATS(login natsLogin, name string, log *slog.Logger, models *modelTable, onPermissionViolation func()) (*natsBroker, error) {
	b := &natsBroker{log: log.With("nats_servers", login.servers, "nats_role", login.role), login: login, models: models,
		onPermissionViolation: onPermissionViolation, batches: newFrameBatches()}
	models.refresh = b.refreshModels
	opts := append([]nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.CustomReconnectDelay(reconnectDelay),
		nats.Timeout(natsConnectTimeout),
		nats.RetryOnFailedConnect(true),
		// Wrong credentials are retried too (with backoff): the operator may
		// fix them on the server without restarting the hub.
		nats.IgnoreAuthErrorAbort(),
		// No buffering while disconnected: a frame that cannot be sent now is
		// answered "unavailable" now instead of timing out later.
		nats.ReconnectBufSize(-1),
		nats.ConnectHandler(func(nc *nats.Conn) { b.connected(nc, "nats connected") }),
		nats.ReconnectHandler(func(nc *nats.Conn) { b.connected(nc, "nats reconnected") }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: our own Close or Drain
				b.connectionLost()
				b.failed(err)
			}
		}),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) { b.failed(err) }),
		nats.ErrorHandler(b.asyncError),
	}, login.opts...)
	nc, err := nats.Connect(login.url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to NATS at %s as %s: %w", login.servers, login.role, err)
	}
	b.nc = nc
	if !nc.IsConnected() {
		// The first dial failed; it is being retried. Say why now.
		if err := nc.LastError(); err != nil {
			b.failed(err)
		} else {
			b.mu.Lock()
			if b.lastErr == nil { // a handler may have recorded the reason already
				b.lastErr = errors.New("not connected yet") // the reason comes with the next try
			}
			b.mu.Unlock()
		}
	}
	go b.watchHandshakes()
	go b.watchWorkers()
	return b, nil
}

// onFirstConnect runs fn once the connection is made, when it was not at
// start (or at once when it is up by now).
func (b *natsBroker) onFirstConnect(fn func()) {
	b.mu.Lock()
	if !b.nc.IsConnected() {
		b.firstConnect = fn
		b.mu.Unlock()
		return
	}
	b.mu.Unlock()
	go fn()
}

// reconnectDelay doubles from natsReconnectWait to natsReconnectMaxWait,
// with jitter so that many hubs do not dial at the same instant.
func reconnectDelay(attempts int) time.Duration {
	d := natsReconnectWait << min(attempts, 8)
	d = min(d, natsReconnectMaxWait)
	return d/2 + rand.N(d/2+1)
}

func (b *natsBroker) connected(nc *nats.Conn, what string) {
	b.mu.Lock()
	b.lastErr, b.lastLogged = nil, ""
	first := b.firstConnect
	b.firstConnect = nil
	b.mu.Unlock()
	if first != nil {
		go first() // it talks to NATS: not on the callback goroutine
	}
	b.log.Info(what, "url", nc.ConnectedUrlRedacted(), "credentials", b.login.credentials)
}

// failed records why the connection is down and logs it, at once when the
// reason is new.
func (b *natsBroker) failed(err error) {
	b.mu.Lock()
	b.lastErr = err
	text := strings.ToLower(err.Error()) // the same failure comes in two spellings
	repeat := text == b.lastLogged && time.Since(b.loggedAt) < natsRepeatLogEvery
	if !repeat {
		b.lastLogged, b.loggedAt = text, time.Now()
	}
	b.mu.Unlock()
	if repeat {
		return
	}
	b.log.Error("cannot connect to NATS: "+natsHint(err), "err", err, "credentials", b.login.credentials)
}

// natsHint says in words what a connection error means for the operator.
func natsHint(err error) string {
	msg := strings.ToLower(err.Error())
	switch {
	case errors.Is(err, nats.ErrAuthorization), errors.Is(err, nats.ErrAuthExpired), errors.Is(err, nats.ErrAuthRevoked),
		strings.Contains(msg, "authorization violation"), strings.Contains(msg, "authentication"):
		return "the server refused the credentials (wrong, missing or not permitted); retrying"
	case strings.Contains(msg, "tls"), strings.Contains(msg, "x509"), strings.Contains(msg, "certificate"):
		return "TLS failed (CA, certificate or server name); retrying"
	default:
		return "the server is not reachable; retrying"
	}
}

// asyncError handles what the server reports on a live connection: a
// publish or subscribe outside the hub's permissions is logged and counted.
func (b *natsBroker) asyncError(_ *nats.Conn, sub *nats.Subscription, err error) {
	subject := ""
	if sub != nil {
		subject = sub.Subject
	}
	if errors.Is(err, nats.ErrPermissionViolation) {
		if b.onPermissionViolation != nil {
			b.onPermissionViolation()
		}
		b.log.Error("NATS refused a publish or subscribe: not permitted for this role", "subject", subject, "err", err)
		return
	}
	if sub == nil && (errors.Is(err, nats.ErrAuthorization) || strings.Contains(strings.ToLower(err.Error()), "authorization")) {
		b.failed(err)
		return
	}
	b.log.Error("nats async error", "subject", subject, "err", err)
}

// watchHandshakes notices failures that no nats.go callback reports (a TLS
// handshake or a CONNECT refused while reconnecting leaves them in
// LastError only), so that they are logged and shown by /readyz too.
func (b *natsBroker) watchHandshakes() {
	tick := time.NewTicker(natsReconnectWait)
	defer tick.Stop()
	for range tick.C {
		if b.nc.IsClosed() {
			return
		}
		if b.nc.IsConnected() {
			continue
		}
		if err := b.nc.LastError(); err != nil {
			b.failed(err)
		}
	}
}

// NotReadyReason says why the broker cannot carry frames now, or "".
func (b *natsBroker) NotReadyReason() string {
	if b.nc.IsConnected() {
		return ""
	}
	b.mu.Lock()
	err := b.lastErr
	b.mu.Unlock()
	why := "not connected"
	if err != nil {
		why = err.Error()
	}
	return fmt.Sprintf("not connected to NATS at %s as %s: %s", b.login.servers, b.login.role, why)
}

const (
	// workerPingTimeout bounds /readyz: a worker that is alive answers a ping
	// in well under a millisecond, but one busy with a batch may take a few
	// hundred; a second keeps readiness probes snappy without false alarms.
	workerPingTimeout = time.Second
	// subscribeFlushTimeout bounds waiting for the server to confirm a new
	// subscription: a round trip, normally well under a millisecond.
	subscribeFlushTimeout = 2 * time.Second
)

// FrameRequest is one image on its way to a worker.
type FrameRequest struct {
	Kind string // contract.KindLive, contract.KindAPI
	// Model and Version: what the client asked for ("" and 0: the default
	// model, 0: the name's default version) until the dispatcher picks
	// the model-version the frame is sent to (modelTable.pick).
	Model       string
	Version     int
	Session     string
	Seq         int64
	ContentType string
	TopK        int // 0: the worker's default
	Image       []byte
	// DecodedBytes is the hub's estimate of the memory decoding Image
	// takes (from its header); it is not sent, only charged (frameCredit).
	DecodedBytes int64
	// Allowed: the models the client's credential allows (nil: any); the
	// dispatcher's pick refuses others. Not sent.
	Allowed modelGrant
}

func (b *natsBroker) Connected() bool { return b.nc.IsConnected() }

// Request sends f to one worker and returns its reply (the dispatcher's
// workerPool). A frame whose connection drops or whose worker leaves is
// sent once more when its deadline allows, else answered unavailable
// (failover, nats_failover.go); a live frame answered is recorded when
// recording is on (recording.go).
func (b *natsBroker) Request(ctx context.Context, f FrameRequest) ([]byte, error) {
	reply, err := b.requestOnce(ctx, f)
	if isLost(err) {
		reply, err = b.retryLost(ctx, f, err)
	}
	if err == nil {
		b.recordAnswered(f)
	}
	return reply, err
}

// requestOnce is one attempt of Request: the frame with its headers (trace
// context, deadline) on its subject, alone or in a batch with the frames
// for the same model-version ready at the same moment (frame_batch.go), a
// reply or why none came.
func (b *natsBroker) requestOnce(ctx context.Context, f FrameRequest) ([]byte, error) {
	if !b.nc.IsConnected() && !b.awaitReconnect(ctx) {
		return nil, fmt.Errorf("nats %s: %w", b.nc.Status(), ErrUnavailable)
	}
	attempt, end := b.attempts.begin(ctx)
	defer end()
	var reply []byte
	var err error
	if limit := b.models.perMessage(modelTarget{Name: f.Model, Version: f.Version}); limit > 1 {
		reply, err = b.batches.sender(b, f.Model, f.Version).request(attempt, f, limit)
	} else {
		b.sent(1)
		var msg *nats.Msg
		msg, err = b.nc.RequestMsgWithContext(attempt, frameRequestMsg(ctx, contract.InferSubject(f.Model, f.Version, f.Kind, f.Session), f))
		if err == nil {
			reply = msg.Data
		}
	}
	if err != nil {
		if cause := lostCause(attempt); cause != nil && ctx.Err() == nil {
			return nil, fmt.Errorf("frame %s #%d: %w", f.Session, f.Seq, cause)
		}
		if errors.Is(err, nats.ErrReconnectBufExceeded) || errors.Is(err, nats.ErrConnectionReconnecting) {
			return nil, fmt.Errorf("frame %s #%d: %w", f.Session, f.Seq, errConnectionLost) // dropped as it was sent
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("frame %s #%d: %w", f.Session, f.Seq, ErrTimeout)
		}
		return nil, fmt.Errorf("frame %s #%d: %w", f.Session, f.Seq, err)
	}
	return reply, nil
}

// sent counts one message of frames sent to the workers.
func (b *natsBroker) sent(frames int) {
	if b.sentMessage != nil {
		b.sentMessage(frames)
	}
}

// frameRequestMsg is f as a single-frame request on subject: the trace
// context of ctx (the hub's request span, or an API caller's traceparent)
// in the traceparent header, and the frame's deadline, so that a worker
// spends nothing on a frame the hub has stopped waiting for.
func frameRequestMsg(ctx context.Context, subject string, f FrameRequest) *nats.Msg {
	msg := frameMsg(subject, f)
	propagator.Inject(ctx, natsHeaderCarrier(msg.Header))
	if deadline, ok := ctx.Deadline(); ok {
		msg.Header.Set(contract.HeaderFrameDeadline, strconv.FormatInt(deadline.UnixMilli(), 10))
	}
	return msg
}

// frameMsg is f's image with the headers that say whose frame it is, on subject.
func frameMsg(subject string, f FrameRequest) *nats.Msg {
	msg := nats.NewMsg(subject)
	msg.Data = f.Image
	msg.Header.Set(contract.HeaderSessionID, f.Session)
	msg.Header.Set(contract.HeaderFrameSeq, strconv.FormatInt(f.Seq, 10))
	msg.Header.Set(contract.HeaderContentType, f.ContentType)
	if f.TopK > 0 {
		msg.Header.Set(contract.HeaderTopK, strconv.Itoa(f.TopK))
	}
	return msg
}

func (b *natsBroker) Subscribe(subject string, fn func([]byte)) (func(), error) {
	return b.subscribe(subject, func(m *nats.Msg) { fn(m.Data) })
}

func (b *natsBroker) Respond(subject string, reply func() []byte) (func(), error) {
	return b.subscribe(subject, func(m *nats.Msg) { _ = m.Respond(reply()) })
}

// subscribe returns once the server has the subscription, so that what the
// caller tells its client next (a welcome with a session id that can be
// watched, say) is already true.
func (b *natsBroker) subscribe(subject string, handler nats.MsgHandler) (func(), error) {
	sub, err := b.nc.Subscribe(subject, handler)
	if err != nil {
		return nil, fmt.Errorf("subscribing to %s: %w", subject, err)
	}
	if err := b.nc.FlushTimeout(subscribeFlushTimeout); err != nil {
		// Disconnected: the subscription is sent again on reconnect.
		b.log.Warn("subscription not confirmed", "subject", subject, "err", err)
	}
	return func() { _ = sub.Unsubscribe() }, nil
}

func (b *natsBroker) Exists(ctx context.Context, subject string) (bool, error) {
	_, err := b.nc.RequestWithContext(ctx, subject, nil)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, nats.ErrNoResponders):
		return false, nil
	default:
		return false, fmt.Errorf("asking %s: %w", subject, err)
	}
}

func (b *natsBroker) PingWorkers(ctx context.Context) error {
	if !b.nc.IsConnected() {
		return fmt.Errorf("nats %s: %w", b.nc.Status(), ErrUnavailable)
	}
	ctx, cancel := context.WithTimeout(ctx, workerPingTimeout)
	defer cancel()
	reply, err := b.nc.RequestWithContext(ctx, contract.WorkerPingSubject, nil)
	if err != nil {
		return fmt.Errorf("pinging workers: %w", err)
	}
	var pong contract.WorkerPong
	if err := json.Unmarshal(reply.Data, &pong); err != nil || pong.Type != micro.PingResponseType || pong.Name != contract.WorkerService {
		return fmt.Errorf("pinging workers: %w", ErrBadReply)
	}
	return nil
}

func (b *natsBroker) Publish(subject string, data []byte) error {
	return b.nc.Publish(subject, data)
}

// Close drains the connection: subscriptions stop taking new messages, the
// ones already received are handled, pending publishes are flushed.
func (b *natsBroker) Close() error {
	b.closeOnce.Do(func() {
		closed := make(chan struct{})
		b.nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
		if err := b.nc.Drain(); err != nil {
			// Not connected (or already closed): nothing to drain.
			b.nc.Close()
			return
		}
		<-closed
	})
	return nil
}

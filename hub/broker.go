package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/webcamhub/webcamhub/hub/contract"
)

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
	Kind        string // contract.KindLive, contract.KindAPI
	Session     string
	Seq         int64
	ContentType string
	TopK        int // 0: the worker's default
	Image       []byte
	// DecodedBytes is the hub's estimate of the memory decoding Image
	// takes (from its header); it is not sent, only charged (frameCredit).
	DecodedBytes int64
}

func (b *natsBroker) Connected() bool { return b.nc.IsConnected() }

func (b *natsBroker) Request(ctx context.Context, f FrameRequest) ([]byte, error) {
	if !b.nc.IsConnected() {
		return nil, fmt.Errorf("nats %s: %w", b.nc.Status(), ErrUnavailable)
	}
	msg := nats.NewMsg(contract.FrameSubject(f.Kind, f.Session))
	msg.Data = f.Image
	msg.Header.Set(contract.HeaderSessionID, f.Session)
	msg.Header.Set(contract.HeaderFrameSeq, strconv.FormatInt(f.Seq, 10))
	msg.Header.Set(contract.HeaderContentType, f.ContentType)
	if f.TopK > 0 {
		msg.Header.Set(contract.HeaderTopK, strconv.Itoa(f.TopK))
	}
	// The trace context of ctx (the hub's request span, or an API caller's
	// traceparent) goes to the worker in the traceparent header.
	propagator.Inject(ctx, natsHeaderCarrier(msg.Header))
	// The frame's deadline goes with it, so a worker spends nothing on a
	// frame the hub has stopped waiting for.
	if deadline, ok := ctx.Deadline(); ok {
		msg.Header.Set(contract.HeaderFrameDeadline, strconv.FormatInt(deadline.UnixMilli(), 10))
	}
	reply, err := b.nc.RequestMsgWithContext(ctx, msg)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("frame %s #%d: %w", f.Session, f.Seq, ErrTimeout)
		}
		return nil, fmt.Errorf("frame %s #%d: %w", f.Session, f.Seq, err)
	}
	return reply.Data, nil
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

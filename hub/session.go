package hub

import (
	"bytes"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/fasthttp/websocket"
	"golang.org/x/time/rate"

	"github.com/webcamhub/webcamhub/contract"
)

// session is one WebSocket connection: a reader goroutine (the handler's
// own), a writer goroutine, and the frame scheduler's calls to workers. The
// reader never blocks on the writer: messages go through a bounded queue,
// and a client that lets the queue fill up is closed.
type session struct {
	id       string
	watching string     // the session this connection watches; empty when streaming
	client   netip.Addr // where the connection comes from (see Hub.clientAddr)
	grant    authGrant  // what its credential allows (zero when the hub requires none)
	hub      *Hub
	conn     *websocket.Conn
	log      *slog.Logger
	frames   *frameScheduler
	controls controlLimits // the reader's alone
	// frameRefusals: frames answered rate_limited the session may send on; the reader's alone.
	frameRefusals frameRefusals
	progress      *readProgress // whether the client reads what it is sent

	send      chan []byte   // messages for the writer; never closed
	closing   chan struct{} // closed once, when the session starts closing
	closeOnce sync.Once
	closeCode int
	closeWhy  string

	seq int64 // frames received; the reader's alone
}

// readBuffers are the readers' scratch space, shared by all sessions: a
// buffer grows to the largest message read into it, and a session holding
// its own would keep that size for as long as it stays open, idle or not
// (a megabyte per session after one large frame). Pooled, they number about
// the sessions reading at the same moment.
var readBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func newSession(h *Hub, conn *websocket.Conn, id, watching string) *session {
	s := &session{
		id:            id,
		watching:      watching,
		hub:           h,
		conn:          conn,
		log:           h.log.With("session", id),
		send:          make(chan []byte, h.cfg.SendQueue),
		closing:       make(chan struct{}),
		controls:      newControlLimits(h.cfg.ControlRate),
		frameRefusals: newFrameRefusals(),
		progress:      newReadProgress(),
	}
	fps := h.cfg.SessionFPS
	s.frames = newFrameScheduler(schedulerDeps{
		session:  id,
		dispatch: h.dispatch,
		metrics:  h.metrics,
		log:      s.log,
		enqueue:  s.enqueue,
		closing:  s.closing,
		limiter:  rate.NewLimiter(rate.Limit(fps), max(1, int(fps))),
		check:    h.checkImage,
		inFlight: h.cfg.FramesInFlight,
		timeout:  h.cfg.FrameTimeout,
		tracer:   h.tracer,
	})
	return s
}

// run serves the connection until it ends. It returns only after the writer
// and every in-flight request have finished: contrib/websocket pools the
// connection once the handler returns.
func (s *session) run(welcome []byte) {
	if welcome != nil {
		s.enqueue(welcome)
	}
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		s.writeLoop()
	}()
	err := s.readLoop()
	s.close(contract.CloseNormal, "")
	<-writerDone
	s.frames.stop()
	s.hub.metrics.CountClose(s.closeCode)
	s.log.Info("session closed", "frames", s.seq, "code", s.closeCode, "reason", s.closeWhy, "read_err", errString(err))
}

// close starts closing the session with a WebSocket close code; the first
// call wins (and reports true) and later ones do nothing.
func (s *session) close(code int, why string) (first bool) {
	s.closeOnce.Do(func() {
		s.closeCode, s.closeWhy = code, why
		close(s.closing)
		first = true
	})
	return first
}

func (s *session) isClosing() bool { return isClosed(s.closing) }

// isClosed reports whether ch is closed, without waiting.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// enqueue hands a message to the writer without waiting. A full queue means
// the client stopped reading: it is closed, not waited on.
func (s *session) enqueue(msg []byte) {
	if s.isClosing() {
		return
	}
	select {
	case s.send <- msg:
	default:
		s.closeSlow(contract.CloseTextResultsNotRead)
	}
}

// closeSlow closes a client that does not read what it is sent; counted once.
func (s *session) closeSlow(why string) {
	if s.close(contract.CloseSlowClient, why) {
		s.hub.metrics.SlowClientsClosed.Add(1)
		s.log.Warn("closing slow client", "why", why, "queued", len(s.send))
	}
}

// writeLoop writes the queued messages, each within the write timeout; it
// also closes a client that has not read the last maxUnreadBytes within the
// write timeout (see readProgress), however much the kernel still buffers.
func (s *session) writeLoop() {
	wait := s.hub.cfg.WriteTimeout
	ping := time.NewTicker(pingPeriod)
	defer ping.Stop()
	probeDeadline := time.NewTimer(wait)
	probeDeadline.Stop()
	defer probeDeadline.Stop()
	for {
		select {
		case msg := <-s.send:
			_ = s.conn.SetWriteDeadline(time.Now().Add(wait))
			err := s.conn.WriteMessage(websocket.TextMessage, msg)
			if probe := s.progress.wrote(len(msg)); err == nil && probe != nil {
				err = s.conn.WriteControl(websocket.PingMessage, probe, time.Now().Add(wait))
				probeDeadline.Reset(wait)
			}
			if err != nil {
				s.close(closeAbnormal, abnormalWriteFailed)
				_ = s.conn.UnderlyingConn().SetReadDeadline(time.Now()) // stop the reader now
				return
			}
		case <-s.progress.pongs:
			if s.progress.answered() {
				probeDeadline.Stop()
			}
		case <-probeDeadline.C:
			if s.progress.probing {
				s.closeSlow(contract.CloseTextSentNotRead)
			}
		case <-ping.C:
			if err := s.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(wait)); err != nil {
				s.close(closeAbnormal, abnormalPingFailed)
				_ = s.conn.UnderlyingConn().SetReadDeadline(time.Now())
				return
			}
		case <-s.closing:
			if s.closeCode != contract.CloseSlowClient && s.closeCode != closeAbnormal {
				s.flush()
			}
			if s.closeCode != closeAbnormal {
				_ = s.conn.WriteControl(websocket.CloseMessage, closeFrame(s.closeCode, s.closeWhy), time.Now().Add(wait))
			}
			// The reader sees the client's close frame, or gives up after closeGrace.
			_ = s.conn.UnderlyingConn().SetReadDeadline(time.Now().Add(closeGrace))
			return
		}
	}
}

// flush writes what is already queued, without waiting for more: a session
// closed for a reason other than being slow still gets its last answers.
func (s *session) flush() {
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.hub.cfg.WriteTimeout))
	for {
		select {
		case msg := <-s.send:
			if err := s.conn.WriteMessage(websocket.TextMessage, msg); err != nil {
				return
			}
		default:
			return
		}
	}
}

// readLoop reads messages until the connection fails or closes.
func (s *session) readLoop() error {
	maxFrame := s.hub.cfg.MaxFrameBytes
	maxText := textMessageLimit(maxFrame)
	// Messages up to hardLimit are read and answered too_large; beyond it the
	// connection is closed with 1009, so a client cannot make the hub read
	// without bound.
	hardLimit := int64(maxText) * 4
	s.conn.SetReadLimit(hardLimit)
	_ = s.conn.SetReadDeadline(time.Now().Add(pongWait))
	s.conn.SetPongHandler(func(appData string) error {
		s.progress.pong(appData)
		return s.conn.SetReadDeadline(time.Now().Add(pongWait))
	})
	for {
		kind, r, err := s.conn.NextReader()
		if err != nil {
			return err
		}
		if s.isClosing() {
			// Draining until the client's close frame arrives.
			_, _ = io.Copy(io.Discard, r)
			continue
		}
		_ = s.conn.SetReadDeadline(time.Now().Add(pongWait))
		switch kind {
		case websocket.BinaryMessage:
			now := time.Now()
			if s.watching == "" && !s.frames.admits(now) {
				// Refused whatever it holds: read past, never kept.
				if _, err := io.Copy(io.Discard, r); err != nil {
					return err
				}
				s.seq++
				s.hub.metrics.FramesReceived.Add(1)
				s.frames.refuseRateLimited(s.seq, now)
				s.frameRefused(now)
				continue
			}
			data, tooLarge, err := s.readUpTo(r, maxFrame)
			if err != nil {
				return err
			}
			s.seq++
			s.hub.metrics.FramesReceived.Add(1)
			if tooLarge {
				s.answerError(s.seq, contract.CodeTooLarge)
				continue
			}
			s.submit(s.seq, data, now)
		case websocket.TextMessage:
			data, tooLarge, err := s.readUpTo(r, maxText)
			if err != nil {
				return err
			}
			if tooLarge {
				// Only a frame in base64 can be this large: it takes a seq,
				// like every frame, so the client's count stays the hub's.
				s.seq++
				s.hub.metrics.FramesReceived.Add(1)
				s.answerError(s.seq, contract.CodeTooLarge)
				continue
			}
			s.control(data)
		}
	}
}

// readUpTo reads a whole message but keeps at most limit bytes of it. The
// message is read into a pooled scratch buffer and copied out once, at its
// exact size, so nothing of its size stays with the session.
func (s *session) readUpTo(r io.Reader, limit int) (data []byte, tooLarge bool, err error) {
	buf := readBuffers.Get().(*bytes.Buffer)
	defer func() {
		buf.Reset()
		readBuffers.Put(buf)
	}()
	n, err := buf.ReadFrom(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, false, err
	}
	if n > int64(limit) {
		_, err = io.Copy(io.Discard, r)
		return nil, true, err
	}
	return bytes.Clone(buf.Bytes()), false, nil
}

// submit hands a frame received at now to the scheduler; a watcher sends
// none.
func (s *session) submit(seq int64, image []byte, now time.Time) {
	if s.watching != "" {
		s.answerError(seq, contract.CodeBadRequest)
		return
	}
	if s.frames.submit(seq, image, now) {
		s.frameRefused(now)
	}
}

// frameRefused counts a frame answered rate_limited and closes a session
// that goes on sending frames while refused (frameRefusals): it would
// otherwise make the hub read and answer as many frames as it can send.
func (s *session) frameRefused(now time.Time) {
	if s.frameRefusals.tolerate(now) {
		return
	}
	if s.close(contract.CloseRateLimited, contract.CloseTextFrames) {
		s.hub.metrics.CountRateLimitedClose(contract.CloseTextFrames)
		s.log.Warn("closing a session that kept sending frames while rate_limited")
	}
}

func (s *session) answerError(seq int64, code string) {
	s.hub.metrics.CountError(code)
	if seq > 0 { // a frame refused before it reached the scheduler: answered at once
		s.hub.metrics.ObserveFrame(OutcomeError, 0)
	}
	s.enqueue(encodeError(seq, code))
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

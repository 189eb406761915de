package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/webcamhub/webcamhub/hub/internal/imagesniff"
	"github.com/webcamhub/webcamhub/hub/internal/traceparent"
)

// maxTopK bounds the "options" message: the workers return at most this many labels.
const maxTopK = 10

// session is one WebSocket connection: a reader goroutine (the handler's
// own), a writer goroutine, and at most FramesInFlight goroutines waiting on
// workers. The reader never blocks on the writer: messages go through a
// bounded queue, and a client that lets the queue fill up is closed.
type session struct {
	id       string
	watching string // the session this connection watches; empty when streaming
	hub      *Hub
	conn     Conn
	log      *slog.Logger

	send      chan []byte   // messages for the writer; never closed
	closing   chan struct{} // closed once, when the session starts closing
	closeOnce sync.Once
	closeCode int
	closeWhy  string

	ctx      context.Context // cancelled when the session ends: in-flight requests give up
	cancel   context.CancelFunc
	inFlight sync.WaitGroup

	limiter *rate.Limiter
	seq     int64        // frames received; the reader's alone
	readBuf bytes.Buffer // the reader's scratch space, reused across messages

	mu      sync.Mutex
	busy    int           // frames at the workers
	waiting *FrameRequest // the newest frame that waits for a free slot
	topK    int
}

func newSession(h *Hub, conn Conn, id, watching string) *session {
	ctx, cancel := context.WithCancel(context.Background())
	fps := h.cfg.SessionFPS
	return &session{
		id:       id,
		watching: watching,
		hub:      h,
		conn:     conn,
		log:      h.log.With("session", id),
		send:     make(chan []byte, h.cfg.SendQueue),
		closing:  make(chan struct{}),
		ctx:      ctx,
		cancel:   cancel,
		limiter:  rate.NewLimiter(rate.Limit(fps), max(1, int(fps))),
	}
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
	s.close(CloseNormal, "")
	<-writerDone
	s.cancel()
	s.inFlight.Wait()
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

func (s *session) isClosing() bool {
	select {
	case <-s.closing:
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
		if s.close(CloseSlowClient, "slow client: results were not read") {
			s.hub.metrics.SlowClientsClosed.Add(1)
			s.log.Warn("closing slow client", "queued", len(s.send))
		}
	}
}

func (s *session) writeLoop() {
	ping := time.NewTicker(pingPeriod)
	defer ping.Stop()
	for {
		select {
		case msg := <-s.send:
			_ = s.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if err := s.conn.WriteMessage(textMessage, msg); err != nil {
				s.close(closeAbnormal, "write failed")
				_ = s.conn.UnderlyingConn().SetReadDeadline(time.Now()) // stop the reader now
				return
			}
		case <-ping.C:
			if err := s.conn.WriteControl(pingMessage, nil, time.Now().Add(writeWait)); err != nil {
				s.close(closeAbnormal, "ping failed")
				_ = s.conn.UnderlyingConn().SetReadDeadline(time.Now())
				return
			}
		case <-s.closing:
			if s.closeCode != CloseSlowClient && s.closeCode != closeAbnormal {
				s.flush()
			}
			if s.closeCode != closeAbnormal {
				_ = s.conn.WriteControl(closeMessage, closeFrame(s.closeCode, s.closeWhy), time.Now().Add(writeWait))
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
	_ = s.conn.SetWriteDeadline(time.Now().Add(writeWait))
	for {
		select {
		case msg := <-s.send:
			if err := s.conn.WriteMessage(textMessage, msg); err != nil {
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
	maxText := maxFrame/3*4 + 4096 // a base64 frame in JSON
	// Messages up to hardLimit are read and answered too_large; beyond it the
	// connection is closed with 1009, so a client cannot make the hub read
	// without bound.
	hardLimit := int64(maxText) * 4
	s.conn.SetReadLimit(hardLimit)
	_ = s.conn.SetReadDeadline(time.Now().Add(pongWait))
	s.conn.SetPongHandler(func(string) error {
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
		case binaryMessage:
			data, tooLarge, err := s.readUpTo(r, maxFrame)
			if err != nil {
				return err
			}
			s.seq++
			s.hub.metrics.FramesReceived.Add(1)
			if tooLarge {
				s.answerError(s.seq, CodeTooLarge)
				continue
			}
			s.submit(s.seq, data)
		case textMessage:
			data, tooLarge, err := s.readUpTo(r, maxText)
			if err != nil {
				return err
			}
			if tooLarge {
				s.answerError(0, CodeTooLarge)
				continue
			}
			s.control(data)
		}
	}
}

// readUpTo reads a whole message but keeps at most limit bytes of it. The
// message is read into the session's scratch buffer (which settles at the
// size of the client's frames) and copied out once, at its exact size.
func (s *session) readUpTo(r io.Reader, limit int) (data []byte, tooLarge bool, err error) {
	s.readBuf.Reset()
	n, err := s.readBuf.ReadFrom(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, false, err
	}
	if n > int64(limit) {
		_, err = io.Copy(io.Discard, r)
		return nil, true, err
	}
	return bytes.Clone(s.readBuf.Bytes()), false, nil
}

// control handles one JSON text message.
func (s *session) control(data []byte) {
	var m controlMsg
	if err := json.Unmarshal(data, &m); err != nil {
		s.answerError(0, CodeBadRequest)
		return
	}
	switch m.Type {
	case "ping":
		s.enqueue(encodePong(m.ID, time.Now()))
	case "frame":
		s.seq++
		s.hub.metrics.FramesReceived.Add(1)
		switch {
		case len(m.Image) == 0:
			s.answerError(s.seq, CodeBadImage)
		case len(m.Image) > s.hub.cfg.MaxFrameBytes:
			s.answerError(s.seq, CodeTooLarge)
		default:
			s.submit(s.seq, m.Image)
		}
	case "options":
		if m.TopK == nil || *m.TopK < 1 || *m.TopK > maxTopK {
			s.answerError(0, CodeBadRequest)
			return
		}
		s.mu.Lock()
		s.topK = *m.TopK
		s.mu.Unlock()
	default:
		s.answerError(0, CodeBadRequest)
	}
}

// submit schedules a frame: to a worker now when the session has a free
// slot, otherwise into the waiting place, where it replaces (and answers
// "dropped") any older waiting frame. The newest frame wins.
func (s *session) submit(seq int64, image []byte) {
	if s.watching != "" {
		s.answerError(seq, CodeBadRequest)
		return
	}
	if !s.limiter.Allow() {
		s.answerError(seq, CodeRateLimited)
		return
	}
	contentType, ok := imagesniff.ContentType(image)
	if !ok {
		s.answerError(seq, CodeBadImage)
		return
	}
	s.mu.Lock()
	f := &FrameRequest{Kind: "live", Session: s.id, Seq: seq, ContentType: contentType, TopK: s.topK, Image: image}
	if s.hub.cfg.Trace {
		f.Traceparent = traceparent.New()
	}
	if s.busy < s.hub.cfg.FramesInFlight {
		s.busy++
		s.mu.Unlock()
		s.inFlight.Add(1)
		go s.work(f)
		return
	}
	older := s.waiting
	s.waiting = f
	s.mu.Unlock()
	if older != nil {
		s.hub.metrics.Dropped.Add(1)
		s.enqueue(encodeDropped(older.Seq, "superseded"))
	}
}

// work classifies f, then whatever frame waits, until none does.
func (s *session) work(f *FrameRequest) {
	defer s.inFlight.Done()
	for f != nil {
		s.classify(f)
		s.mu.Lock()
		f, s.waiting = s.waiting, nil
		if f == nil || s.isClosing() {
			s.busy--
			f = nil
		}
		s.mu.Unlock()
	}
}

// classify sends one frame to a worker and queues the answer for the client.
func (s *session) classify(f *FrameRequest) {
	ctx, cancel := context.WithTimeout(s.ctx, s.hub.cfg.FrameTimeout)
	defer cancel()
	start := time.Now()
	reply, err := s.hub.broker.Request(ctx, *f)
	if f.Traceparent != "" {
		defer func() {
			s.log.Debug("frame", "seq", f.Seq, "traceparent", f.Traceparent, "ms", float64(time.Since(start).Microseconds())/1000, "err", errString(err))
		}()
	}
	if err != nil {
		if s.ctx.Err() != nil {
			return // the session ended; nobody is left to answer
		}
		code := codeOf(err)
		if code == CodeInternal {
			s.log.Error("frame failed", "seq", f.Seq, "err", err)
		}
		s.answerError(f.Seq, code)
		return
	}
	var msg replyHead
	err = checkReply(reply, f.Seq, &msg)
	if err != nil {
		s.log.Error("bad worker reply", "seq", f.Seq, "err", err)
		s.answerError(f.Seq, CodeInternal)
		return
	}
	if msg.Type == "result" {
		s.hub.metrics.Results.Add(1)
	} else {
		s.hub.metrics.CountError(msg.Code)
	}
	s.enqueue(reply)
}

// checkReply decodes a worker's reply into msg (a replyHead or a
// workerReply) and makes sure it is a result or an error for seq.
func checkReply[T replyHead | workerReply](reply []byte, seq int64, msg *T) error {
	if err := json.Unmarshal(reply, msg); err != nil {
		return errors.Join(ErrBadReply, err)
	}
	var head replyHead
	switch m := any(msg).(type) {
	case *replyHead:
		head = *m
	case *workerReply:
		head = m.replyHead
	}
	if head.Type != "result" && head.Type != "error" {
		return errors.Join(ErrBadReply, errors.New("type "+head.Type))
	}
	if head.Seq != seq {
		return errors.Join(ErrBadReply, errors.New("reply for another frame"))
	}
	return nil
}

func (s *session) answerError(seq int64, code string) {
	s.hub.metrics.CountError(code)
	s.enqueue(encodeError(seq, code))
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

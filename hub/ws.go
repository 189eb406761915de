package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"
	"golang.org/x/time/rate"

	"github.com/webcamhub/webcamhub/contract"
	"github.com/webcamhub/webcamhub/hub/internal/sessionid"
)

const (
	// watchLookupTimeout bounds asking NATS whether a watched session exists
	// on any hub: an unknown one is answered at once ("no responders"), a
	// known one within a round trip.
	watchLookupTimeout = 2 * time.Second
	localWatching      = "watching" // Locals key: the session id a watcher follows
	localResume        = "resume"   // Locals key: the session id a reconnecting client asks to keep
	localResumeToken   = "token"    // Locals key: the resume token it offered as a subprotocol
	localClient        = "client"   // Locals key: the client's address (netip.Addr)
	localGrant         = "grant"    // Locals key: what the client's credential allows (authGrant)
	localAuthRefused   = "noauth"   // Locals key: why the client's credential was refused
)

// upgrade decides, before the WebSocket handshake, whether the connection
// is taken: an upgrade request, an allowed origin, room for a session, and
// for watchers an id of the right form.
func (h *Hub) upgrade(c *fiber.Ctx) error {
	if !websocket.IsWebSocketUpgrade(c) {
		return c.Status(fiber.StatusUpgradeRequired).JSON(fiber.Map{"message": "GET /ws needs a WebSocket upgrade"})
	}
	if policy := h.origins.Load(); policy == nil || !policy.allows(c.Get(fiber.HeaderOrigin)) {
		h.metrics.SessionsRefused.Add(1)
		h.log.Warn("websocket origin refused", "origin", c.Get(fiber.HeaderOrigin))
		return c.Status(fiber.StatusForbidden).JSON(fiber.Map{"message": "origin not allowed"})
	}
	if ok, reason := h.acceptingSessions(); !ok {
		h.metrics.SessionsRefused.Add(1)
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"message": reason})
	}
	client := h.clientAddr(c)
	if reason := h.clients.admit(client, time.Now()); reason != "" {
		h.metrics.SessionsRefused.Add(1)
		h.metrics.CountError(contract.CodeRateLimited)
		// Debug: a client hammering the limit must not flood the log; the refusals are counted.
		h.log.Debug("websocket connection refused", "client", client, "reason", reason)
		return c.Status(fiber.StatusTooManyRequests).JSON(fiber.Map{"message": reason, "code": contract.CodeRateLimited})
	}
	c.Locals(localClient, client)
	if watch := c.Query(contract.QueryWatch); watch != "" {
		// A watcher needs no credential: the session id in its link is
		// its capability, and it can only follow that one session.
		c.Locals(localWatching, watch)
		return c.Next()
	}
	if h.auth != nil {
		// Refused after the upgrade, with a close code the page can read
		// (a browser never sees the status of a refused handshake).
		grant, reason := h.auth.check(bearerProtocol(c))
		if reason != "" {
			c.Locals(localAuthRefused, reason)
			return c.Next()
		}
		c.Locals(localGrant, grant)
	}
	if resume := c.Query(contract.QueryResume); resume != "" {
		c.Locals(localResume, resume)
		// The token comes as a subprotocol, never in the URL (docs/protocol.md).
		for _, p := range strings.Split(c.Get(fiber.HeaderSecWebSocketProtocol), ",") {
			if token, ok := strings.CutPrefix(strings.TrimSpace(p), contract.ResumeProtocolPrefix); ok {
				c.Locals(localResumeToken, token)
			}
		}
	}
	return c.Next()
}

func (h *Hub) websocketHandler() fiber.Handler {
	return websocket.New(h.serveWebSocket, websocket.Config{
		// Frames are read through NextReader into their own buffers, so the
		// I/O buffers stay small; write buffers are pooled across connections
		// (most sessions are idle between results).
		// Selected when offered (the page offers it, with its resume token
		// when it has one); never the token itself.
		Subprotocols:    []string{contract.Subprotocol},
		ReadBufferSize:  4 << 10,
		WriteBufferSize: 4 << 10,
		WriteBufferPool: &sync.Pool{},
		RecoverHandler: func(c *websocket.Conn) {
			if r := recover(); r != nil {
				h.log.Error("websocket handler panicked", "panic", r)
				h.refuse(c, contract.CloseInternal, contract.CloseTextInternal)
			}
		},
	})
}

// serveWebSocket runs one connection: a streaming session, or a watcher of
// one when the URL had ?watch=<session id>.
func (h *Hub) serveWebSocket(c *websocket.Conn) {
	watching, _ := c.Locals(localWatching).(string)
	resume, _ := c.Locals(localResume).(string)
	token, _ := c.Locals(localResumeToken).(string)
	client, _ := c.Locals(localClient).(netip.Addr)
	if reason, _ := c.Locals(localAuthRefused).(string); reason != "" {
		h.metrics.SessionsRefused.Add(1)
		h.metrics.CountAuthRefusal(reason)
		text := contract.CloseTextAuthInvalid
		if reason == authMissing {
			text = contract.CloseTextAuthMissing
		}
		h.log.Debug("websocket session refused: not authenticated", "client", client, "reason", reason)
		h.refuse(c, contract.CloseUnauthorized, text)
		return
	}
	grant, _ := c.Locals(localGrant).(authGrant)
	release, ok := h.clients.hold(client)
	if !ok { // more handshakes of this address were admitted at once than it may hold
		h.metrics.SessionsRefused.Add(1)
		h.metrics.CountRateLimitedClose(contract.CloseTextConnections)
		h.refuse(c, contract.CloseRateLimited, contract.CloseTextConnections)
		return
	}
	defer release()
	s := newSession(h, c.Conn, h.sessionID(resume, token), watching)
	s.client = client
	s.grant = grant
	// What the credential allows goes to the scheduler before the session runs.
	s.frames.allowed = grant.Models
	if grant.FPS > 0 && grant.FPS < h.cfg.SessionFPS { // the token's own cap, below the hub's
		s.frames.limiter = rate.NewLimiter(rate.Limit(grant.FPS), max(1, int(grant.FPS))) // (before the session runs)
	}
	if !h.addSession(s) {
		h.refuse(c, contract.CloseGoingAway, contract.CloseTextNotAccepting)
		return
	}
	defer h.removeSession(s)
	h.metrics.SessionsTotal.Add(1)
	if watching != "" {
		h.serveWatcher(s)
		return
	}
	h.serveStreamer(s)
}

func (h *Hub) serveStreamer(s *session) {
	h.metrics.SessionsOpen.Add(1)
	defer h.metrics.SessionsOpen.Add(-1)
	// Answering the session info subject is how watchers on any hub learn
	// that this session exists.
	info := mustJSON(contract.SessionInfo{Session: s.id, Since: time.Now().UTC().Format(time.RFC3339)})
	stopInfo, err := h.broker.Respond(contract.SessionInfoSubject(s.id), func() []byte { return info })
	if err != nil {
		s.log.Warn("session not visible to watchers", "err", err)
		stopInfo = func() {}
	}
	stopInfo = sync.OnceFunc(stopInfo)
	defer stopInfo() // also when the session panics
	s.log.Info("session opened", "client", s.client)
	welcome := h.welcome(s)
	token, err := h.resume.issue(s.id)
	if err != nil {
		s.log.Warn("no resume token: the session cannot be resumed", "err", err)
	}
	welcome.ResumeToken = token
	s.run(mustJSON(welcome))
	// No longer live (so the id can be resumed), then tell watchers the
	// stream ended; the same connection keeps that order. Best effort: NATS
	// may be gone.
	stopInfo()
	_ = h.broker.Publish(contract.ResultSubject(contract.KindLive, s.id), mustJSON(contract.Ended{Type: contract.TypeEnded, Session: s.id}))
}

func (h *Hub) serveWatcher(s *session) {
	h.metrics.WatchersOpen.Add(1)
	defer h.metrics.WatchersOpen.Add(-1)
	if err := h.checkWatchable(s.watching); err != nil {
		code := codeOf(err)
		h.metrics.CountError(code)
		s.enqueue(encodeError(0, code))
		row, _ := contract.LookupError(code)
		s.close(contract.CloseUnknownSession, row.Message)
		s.run(nil)
		return
	}
	stop, err := h.broker.Subscribe(contract.ResultSubject(contract.KindLive, s.watching), func(msg []byte) {
		if out := watchedMessage(s.watching, msg); out != nil {
			s.enqueue(out)
		} else {
			h.metrics.WatchedDiscarded.Add(1)
			s.log.Warn("discarded a message on the watched results subject: not a result, error or ended of the session", "bytes", len(msg))
		}
	})
	if err != nil {
		s.enqueue(encodeError(0, contract.CodeUnavailable))
		s.close(contract.CloseGoingAway, contract.CloseTextCannotWatch)
		s.run(nil)
		return
	}
	defer stop()
	s.log.Info("watcher opened", "watching", s.watching)
	s.run(mustJSON(h.welcome(s)))
}

// welcome is the first message of s (a streamer's gets its resume token
// too): the models served now and, for a streamer, the model its frames go
// to (the default one, until it picks another).
func (h *Hub) welcome(s *session) contract.Welcome {
	w := contract.Welcome{
		Type: contract.TypeWelcome, Session: s.id, Watching: s.watching, Protocol: contract.ProtocolVersion,
		MaxFrameBytes: h.cfg.MaxFrameBytes, FramesInFlight: h.cfg.FramesInFlight,
		FrameTimeoutMs: h.cfg.FrameTimeout.Milliseconds(), Recording: h.cfg.Record && s.watching == "",
		Models: h.models.summariesFor(s.grant.Models),
	}
	if s.watching == "" {
		name, version := s.frames.currentModel()
		if target, err := h.models.lookupFor(name, version, s.grant.Models); err == nil {
			w.Model = target.Ref()
		}
	}
	return w
}

// watchedMessage is what a watcher gets for a message on the watched
// session's results subject: a result or the end of that session as
// published, a worker's error worded by the contract, and nothing (nil) for
// anything else, so that a message forged or garbled on the bus never
// reaches a browser.
func watchedMessage(watching string, msg []byte) []byte {
	var m struct {
		replyHead
		Session     string                `json:"session"`
		Predictions []contract.Prediction `json:"predictions"`
	}
	if err := json.Unmarshal(msg, &m); err != nil {
		return nil
	}
	switch {
	case m.Type == contract.TypeResult && m.Session == watching && len(m.Predictions) > 0:
		return msg
	case m.Type == contract.TypeError:
		return encodeError(m.Seq, publicCode(m.Code))
	case m.Type == contract.TypeEnded && m.Session == watching:
		return mustJSON(contract.Ended{Type: contract.TypeEnded, Session: watching})
	}
	return nil
}

// sessionID gives a new connection its id: the one it asks to resume when
// that id is well formed, the token is the session's latest one and the id
// is not live on any hub (its tab reconnecting after a network blip or a
// hub restart, so that its watchers keep following it), otherwise a fresh
// one. The id alone (what every watch link carries) resumes nothing.
func (h *Hub) sessionID(resume, token string) string {
	if resume == "" || !sessionid.Valid(resume) {
		return sessionid.New()
	}
	if err := h.resume.check(resume, token); err != nil {
		h.log.Info("resume refused: a fresh session id instead", "session", resume, "err", err)
		return sessionid.New()
	}
	ctx, cancel := context.WithTimeout(context.Background(), watchLookupTimeout)
	defer cancel()
	if live, err := h.broker.Exists(ctx, contract.SessionInfoSubject(resume)); err != nil || live {
		return sessionid.New()
	}
	return resume
}

// checkWatchable returns nil when id is a live session on some hub.
func (h *Hub) checkWatchable(id string) error {
	if !sessionid.Valid(id) {
		return fmt.Errorf("malformed session id: %w", ErrUnknownSession)
	}
	ctx, cancel := context.WithTimeout(context.Background(), watchLookupTimeout)
	defer cancel()
	ok, err := h.broker.Exists(ctx, contract.SessionInfoSubject(id))
	if err != nil {
		return err
	}
	if !ok {
		return ErrUnknownSession
	}
	return nil
}

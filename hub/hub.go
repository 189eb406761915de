package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.opentelemetry.io/otel/trace"

	"github.com/webcamhub/webcamhub/contract"
	"github.com/webcamhub/webcamhub/hub/internal/embeddednats"
)

// Hub is a running hub: its NATS (embedded or not), its broker connection,
// its HTTP app and its sessions.
type Hub struct {
	cfg     Config
	log     *slog.Logger
	metrics *Metrics
	tracer  trace.Tracer // from the process's provider: no-op unless tracing is on
	broker  *natsBroker
	resume  *resumeTokens
	embed   *embeddednats.Server
	app     *fiber.App
	https   *httpsServing                // nil: plain HTTP (http_tls.go)
	origins atomic.Pointer[originPolicy] // set by Serve, from its listener
	clients *clientLimits
	auth    *authenticator // nil: anyone may stream and call the API (auth.go)
	// models: the model-versions the workers serve now (model_table.go).
	models *modelTable
	// dispatch sends frames to workers with room, or sheds them (frame_dispatch.go).
	dispatch *dispatcher
	// metricsServer serves /metrics apart from app, on cfg.MetricsAddr (http_metrics.go).
	metricsServer *http.Server

	mu           sync.Mutex
	sessions     map[*session]struct{}
	shuttingDown bool
	sessionsDone sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// New starts what the hub stands on (the embedded NATS server unless
// cfg.NATSURL is set, the NATS connection, the recording streams: made
// when asked, not capturing otherwise)
// and builds the HTTP app. Serve or Run then takes connections.
func New(cfg Config, log *slog.Logger) (*Hub, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	metrics := NewMetrics()
	https, err := newHTTPS(cfg, log, metrics) // before anything starts: a bad certificate stops the hub here
	if err != nil {
		return nil, err
	}
	auth, err := newAuthenticator(context.Background(), cfg.AuthConfig, log) // also before anything starts
	if err != nil {
		return nil, err
	}
	h := &Hub{cfg: cfg, log: log, metrics: metrics, tracer: tracer(), sessions: map[*session]struct{}{},
		clients: newClientLimits(cfg.MaxConnsPerClient, cfg.ConnectRatePerClient), https: https, auth: auth}
	h.metricsServer = newMetricsServer(cfg, h.metrics)
	warnOpenings(cfg, log)
	auth.logMode(cfg, log)
	var login natsLogin
	if cfg.Embedded() {
		srv, l, err := h.startEmbedded()
		if err != nil {
			return nil, err
		}
		h.embed, login = srv, l
	} else {
		l, err := externalLogin(cfg)
		if err != nil {
			return nil, err
		}
		login = l
	}
	h.models = newModelTable(cfg.DefaultModel)
	broker, err := connectNATS(login, "webcam-hub", log, h.models, func() { h.metrics.NATSPermissionViolations.Add(1) })
	if err != nil {
		h.shutdownEmbedded()
		return nil, err
	}
	h.broker = broker
	metrics.broker.Store(broker)
	h.resume = &resumeTokens{nc: broker.nc, replicas: cfg.JSReplicas}
	broker.recordFrames = cfg.Record
	broker.sentMessage = h.metrics.ObserveFramesPerMessage
	h.dispatch = newDispatcher(broker, h.models, cfg.DispatchWait, h.tracer, h.metrics)
	err = h.checkPayloadLimit(broker)
	if err == nil {
		err = h.checkJSReplicas(broker)
	}
	if err != nil {
		_ = broker.Close()
		h.shutdownEmbedded()
		return nil, err
	}
	if broker.Connected() {
		if err := setUpRecording(broker.nc, cfg, log); err != nil {
			_ = broker.Close()
			h.shutdownEmbedded()
			return nil, err
		}
	} else {
		// NATS is not there yet (or refuses the credentials, which the log
		// and /readyz say): the streams are set up once it lets us in.
		broker.onFirstConnect(func() {
			if err := setUpRecording(broker.nc, cfg, log); err != nil {
				log.Error("the recording streams could not be set up", "record", cfg.Record, "err", err)
			}
		})
	}
	h.app = h.routes()
	return h, nil
}

// checkPayloadLimit refuses a max frame size that the NATS server would
// refuse to carry, once the connection knows the server's limit.
func (h *Hub) checkPayloadLimit(b *natsBroker) error {
	if !b.nc.IsConnected() {
		return nil // checked by the server itself once connected; frames get "internal" then
	}
	if limit := b.nc.MaxPayload(); int64(h.cfg.MaxFrameBytes)+natsHeaderRoom > limit {
		return fmt.Errorf("%w: max frame bytes %d does not fit the NATS server's max_payload %d (less %d for headers): lower HUB_MAX_FRAME_BYTES or raise max_payload",
			ErrInvalidConfig, h.cfg.MaxFrameBytes, limit, natsHeaderRoom)
	}
	return nil
}

// checkJSReplicas refuses more JetStream replicas than the NATS servers
// the connection knows of (those configured and those the cluster
// announced): JetStream could not place them, and every stream the hub
// makes would fail later, far from the cause.
func (h *Hub) checkJSReplicas(b *natsBroker) error {
	if h.cfg.JSReplicas <= 1 || !b.nc.IsConnected() {
		return nil // not connected: JetStream says so when the streams are made
	}
	if servers := b.nc.Servers(); h.cfg.JSReplicas > len(servers) {
		for i, u := range servers {
			servers[i] = redactURL(u)
		}
		return fmt.Errorf("%w: HUB_JS_REPLICAS=%d but the NATS cluster has %d server(s) (%s): lower HUB_JS_REPLICAS or add servers",
			ErrInvalidConfig, h.cfg.JSReplicas, len(servers), strings.Join(servers, ", "))
	}
	return nil
}

// Metrics returns the hub's counters.
func (h *Hub) Metrics() *Metrics { return h.metrics }

// Serve takes HTTP connections on ln until Close.
func (h *Hub) Serve(ln net.Listener) error {
	policy := newOriginPolicy(h.cfg, ln.Addr())
	h.origins.Store(&policy)
	h.log.Info("hub listening", "addr", ln.Addr().String(), "scheme", h.cfg.httpScheme(), "static_dir", h.cfg.StaticDir)
	return h.app.Listener(h.https.wrap(ln))
}

// Run serves cfg.Listen until ctx is done, then shuts down gracefully.
func Run(ctx context.Context, cfg Config, log *slog.Logger) (err error) {
	stopTracing, err := startTracing(ctx, cfg)
	if err != nil {
		return err
	}
	if cfg.Tracing {
		log.Info("tracing on: spans exported over OTLP")
	}
	defer func() {
		// Last: the spans of the sessions closed at shutdown are exported too.
		flushCtx, cancel := context.WithTimeout(context.Background(), tracingFlushTimeout)
		defer cancel()
		if ferr := stopTracing(flushCtx); ferr != nil {
			log.Warn("trace export at exit failed", "err", ferr)
		}
	}()
	h, err := New(cfg, log)
	if err != nil {
		return err
	}
	ln, err := h.listen()
	if err != nil {
		_ = h.Close()
		return err
	}
	metricsLn, err := h.listenMetrics()
	if err != nil {
		_ = ln.Close()
		_ = h.Close()
		return err
	}
	served := make(chan error, 2)
	go func() { served <- serveErr("serving HTTP", h.Serve(ln)) }()
	if metricsLn != nil {
		go func() { served <- serveErr("serving metrics", h.ServeMetrics(metricsLn)) }()
	}
	select {
	case <-ctx.Done():
		log.Info("shutting down", "cause", context.Cause(ctx))
		return h.Close()
	case err := <-served:
		_ = h.Close()
		return err
	}
}

// serveErr says which server stopped before shutdown, and why (a server
// that stopped without an error stopped all the same).
func serveErr(what string, err error) error {
	if err == nil {
		return fmt.Errorf("%s: stopped", what)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Close shuts the hub down in order: stop taking sessions, close the open
// ones with "going away", stop the HTTP server and the metrics server, drain
// NATS, stop the embedded server. It is safe to call more than once.
func (h *Hub) Close() error {
	h.closeOnce.Do(func() {
		deadline := time.Now().Add(h.cfg.ShutdownTimeout)
		h.mu.Lock()
		h.shuttingDown = true
		open := make([]*session, 0, len(h.sessions))
		for s := range h.sessions {
			open = append(open, s)
		}
		h.mu.Unlock()
		for _, s := range open {
			s.close(contract.CloseGoingAway, contract.CloseTextShuttingDown)
		}
		if !waitTimeout(&h.sessionsDone, time.Until(deadline)) {
			h.log.Warn("sessions still open at shutdown deadline")
		}
		if h.app != nil {
			ctx, cancel := context.WithDeadline(context.Background(), deadline)
			if err := h.app.ShutdownWithContext(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				h.closeErr = fmt.Errorf("stopping HTTP server: %w", err)
			}
			h.https.close(ctx)
			cancel()
		}
		if h.metricsServer != nil {
			ctx, cancel := context.WithDeadline(context.Background(), deadline)
			h.closeMetrics(ctx)
			cancel()
		}
		if h.broker != nil {
			_ = h.broker.Close()
		}
		h.shutdownEmbedded()
		h.auth.close()
		h.log.Info("hub stopped")
	})
	return h.closeErr
}

func (h *Hub) shutdownEmbedded() {
	if h.embed != nil {
		h.embed.Shutdown()
	}
}

// addSession registers s; false when the hub is shutting down or full.
func (h *Hub) addSession(s *session) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.shuttingDown || len(h.sessions) >= h.cfg.MaxSessions {
		return false
	}
	h.sessions[s] = struct{}{}
	h.sessionsDone.Add(1)
	return true
}

func (h *Hub) removeSession(s *session) {
	h.mu.Lock()
	delete(h.sessions, s)
	h.mu.Unlock()
	h.sessionsDone.Done()
}

// acceptingSessions reports whether a new session would be taken now.
func (h *Hub) acceptingSessions() (ok bool, reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.shuttingDown:
		return false, "the hub is shutting down"
	case len(h.sessions) >= h.cfg.MaxSessions:
		return false, "the hub holds as many sessions as it may"
	}
	return true, ""
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

package hub

import (
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/webcamhub/webcamhub/contract"
	"github.com/webcamhub/webcamhub/hub/internal/embeddednats"
)

// Frame outcomes, the label of hub_frame_duration_seconds: every frame the
// hub takes ends in exactly one of them.
const (
	OutcomeResult  = "result"  // a worker's result went to the client
	OutcomeError   = "error"   // an error answer (the hub's or a worker's), by code in hub_errors_total
	OutcomeDropped = "dropped" // superseded by a newer frame while it waited for a slot
)

// Outcomes of one NATS request, the label of hub_nats_request_duration_seconds.
const (
	natsReplied = "reply" // a worker answered (a result or an error)
	natsFailed  = "error" // timeout, no responders, not connected
)

// latencyBuckets (seconds) span a frame's life: a queued-then-batched
// classification takes 5–200 ms on CPU; the top buckets reach the default
// frame timeout (3 s) and beyond, so timeouts land in a bucket of their own.
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Metrics are the hub's instruments, served at /metrics on the operator's
// address (HUB_METRICS_ADDR, http_metrics.go) by the Prometheus Go client from a registry of the hub's own (with the Go runtime and process
// collectors). Their names and meanings are listed in docs/metrics.md.
type Metrics struct {
	registry *prometheus.Registry

	SessionsOpen      prometheus.Gauge
	WatchersOpen      prometheus.Gauge
	SessionsTotal     prometheus.Counter
	SessionsRefused   prometheus.Counter
	FramesReceived    prometheus.Counter
	Dropped           prometheus.Counter
	Shed              prometheus.Counter
	SlowClientsClosed prometheus.Counter
	APIRequests       prometheus.Counter
	// NATSPermissionViolations counts publishes and subscribes of this hub's
	// own NATS connection that the server refused (a role missing a permission).
	NATSPermissionViolations prometheus.Counter
	// WatchedDiscarded counts messages on a watched results subject that
	// were not a result, error or ended of the session (forged or garbled).
	WatchedDiscarded prometheus.Counter
	// Clients the embedded NATS server refused, by kind: wrong or missing
	// credentials, and publishes or subscribes outside a client's permissions.
	natsRefused *prometheus.CounterVec
	// authRefused counts sessions and API requests refused for want of an
	// accepted API key or JWT, by reason (auth.go).
	authRefused *prometheus.CounterVec

	// Connections closed with 4029 rate_limited, by the close text's case
	// (x-close-codes texts): control messages, frames, connections.
	rateLimitedClosed *prometheus.CounterVec
	rateLimitedByText map[string]prometheus.Counter // close text -> its case's series
	errors            *prometheus.CounterVec        // code
	closes            *prometheus.CounterVec        // WebSocket close code
	results           *prometheus.CounterVec        // model, version
	frames            *prometheus.HistogramVec      // outcome, model, version
	natsRequest       *prometheus.HistogramVec      // outcome, model, version
	queued            prometheus.Histogram
	framesPerMessage  prometheus.Histogram
	api               *prometheus.HistogramVec // HTTP status

	// tlsCertExpiry is the NotAfter of the certificate the hub serves (HTTPS
	// only: no series on a plain-HTTP hub, so no alert mistakes it for expired).
	tlsCertExpiry *prometheus.GaugeVec
	// broker is the hub's NATS connection once made, read by the gauges
	// hub_nats_connected and hub_workers when scraped.
	broker atomic.Pointer[natsBroker]

	// The per-frame series of each model-version, looked up once rather
	// than by label on every frame; at most maxModelLabels of them, then
	// one for all others (modelSeriesOf).
	modelMu  sync.RWMutex
	byModel  map[modelTarget]*modelSeries
	noModel  *modelSeries // frames answered before a model-version was picked
	anyOther *modelSeries
}

// maxModelLabels bounds the model-versions the frame metrics tell apart:
// each costs a histogram per outcome (about 60 series); a repository
// rolled out every day still fits, and a worker cannot grow the hub's
// metrics without bound. Past it, model-versions share the labels `other`.
const maxModelLabels = 32

// Label values of frames without a model-version, and of those past maxModelLabels.
const (
	modelLabelNone  = "none"
	modelLabelOther = "other"
)

// modelSeries are the per-frame series of one model-version.
type modelSeries struct {
	frameBy   map[string]prometheus.Observer // outcome
	replied   prometheus.Observer
	reqFailed prometheus.Observer
	results   prometheus.Counter
}

func (m *Metrics) newModelSeries(model, version string) *modelSeries {
	ms := &modelSeries{frameBy: map[string]prometheus.Observer{}}
	for _, o := range []string{OutcomeResult, OutcomeError, OutcomeDropped} {
		ms.frameBy[o] = m.frames.WithLabelValues(o, model, version)
	}
	ms.replied = m.natsRequest.WithLabelValues(natsReplied, model, version)
	ms.reqFailed = m.natsRequest.WithLabelValues(natsFailed, model, version)
	ms.results = m.results.WithLabelValues(model, version)
	return ms
}

// modelSeriesOf is the series of frames sent to t (none: the zero target).
func (m *Metrics) modelSeriesOf(t modelTarget) *modelSeries {
	if t.Name == "" {
		return m.noModel
	}
	t.Pinned = false
	m.modelMu.RLock()
	ms := m.byModel[t]
	m.modelMu.RUnlock()
	if ms != nil {
		return ms
	}
	m.modelMu.Lock()
	defer m.modelMu.Unlock()
	if ms = m.byModel[t]; ms != nil {
		return ms
	}
	if len(m.byModel) >= maxModelLabels {
		return m.anyOther
	}
	ms = m.newModelSeries(t.Name, strconv.Itoa(t.Version))
	m.byModel[t] = ms
	return ms
}

// NewMetrics registers the hub's instruments in a registry of their own.
func NewMetrics() *Metrics {
	r := prometheus.NewRegistry()
	f := factory{r}
	m := &Metrics{
		registry:          r,
		SessionsOpen:      f.gauge("hub_sessions_open", "Streaming WebSocket sessions open now."),
		WatchersOpen:      f.gauge("hub_watchers_open", "Watching WebSocket connections open now."),
		SessionsTotal:     f.counter("hub_sessions_total", "WebSocket connections accepted."),
		SessionsRefused:   f.counter("hub_sessions_refused_total", "WebSocket connections refused (origin, limit, bad watch id)."),
		FramesReceived:    f.counter("hub_frames_received_total", "Frames received from clients."),
		Dropped:           f.counter("hub_frames_dropped_total", "Frames answered dropped because a newer frame superseded them."),
		Shed:              f.counter("hub_frames_shed_total", "Frames answered dropped (overloaded) because every worker stayed full."),
		SlowClientsClosed: f.counter("hub_slow_clients_closed_total", "Connections closed because the client did not read."),
		APIRequests:       f.counter("hub_api_requests_total", "POST /api/v1/analyze requests."),
		NATSPermissionViolations: f.counter("hub_nats_permission_violations_total",
			"Publishes and subscribes of this hub that its NATS server refused."),
		WatchedDiscarded: f.counter("hub_watched_discarded_total",
			"Messages on a watched session's results subject that were not a result, error or ended of it, not forwarded."),
		natsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hub_nats_refused_total", Help: "Clients the embedded NATS server refused, by kind.",
		}, []string{"kind"}),
		authRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hub_auth_refused_total", Help: "Sessions and API requests refused for want of an accepted API key or JWT, by reason.",
		}, []string{"reason"}),
		rateLimitedClosed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hub_rate_limited_closed_total", Help: "Connections closed with 4029 rate_limited, by why (the close text's case).",
		}, []string{"reason"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hub_errors_total", Help: "Error answers by code.",
		}, []string{"code"}),
		closes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hub_connections_closed_total", Help: "WebSocket connections closed, by close code (1006: the connection failed under the hub).",
		}, []string{"code"}),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hub_results_total", Help: "Results returned to clients, by model and version.",
		}, []string{"model", "version"}),
		frames: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hub_frame_duration_seconds", Help: "A frame's round trip in the hub, from receipt to its answer queued for the client, by outcome, model and version.",
			Buckets: latencyBuckets,
		}, []string{"outcome", "model", "version"}),
		natsRequest: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hub_nats_request_duration_seconds", Help: "One frame's NATS request to the workers, until the reply or the failure, by outcome, model and version.",
			Buckets: latencyBuckets,
		}, []string{"outcome", "model", "version"}),
		queued: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "hub_frame_queue_seconds", Help: "Time a frame waited in the hub for one of its session's slots before its request (0 when a slot was free).",
			Buckets: append([]float64{0}, latencyBuckets...),
		}),
		framesPerMessage: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "hub_frames_per_message", Help: "Frames in each message the hub sent to the workers: 1 for a frame sent alone, more for a batch (docs/dispatch.md).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64},
		}),
		api: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hub_api_request_duration_seconds", Help: "POST /api/v1/analyze requests, by HTTP status.",
			Buckets: latencyBuckets,
		}, []string{"status"}),
	}
	// Which build runs: one series, always 1 (join on it to label other series).
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "hub_build_info", Help: "The hub's version (hub -version) and the Go version it was built with; always 1.",
		ConstLabels: prometheus.Labels{"version": Version, "go_version": runtime.Version()},
	})
	buildInfo.Set(1)
	m.tlsCertExpiry = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "hub_tls_cert_expiry_timestamp_seconds",
		Help: "When the certificate the hub serves over HTTPS expires (Unix seconds); no series without HTTPS.",
	}, nil)
	natsConnected := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hub_nats_connected", Help: "1 while the hub's NATS connection is up, 0 while it is down or reconnecting.",
	}, func() float64 {
		if b := m.broker.Load(); b != nil && b.Connected() {
			return 1
		}
		return 0
	})
	workers := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hub_workers", Help: "Inference workers that answered the hub's last ping of the inference service (busy ones included).",
	}, func() float64 {
		if b := m.broker.Load(); b != nil {
			return float64(b.workersSeen.Load())
		}
		return 0
	})
	r.MustRegister(buildInfo, m.natsRefused, m.authRefused, m.rateLimitedClosed, m.errors, m.closes, m.results, m.frames, m.natsRequest, m.queued, m.framesPerMessage, m.api,
		m.tlsCertExpiry, natsConnected, workers,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Every label value exists from the start, so rates and alerts see a 0
	// rather than no series.
	for _, kind := range []string{embeddednats.ViolationAuthentication, embeddednats.ViolationPermission} {
		m.natsRefused.WithLabelValues(kind)
	}
	for _, reason := range authReasons {
		m.authRefused.WithLabelValues(reason)
	}
	for _, row := range contract.ErrorCodes {
		m.errors.WithLabelValues(row.Code)
	}
	for _, row := range contract.CloseCodes {
		m.closes.WithLabelValues(strconv.Itoa(row.Code))
	}
	m.closes.WithLabelValues(strconv.Itoa(closeAbnormal))
	m.rateLimitedByText = map[string]prometheus.Counter{}
	for _, row := range contract.CloseCodes {
		if row.Code == contract.CloseRateLimited {
			for reason, text := range row.Texts {
				m.rateLimitedByText[text] = m.rateLimitedClosed.WithLabelValues(reason)
			}
		}
	}
	m.byModel = map[modelTarget]*modelSeries{}
	m.noModel = m.newModelSeries(modelLabelNone, modelLabelNone)
	m.anyOther = m.newModelSeries(modelLabelOther, modelLabelOther)
	return m
}

// Registry is where the hub's metrics live (tests gather from it).
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// CountNATSRefusal counts one client refused by the embedded NATS server.
func (m *Metrics) CountNATSRefusal(kind string) {
	if kind != embeddednats.ViolationAuthentication {
		kind = embeddednats.ViolationPermission
	}
	m.natsRefused.WithLabelValues(kind).Inc()
}

// CountAuthRefusal counts one session or API request refused by the
// authenticator, with one of authReasons.
func (m *Metrics) CountAuthRefusal(reason string) {
	m.authRefused.WithLabelValues(reason).Inc()
}

// CountError counts one error answer with code; a code the hub does not
// know (from a misbehaving worker) is counted as internal, so a worker
// cannot make the label set grow.
func (m *Metrics) CountError(code string) {
	row, _ := contract.LookupError(code)
	m.errors.WithLabelValues(row.Code).Inc()
}

// CountClose counts one closed WebSocket connection.
func (m *Metrics) CountClose(code int) {
	m.closes.WithLabelValues(strconv.Itoa(code)).Inc()
}

// CountRateLimitedClose counts one connection closed with 4029 and text
// (a CloseText* of CloseRateLimited).
func (m *Metrics) CountRateLimitedClose(text string) {
	if c, ok := m.rateLimitedByText[text]; ok {
		c.Inc()
	}
}

// ObserveFrame records a frame's round trip, from received to answered,
// by the model-version it was sent to (zero: none).
func (m *Metrics) ObserveFrame(outcome string, sentTo modelTarget, d time.Duration) {
	m.modelSeriesOf(sentTo).frameBy[outcome].Observe(d.Seconds())
}

// CountResult counts one result of sentTo returned to a client.
func (m *Metrics) CountResult(sentTo modelTarget) { m.modelSeriesOf(sentTo).results.Inc() }

// ObserveRequest records one NATS request of a frame sent to sentTo.
func (m *Metrics) ObserveRequest(err error, sentTo modelTarget, d time.Duration) {
	ms := m.modelSeriesOf(sentTo)
	if err != nil {
		ms.reqFailed.Observe(d.Seconds())
		return
	}
	ms.replied.Observe(d.Seconds())
}

// ObserveQueued records how long a frame waited for a slot.
func (m *Metrics) ObserveQueued(d time.Duration) { m.queued.Observe(d.Seconds()) }

// ObserveFramesPerMessage records one message sent to the workers with its frames.
func (m *Metrics) ObserveFramesPerMessage(frames int) { m.framesPerMessage.Observe(float64(frames)) }

// ObserveAPI records one analyze API request with its HTTP status.
func (m *Metrics) ObserveAPI(status int, d time.Duration) {
	m.api.WithLabelValues(strconv.Itoa(status)).Observe(d.Seconds())
}

// handler serves the registry in the exposition format the scraper asks
// for (text, or OpenMetrics), through promhttp.
func (m *Metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		EnableOpenMetrics: true,
		ErrorHandling:     promhttp.ContinueOnError,
	})
}

// observeTLSCert records the expiry of the certificate just served.
func (m *Metrics) observeTLSCert(notAfter time.Time) {
	m.tlsCertExpiry.WithLabelValues().Set(float64(notAfter.Unix()))
}

// factory makes and registers the plain counters and gauges.
type factory struct{ r *prometheus.Registry }

func (f factory) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	f.r.MustRegister(c)
	return c
}

func (f factory) gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	f.r.MustRegister(g)
	return g
}

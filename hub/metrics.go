package hub

import (
	"net/http"
	"runtime"
	"strconv"
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
	Results           prometheus.Counter
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
	frames            *prometheus.HistogramVec      // outcome
	natsRequest       *prometheus.HistogramVec      // outcome
	queued            prometheus.Histogram
	api               *prometheus.HistogramVec // HTTP status

	// tlsCertExpiry is the NotAfter of the certificate the hub serves (HTTPS
	// only: no series on a plain-HTTP hub, so no alert mistakes it for expired).
	tlsCertExpiry *prometheus.GaugeVec
	// broker is the hub's NATS connection once made, read by the gauges
	// hub_nats_connected and hub_workers when scraped.
	broker atomic.Pointer[natsBroker]

	// The per-frame series, looked up once rather than by label on every frame.
	frameBy   map[string]prometheus.Observer // outcome
	replied   prometheus.Observer
	reqFailed prometheus.Observer
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
		Results:           f.counter("hub_results_total", "Results returned to clients."),
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
		frames: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hub_frame_duration_seconds", Help: "A frame's round trip in the hub, from receipt to its answer queued for the client, by outcome.",
			Buckets: latencyBuckets,
		}, []string{"outcome"}),
		natsRequest: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hub_nats_request_duration_seconds", Help: "One frame's NATS request to the workers, until the reply or the failure, by outcome.",
			Buckets: latencyBuckets,
		}, []string{"outcome"}),
		queued: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "hub_frame_queue_seconds", Help: "Time a frame waited in the hub for one of its session's slots before its request (0 when a slot was free).",
			Buckets: append([]float64{0}, latencyBuckets...),
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
	r.MustRegister(buildInfo, m.natsRefused, m.authRefused, m.rateLimitedClosed, m.errors, m.closes, m.frames, m.natsRequest, m.queued, m.api,
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
	m.frameBy = map[string]prometheus.Observer{}
	for _, o := range []string{OutcomeResult, OutcomeError, OutcomeDropped} {
		m.frameBy[o] = m.frames.WithLabelValues(o)
	}
	m.replied = m.natsRequest.WithLabelValues(natsReplied)
	m.reqFailed = m.natsRequest.WithLabelValues(natsFailed)
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

// ObserveFrame records a frame's round trip, from received to answered.
func (m *Metrics) ObserveFrame(outcome string, d time.Duration) {
	m.frameBy[outcome].Observe(d.Seconds())
}

// ObserveRequest records one NATS request of a frame.
func (m *Metrics) ObserveRequest(err error, d time.Duration) {
	if err != nil {
		m.reqFailed.Observe(d.Seconds())
		return
	}
	m.replied.Observe(d.Seconds())
}

// ObserveQueued records how long a frame waited for a slot.
func (m *Metrics) ObserveQueued(d time.Duration) { m.queued.Observe(d.Seconds()) }

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

package hub

import (
	"fmt"
	"io"
	"sync/atomic"

	"github.com/webcamhub/webcamhub/hub/contract"
	"github.com/webcamhub/webcamhub/hub/internal/embeddednats"
)

// Metrics are the hub's counters, served at /metrics in the Prometheus text
// format. Every frame ends in exactly one of results, errors or dropped.
type Metrics struct {
	SessionsOpen      atomic.Int64
	WatchersOpen      atomic.Int64
	SessionsTotal     atomic.Int64
	FramesReceived    atomic.Int64
	Results           atomic.Int64
	Dropped           atomic.Int64
	Shed              atomic.Int64
	SlowClientsClosed atomic.Int64
	SessionsRefused   atomic.Int64
	// errorsByCode counts error answers in the order of contract.ErrorCodes
	// (an unknown code counts as internal).
	errorsByCode [len(contract.ErrorCodes)]atomic.Int64
	APIRequests  atomic.Int64

	// NATSPermissionViolations counts publishes and subscribes of this hub's
	// own NATS connection that the server refused (a role missing a permission).
	NATSPermissionViolations atomic.Int64
	// Clients the embedded NATS server refused: wrong or missing credentials,
	// and publishes or subscribes outside a client's permissions.
	NATSRefusedAuthentication atomic.Int64
	NATSRefusedPermission     atomic.Int64
	// WatchedDiscarded counts messages on a watched results subject that
	// were not a result, error or ended of the session (forged or garbled).
	WatchedDiscarded atomic.Int64
}

// CountNATSRefusal counts one client refused by the embedded NATS server.
func (m *Metrics) CountNATSRefusal(kind string) {
	if kind == embeddednats.ViolationAuthentication {
		m.NATSRefusedAuthentication.Add(1)
	} else {
		m.NATSRefusedPermission.Add(1)
	}
}

// CountError counts one error answer with code.
func (m *Metrics) CountError(code string) {
	m.errorsByCode[contract.ErrorIndex(code)].Add(1)
}

// WriteTo writes the counters in the Prometheus text exposition format.
func (m *Metrics) WriteTo(w io.Writer) (int64, error) {
	var n int64
	line := func(format string, args ...any) {
		k, _ := fmt.Fprintf(w, format, args...)
		n += int64(k)
	}
	gauge := func(name, help string, v int64) {
		line("# HELP %s %s\n# TYPE %s gauge\n%s %d\n", name, help, name, name, v)
	}
	counter := func(name, help string, v int64) {
		line("# HELP %s %s\n# TYPE %s counter\n%s %d\n", name, help, name, name, v)
	}
	gauge("hub_sessions_open", "Streaming WebSocket sessions open now.", m.SessionsOpen.Load())
	gauge("hub_watchers_open", "Watching WebSocket connections open now.", m.WatchersOpen.Load())
	counter("hub_sessions_total", "WebSocket connections accepted.", m.SessionsTotal.Load())
	counter("hub_sessions_refused_total", "WebSocket connections refused (origin, limit, bad watch id).", m.SessionsRefused.Load())
	counter("hub_frames_received_total", "Frames received from clients.", m.FramesReceived.Load())
	counter("hub_results_total", "Results returned to clients.", m.Results.Load())
	counter("hub_frames_dropped_total", "Frames answered dropped because a newer frame superseded them.", m.Dropped.Load())
	counter("hub_frames_shed_total", "Frames answered dropped (overloaded) because every worker stayed full.", m.Shed.Load())
	counter("hub_slow_clients_closed_total", "Connections closed because the client did not read.", m.SlowClientsClosed.Load())
	counter("hub_api_requests_total", "POST /api/v1/analyze requests.", m.APIRequests.Load())
	counter("hub_nats_permission_violations_total", "Publishes and subscribes of this hub that its NATS server refused.", m.NATSPermissionViolations.Load())
	counter("hub_watched_discarded_total", "Messages on a watched session's results subject that were not a result, error or ended of it, not forwarded.", m.WatchedDiscarded.Load())
	line("# HELP hub_nats_refused_total Clients the embedded NATS server refused, by kind.\n# TYPE hub_nats_refused_total counter\n")
	line("hub_nats_refused_total{kind=%q} %d\n", embeddednats.ViolationAuthentication, m.NATSRefusedAuthentication.Load())
	line("hub_nats_refused_total{kind=%q} %d\n", embeddednats.ViolationPermission, m.NATSRefusedPermission.Load())
	line("# HELP hub_errors_total Error answers by code.\n# TYPE hub_errors_total counter\n")
	for i, row := range contract.ErrorCodes {
		line("hub_errors_total{code=%q} %d\n", row.Code, m.errorsByCode[i].Load())
	}
	return n, nil
}

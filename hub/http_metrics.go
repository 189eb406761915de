package hub

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// The operator's port: /metrics, and Go profiles when asked for, on
// cfg.MetricsAddr. Never on the public Listen: an Ingress or a load balancer
// sends all of that port to the internet, and metrics tell anyone how busy
// the hub is, how its workers fare and what its clients are refused.

const (
	// metricsReadHeaderTimeout bounds a request's headers: a scraper sends
	// them at once; a client that trickles them must not hold a connection.
	metricsReadHeaderTimeout = 10 * time.Second
	// metricsIdleTimeout outlasts the gap between scrapes (5 s to 1 min), so
	// Prometheus keeps its connection rather than dialling every time.
	metricsIdleTimeout = 2 * time.Minute
)

// newMetricsServer serves m at /metrics and, with cfg.Pprof, the profiles
// of net/http/pprof at /debug/pprof/ (its own mux: never the default one,
// where importing pprof registers them).
func newMetricsServer(cfg Config, m *Metrics) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.handler())
	if cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index) // also serves the named profiles (heap, goroutine, …)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	// No write timeout: a CPU profile or trace takes as long as it is asked to.
	return &http.Server{Handler: mux, ReadHeaderTimeout: metricsReadHeaderTimeout, IdleTimeout: metricsIdleTimeout}
}

// listenMetrics opens cfg.MetricsAddr; nil when metrics are off.
func (h *Hub) listenMetrics() (net.Listener, error) {
	if h.cfg.MetricsAddr == "" {
		h.log.Info("metrics not served: HUB_METRICS_ADDR is empty")
		return nil, nil
	}
	ln, err := net.Listen("tcp", h.cfg.MetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("listening for metrics on %s: %w", h.cfg.MetricsAddr, err)
	}
	return ln, nil
}

// ServeMetrics serves /metrics (and pprof with cfg.Pprof) on ln until Close.
func (h *Hub) ServeMetrics(ln net.Listener) error {
	addr := ln.Addr().String()
	h.log.Info("metrics listening", "addr", addr, "path", "/metrics", "pprof", h.cfg.Pprof)
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && !tcp.IP.IsLoopback() {
		h.log.Warn("metrics are served beyond this machine: keep the address away from the internet", "addr", addr)
	}
	if h.cfg.Pprof {
		h.log.Warn("Go profiles are served at /debug/pprof/ on the metrics address (HUB_PPROF)", "addr", addr)
	}
	if err := h.metricsServer.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// closeMetrics stops the metrics server: scrapes under way may finish until
// ctx ends, then their connections are cut.
func (h *Hub) closeMetrics(ctx context.Context) {
	if err := h.metricsServer.Shutdown(ctx); err != nil {
		_ = h.metricsServer.Close()
	}
}

// checkMetrics: a metrics address must parse and must not be the public
// port; pprof is served on it, so it needs one.
func (c Config) checkMetrics() []string {
	if c.MetricsAddr == "" {
		if c.Pprof {
			return []string{"pprof is served on the metrics address: set HUB_METRICS_ADDR too"}
		}
		return nil
	}
	_, port, err := net.SplitHostPort(c.MetricsAddr)
	if err != nil {
		return []string{fmt.Sprintf("metrics address %q: %v", c.MetricsAddr, err)}
	}
	if _, listenPort, err := net.SplitHostPort(c.Listen); err == nil && port == listenPort && port != "0" {
		return []string{fmt.Sprintf("metrics address %q: port %s is the public listen port; metrics must be served apart from it", c.MetricsAddr, port)}
	}
	return nil
}

package hub

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/webcamhub/webcamhub/hub/internal/certreload"
	"github.com/webcamhub/webcamhub/hub/internal/tlssniff"
)

// httpsServing is what the hub needs to serve HTTPS on its listen address:
// the TLS settings, and for ACME the plain-HTTP challenge server (http_acme.go).
type httpsServing struct {
	tls       *tls.Config
	challenge *http.Server // HTTP-01 answers on cfg.ACMEHTTPAddr; nil without
}

// newHTTPS reads and checks what HTTPS needs (the certificate pair, the
// ACME CA bundle) so that a bad file stops the hub before it listens. Nil
// for a plain-HTTP hub.
func newHTTPS(cfg Config, log *slog.Logger, metrics *Metrics) (*httpsServing, error) {
	if !cfg.ServesHTTPS() {
		return nil, nil
	}
	tc := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Fasthttp speaks HTTP/1.1 only: never let a browser pick h2.
		NextProtos: []string{"http/1.1"},
	}
	if cfg.TLSCert == "" {
		s, err := newACMEServing(cfg, tc, log)
		if err == nil {
			recordCertExpiry(tc, metrics)
		}
		return s, err
	}
	reloader, err := certreload.New(cfg.TLSCert, cfg.TLSKey, func(err error) {
		if err != nil {
			log.Error("the TLS certificate files changed but do not load; still serving the previous certificate", "err", err)
			return
		}
		log.Info("TLS certificate reloaded", certAttrs(cfg.TLSCert, nil)...)
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	tc.GetCertificate = reloader.GetCertificate
	recordCertExpiry(tc, metrics)
	if cert := reloader.Certificate(); cert != nil && cert.Leaf != nil {
		metrics.observeTLSCert(cert.Leaf.NotAfter)
	}
	log.Info("serving HTTPS", certAttrs(cfg.TLSCert, reloader.Certificate())...)
	return &httpsServing{tls: tc}, nil
}

// recordCertExpiry makes each handshake record the expiry of the
// certificate it served (hub_tls_cert_expiry_timestamp_seconds): a reloaded
// or renewed certificate shows at its first use.
func recordCertExpiry(tc *tls.Config, metrics *Metrics) {
	get := tc.GetCertificate
	tc.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		cert, err := get(hello)
		if err == nil && cert != nil && cert.Leaf != nil {
			metrics.observeTLSCert(cert.Leaf.NotAfter)
		}
		return cert, err
	}
}

// certAttrs are the log attributes saying which certificate is served.
func certAttrs(file string, cert *tls.Certificate) []any {
	attrs := []any{"cert", file}
	if cert != nil && cert.Leaf != nil {
		names := append([]string(nil), cert.Leaf.DNSNames...)
		for _, ip := range cert.Leaf.IPAddresses {
			names = append(names, ip.String())
		}
		attrs = append(attrs, "names", strings.Join(names, ","), "not_after", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return attrs
}

// wrap turns the TCP listener into the HTTPS one: TLS, with plain-HTTP
// requests answered in words (tlssniff). A nil h is plain HTTP: ln as it is.
func (s *httpsServing) wrap(ln net.Listener) net.Listener {
	if s == nil {
		return ln
	}
	return tls.NewListener(tlssniff.Wrap(ln), s.tls)
}

// listen opens the hub's listen address and, for ACME with HTTP-01, the
// challenge address: both or neither.
func (h *Hub) listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", h.cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", h.cfg.Listen, err)
	}
	if h.https != nil && h.https.challenge != nil {
		cln, err := net.Listen("tcp", h.cfg.ACMEHTTPAddr)
		if err != nil {
			_ = ln.Close()
			return nil, fmt.Errorf("listening for ACME HTTP-01 challenges on %s: %w", h.cfg.ACMEHTTPAddr, err)
		}
		go h.serveChallenges(cln)
	}
	return ln, nil
}

func (h *Hub) serveChallenges(ln net.Listener) {
	h.log.Info("answering ACME HTTP-01 challenges", "addr", ln.Addr().String())
	if err := h.https.challenge.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		h.log.Error("the ACME HTTP-01 challenge server stopped", "err", err)
	}
}

// close stops the challenge server, if any.
func (s *httpsServing) close(ctx context.Context) {
	if s != nil && s.challenge != nil {
		_ = s.challenge.Shutdown(ctx)
	}
}

// serveCACert serves cfg.ServeCACert at /ca.crt, as a certificate a phone
// offers to install (make run HTTPS=1).
func (h *Hub) serveCACert(app *fiber.App) {
	if h.cfg.ServeCACert == "" {
		return
	}
	app.Get("/ca.crt", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, "application/x-x509-ca-cert")
		c.Set(fiber.HeaderContentDisposition, `attachment; filename="webcamhub-local-ca.crt"`)
		return c.SendFile(h.cfg.ServeCACert)
	})
}

// warnHTTPSOpenings warns of the HTTPS options that open something.
func warnHTTPSOpenings(c Config, log *slog.Logger) {
	if c.ServeCACert != "" {
		log.Warn("the local CA certificate is served at /ca.crt for phones to install (HUB_SERVE_CA_CERT); for development only", "file", c.ServeCACert)
	}
}

package hub

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// acmeRequestTimeout bounds one request to the ACME CA: a CA that does not
// answer fails the handshake that waits for the certificate, rather than
// holding it for ever.
const acmeRequestTimeout = 30 * time.Second

// challengeReadTimeout guards the HTTP-01 port against slow clients: the
// CA's validation request is a small GET.
const challengeReadTimeout = 10 * time.Second

// newACMEServing gets certificates for cfg.ACMEDomains from the ACME CA at
// the first handshake that names one, keeps them in cfg.ACMECacheDir and
// renews them before they expire (autocert). The CA validates the domain
// by TLS-ALPN-01 on the listen address, or HTTP-01 on cfg.ACMEHTTPAddr.
func newACMEServing(cfg Config, tc *tls.Config, log *slog.Logger) (*httpsServing, error) {
	client := &acme.Client{DirectoryURL: cfg.ACMEDirectory, UserAgent: "webcam-hub"}
	if cfg.ACMECAFile != "" {
		pem, err := os.ReadFile(cfg.ACMECAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: ACME CA file: %w", ErrInvalidConfig, err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: ACME CA file %s holds no PEM certificate", ErrInvalidConfig, cfg.ACMECAFile)
		}
		transport := http.DefaultTransport.(*http.Transport).Clone()
		transport.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
		client.HTTPClient = &http.Client{Transport: transport, Timeout: acmeRequestTimeout}
	} else {
		client.HTTPClient = &http.Client{Timeout: acmeRequestTimeout}
	}
	m := &autocert.Manager{
		// -acme-domain is the operator's agreement to the CA's terms (README).
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(cfg.ACMECacheDir),
		HostPolicy: autocert.HostWhitelist(cfg.ACMEDomains...),
		Client:     client,
		Email:      cfg.ACMEEmail,
	}
	tc.GetCertificate = m.GetCertificate
	tc.NextProtos = append(tc.NextProtos, acme.ALPNProto) // TLS-ALPN-01
	s := &httpsServing{tls: tc}
	if cfg.ACMEHTTPAddr != "" {
		// HTTP-01 answers; any other request is redirected to https.
		s.challenge = &http.Server{Handler: m.HTTPHandler(nil), ReadHeaderTimeout: challengeReadTimeout, ReadTimeout: challengeReadTimeout}
	}
	log.Info("serving HTTPS with certificates from ACME, obtained at the first request for each domain",
		"domains", cfg.ACMEDomains, "directory", cfg.ACMEDirectory, "cache_dir", cfg.ACMECacheDir, "http01_addr", cfg.ACMEHTTPAddr)
	return s, nil
}

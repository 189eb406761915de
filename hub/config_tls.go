package hub

import (
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"

	"golang.org/x/crypto/acme"
)

// HTTPSConfig is the HTTPS part of Config: a certificate pair from files, or
// certificates from an ACME CA (Let's Encrypt) for public host names.
// Neither: plain HTTP, as before.
type HTTPSConfig struct {
	TLSCert string // PEM certificate chain served on Listen, with TLSKey; reloaded when the files change
	TLSKey  string

	ACMEDomains   []string // public host names to get certificates for from ACMEDirectory
	ACMEDirectory string   // the ACME CA's directory URL
	ACMECacheDir  string   // where the account key and certificates are kept between runs
	ACMEEmail     string   // contact for the CA's expiry notices; optional
	ACMECAFile    string   // CA bundle (PEM) that signed the ACME directory's own certificate; empty: the system's
	ACMEHTTPAddr  string   // where to answer HTTP-01 challenges (":80"); empty: TLS-ALPN-01 on Listen only

	// ServeCACert is a CA certificate file served at /ca.crt, for phones to
	// install the local CA of `make run HTTPS=1`; empty: no such route.
	ServeCACert string
}

// ServesHTTPS reports whether the hub serves HTTPS on its listen address.
func (c Config) ServesHTTPS() bool { return c.TLSCert != "" || len(c.ACMEDomains) > 0 }

// httpScheme is the scheme of the page's URL: https when the hub serves TLS.
func (c Config) httpScheme() string {
	if c.ServesHTTPS() {
		return "https"
	}
	return "http"
}

// tlsFlags declares the HTTPS flags; the comma-separated ACME domains land
// in acmeDomains for ParseConfig to split.
func (e *envReader) tlsFlags(fs *flag.FlagSet, c *Config, d Config, acmeDomains *string) {
	fs.StringVar(&c.TLSCert, "tls-cert", e.str("HUB_TLS_CERT", ""), "PEM certificate (chain) file: serve the page, /ws and the API over HTTPS on -listen, with -tls-key; reloaded when the file changes (HUB_TLS_CERT)")
	fs.StringVar(&c.TLSKey, "tls-key", e.str("HUB_TLS_KEY", ""), "PEM private key file of -tls-cert (HUB_TLS_KEY)")
	fs.StringVar(acmeDomains, "acme-domain", e.str("HUB_ACME_DOMAIN", ""), "comma-separated public host names: serve HTTPS with certificates from an ACME CA (Let's Encrypt), validated by TLS-ALPN-01 on -listen, which must be port 443 as the internet sees it (HUB_ACME_DOMAIN)")
	fs.StringVar(&c.ACMEDirectory, "acme-directory", e.str("HUB_ACME_DIRECTORY", d.ACMEDirectory), "ACME directory URL (HUB_ACME_DIRECTORY)")
	fs.StringVar(&c.ACMECacheDir, "acme-cache-dir", e.str("HUB_ACME_CACHE_DIR", d.ACMECacheDir), "directory for the ACME account key and certificates (HUB_ACME_CACHE_DIR)")
	fs.StringVar(&c.ACMEEmail, "acme-email", e.str("HUB_ACME_EMAIL", ""), "contact address given to the ACME CA; optional (HUB_ACME_EMAIL)")
	fs.StringVar(&c.ACMECAFile, "acme-ca-file", e.str("HUB_ACME_CA_FILE", ""), "PEM CA bundle that signed the ACME directory's certificate, for a private or test CA; empty: the system's roots (HUB_ACME_CA_FILE)")
	fs.StringVar(&c.ACMEHTTPAddr, "acme-http-addr", e.str("HUB_ACME_HTTP_ADDR", ""), "also answer HTTP-01 challenges here, e.g. :80 (port 80 as the internet sees it), redirecting other requests to https; empty: TLS-ALPN-01 only (HUB_ACME_HTTP_ADDR)")
	fs.StringVar(&c.ServeCACert, "serve-ca-cert", e.str("HUB_SERVE_CA_CERT", ""), "CA certificate file to serve at /ca.crt for phones to install (make run HTTPS=1); off by default (HUB_SERVE_CA_CERT)")
}

// checkTLS reports what is wrong with the HTTPS settings. The certificate
// files themselves are read and checked by New, before anything listens.
func (c Config) checkTLS() []string {
	var p []string
	if (c.TLSCert == "") != (c.TLSKey == "") {
		p = append(p, "-tls-cert and -tls-key (HUB_TLS_CERT, HUB_TLS_KEY) go together")
	}
	acmeSet := c.ACMECAFile != "" || c.ACMEHTTPAddr != "" || c.ACMEEmail != ""
	if len(c.ACMEDomains) == 0 {
		if acmeSet {
			p = append(p, "-acme-ca-file, -acme-http-addr and -acme-email are for -acme-domain (HUB_ACME_DOMAIN)")
		}
	} else {
		if c.TLSCert != "" {
			p = append(p, "-tls-cert and -acme-domain both set: serve either your own certificate or one from ACME")
		}
		for _, d := range c.ACMEDomains {
			if !validDomain(d) {
				p = append(p, fmt.Sprintf("ACME domain %q: want a public host name such as cam.example.org (no scheme, port, path or wildcard)", d))
			}
		}
		if u, err := url.Parse(c.ACMEDirectory); err != nil || u.Scheme != "https" || u.Host == "" {
			p = append(p, fmt.Sprintf("ACME directory %q: want an https:// URL", c.ACMEDirectory))
		}
		if c.ACMECacheDir == "" {
			p = append(p, "the ACME cache directory is empty")
		}
		if c.ACMECAFile != "" {
			if _, err := os.Stat(c.ACMECAFile); err != nil {
				p = append(p, fmt.Sprintf("ACME CA file: %v", err))
			}
		}
		if c.ACMEHTTPAddr != "" {
			if _, _, err := net.SplitHostPort(c.ACMEHTTPAddr); err != nil {
				p = append(p, fmt.Sprintf("ACME HTTP-01 address %q: %v", c.ACMEHTTPAddr, err))
			}
		}
	}
	if c.ServeCACert != "" {
		if !c.ServesHTTPS() {
			p = append(p, "-serve-ca-cert (HUB_SERVE_CA_CERT) is for a hub serving HTTPS")
		}
		if _, err := os.Stat(c.ServeCACert); err != nil {
			p = append(p, fmt.Sprintf("CA certificate to serve: %v", err))
		}
	}
	return p
}

// validDomain accepts a host name with at least two labels (ACME CAs and
// autocert refuse single-label names such as localhost).
func validDomain(d string) bool {
	if !strings.Contains(strings.Trim(d, "."), ".") || len(d) > 253 {
		return false
	}
	for _, r := range d {
		if !(r == '.' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// letsEncryptDirectory is the default ACME CA: Let's Encrypt's production.
const letsEncryptDirectory = acme.LetsEncryptURL

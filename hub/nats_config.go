package hub

import (
	"fmt"
	"net/url"
	"os"
	"strings"
)

// checkNATSAuth reports what is wrong with the NATS URL, credentials and TLS
// settings: credentials and TLS belong to an external NATS, one kind of
// credentials at a time, files that exist.
func (c Config) checkNATSAuth() []string {
	var p []string
	kinds := c.natsCredentialKinds()
	if c.Embedded() {
		if len(kinds) > 0 || c.NATSTLSCA != "" || c.NATSTLSCert != "" || c.NATSTLSKey != "" {
			p = append(p, "NATS credentials and TLS settings (NATS_CREDS, NATS_NKEY, NATS_USER, NATS_PASSWORD, NATS_TOKEN, NATS_TLS_*) are for an external NATS (NATS_URL); the embedded server makes its own keys in the store directory")
		}
		return p
	}
	if c.NATSNoAuth {
		p = append(p, "-nats-no-auth (NATS_NO_AUTH) opens the embedded NATS only; an external server decides its own authorization")
	}
	for _, u := range splitList(c.NATSURL) {
		parsed, err := url.Parse(u)
		if err != nil || parsed.Host == "" || (parsed.Scheme != "nats" && parsed.Scheme != "tls" && parsed.Scheme != "ws" && parsed.Scheme != "wss") {
			p = append(p, fmt.Sprintf("NATS URL %q: want nats://host:port", redactURL(u)))
		}
	}
	if len(kinds) > 1 {
		p = append(p, fmt.Sprintf("NATS credentials: give one kind, not %s", strings.Join(kinds, " and ")))
	}
	if (c.NATSUser == "") != (c.NATSPassword == "") {
		p = append(p, "NATS_USER and NATS_PASSWORD go together")
	}
	if (c.NATSTLSCert == "") != (c.NATSTLSKey == "") {
		p = append(p, "NATS_TLS_CERT and NATS_TLS_KEY go together")
	}
	for _, f := range []struct{ what, path string }{
		{"NATS_CREDS", c.NATSCreds}, {"NATS_NKEY", c.NATSNkey},
		{"NATS_TLS_CA", c.NATSTLSCA}, {"NATS_TLS_CERT", c.NATSTLSCert}, {"NATS_TLS_KEY", c.NATSTLSKey},
	} {
		if f.path == "" {
			continue
		}
		if fh, err := os.Open(f.path); err != nil {
			p = append(p, fmt.Sprintf("%s: %v", f.what, err))
		} else {
			_ = fh.Close()
		}
	}
	return p
}

// natsCredentialKinds names the kinds of NATS credentials the config holds
// (in flags, the environment or the URLs).
func (c Config) natsCredentialKinds() []string {
	var kinds []string
	if c.NATSCreds != "" {
		kinds = append(kinds, "a creds file (NATS_CREDS)")
	}
	if c.NATSNkey != "" {
		kinds = append(kinds, "an nkey seed (NATS_NKEY)")
	}
	if c.NATSUser != "" || c.NATSPassword != "" {
		kinds = append(kinds, "user and password (NATS_USER, NATS_PASSWORD)")
	}
	if c.NATSToken != "" {
		kinds = append(kinds, "a token (NATS_TOKEN)")
	}
	for _, u := range splitList(c.NATSURL) {
		if parsed, err := url.Parse(u); err == nil && parsed.User != nil {
			kinds = append(kinds, "credentials in the NATS URL")
			break
		}
	}
	return kinds
}

// natsTLS reports whether the connection to an external NATS uses TLS.
func (c Config) natsTLS() bool {
	if c.NATSTLSCA != "" || c.NATSTLSCert != "" {
		return true
	}
	for _, u := range splitList(c.NATSURL) {
		if strings.HasPrefix(u, "tls://") || strings.HasPrefix(u, "wss://") {
			return true
		}
	}
	return false
}

// redactURL hides the password or token of a NATS URL, for messages and logs.
func redactURL(u string) string {
	parsed, err := url.Parse(u)
	if err != nil || parsed.User == nil {
		return u
	}
	if _, hasPassword := parsed.User.Password(); !hasPassword {
		parsed.User = url.User("redacted") // a token
	}
	return parsed.Redacted()
}

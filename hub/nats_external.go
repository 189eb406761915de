package hub

import (
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
)

// externalLogin is how the hub logs in to an external NATS: the credentials
// and TLS settings of the config (checked by Validate).
func externalLogin(cfg Config) (natsLogin, error) {
	var redacted []string
	for _, u := range splitList(cfg.NATSURL) {
		redacted = append(redacted, redactURL(u))
	}
	login := natsLogin{url: cfg.NATSURL, servers: strings.Join(redacted, ","), role: roleHub, credentials: "none"}
	// The hub's replies on subjects only the hub role may read (deploy/nats/permissions.conf).
	login.opts = append(login.opts, nats.CustomInboxPrefix(hubInboxPrefix))
	switch {
	case cfg.NATSCreds != "":
		login.credentials = "creds file " + cfg.NATSCreds
		login.opts = append(login.opts, nats.UserCredentials(cfg.NATSCreds))
	case cfg.NATSNkey != "":
		opt, err := nats.NkeyOptionFromSeed(cfg.NATSNkey)
		if err != nil {
			return natsLogin{}, fmt.Errorf("%w: NATS_NKEY %s: %w", ErrInvalidConfig, cfg.NATSNkey, err)
		}
		login.credentials = "nkey seed file " + cfg.NATSNkey
		login.opts = append(login.opts, opt)
	case cfg.NATSUser != "":
		login.credentials = "user " + cfg.NATSUser
		login.opts = append(login.opts, nats.UserInfo(cfg.NATSUser, cfg.NATSPassword))
	case cfg.NATSToken != "":
		login.credentials = "token"
		login.opts = append(login.opts, nats.Token(cfg.NATSToken))
	case len(cfg.natsCredentialKinds()) > 0:
		login.credentials = "credentials in the URL"
	}
	if cfg.NATSTLSCA != "" {
		login.opts = append(login.opts, nats.RootCAs(cfg.NATSTLSCA))
	}
	if cfg.NATSTLSCert != "" {
		login.opts = append(login.opts, nats.ClientCert(cfg.NATSTLSCert, cfg.NATSTLSKey))
	}
	if cfg.natsTLS() {
		login.opts = append(login.opts, nats.Secure())
		login.credentials += ", TLS"
	}
	return login, nil
}

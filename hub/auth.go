package hub

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/webcamhub/webcamhub/contract"
	"github.com/webcamhub/webcamhub/hub/internal/apikeys"
)

// Why a client was refused: the label of hub_auth_refused_total.
const (
	authMissing = "missing" // no credential offered
	authInvalid = "invalid" // an unknown key; a JWT badly signed, malformed, for another audience
	authExpired = "expired" // a JWT past its exp
)

// authReasons lists every refusal reason (the metric's label values).
var authReasons = []string{authMissing, authInvalid, authExpired}

// authGrant is what an accepted credential allows.
type authGrant struct {
	Subject string  // the key's name, or the JWT's sub
	FPS     float64 // frames per second the session may send; 0: the hub's own limit
	// Models a JWT allows (its `models` claim); nil: any (model_grant.go).
	Models modelGrant
}

// authenticator checks the credentials of clients when the hub requires
// them (Config.AuthRequired): API keys from a file, JWTs, or both.
type authenticator struct {
	keys *apikeys.File // nil: no API keys accepted
	jwt  *jwtVerifier  // nil: no JWTs accepted
}

// newAuthenticator reads the keys file and prepares the JWT check; nil
// when authentication is off. Anything unusable fails here, at start.
func newAuthenticator(ctx context.Context, cfg AuthConfig, log *slog.Logger) (*authenticator, error) {
	if !cfg.AuthRequired() {
		return nil, nil
	}
	a := &authenticator{}
	if cfg.APIKeysFile != "" {
		keys, err := apikeys.Open(cfg.APIKeysFile, func(n int, err error) {
			if err != nil {
				log.Error("API keys file not reloaded", "file", cfg.APIKeysFile, "err", err)
				return
			}
			log.Info("API keys file reloaded", "file", cfg.APIKeysFile, "keys", n)
		})
		if err != nil {
			return nil, fmt.Errorf("%w: HUB_API_KEYS_FILE: %w", ErrInvalidConfig, err)
		}
		a.keys = keys
	}
	if cfg.jwtMode() != "" {
		v, err := newJWTVerifier(ctx, cfg, log)
		if err != nil {
			return nil, err
		}
		a.jwt = v
	}
	return a, nil
}

// logMode says at start who may use the hub.
func (a *authenticator) logMode(cfg Config, log *slog.Logger) {
	if a == nil {
		if !loopbackListen(cfg.Listen) {
			log.Warn("client authentication off: anyone who reaches the hub may stream to the workers and call the API (set HUB_API_KEYS_FILE or HUB_JWT_*)", "listen", cfg.Listen)
		}
		return
	}
	attrs := []any{"jwt", cfg.jwtMode()}
	if a.keys != nil {
		attrs = append(attrs, "api_keys_file", cfg.APIKeysFile, "api_keys", a.keys.Len())
	}
	if a.jwt != nil {
		attrs = append(attrs, "jwt_audience", cfg.JWTAudience)
	}
	log.Info("client authentication on: sessions and the API need an API key or JWT; watch links do not", attrs...)
}

// check decides on one credential (an API key or a JWT); reason is empty
// when it is accepted.
func (a *authenticator) check(credential string) (grant authGrant, reason string) {
	if credential == "" {
		return authGrant{}, authMissing
	}
	// A JWT has three dot-separated parts; an API key has no dot.
	if strings.Count(credential, ".") == 2 {
		if a.jwt == nil {
			return authGrant{}, authInvalid
		}
		return a.jwt.check(credential)
	}
	if a.keys == nil {
		return authGrant{}, authInvalid
	}
	name, ok := a.keys.Lookup(credential)
	if !ok {
		return authGrant{}, authInvalid
	}
	return authGrant{Subject: name}, ""
}

// close stops the JWKS refresh.
func (a *authenticator) close() {
	if a != nil && a.jwt != nil {
		a.jwt.close()
	}
}

// bearerProtocol is the credential a WebSocket handshake offers as a
// subprotocol (contract.BearerProtocolPrefix + the key or JWT).
func bearerProtocol(c *fiber.Ctx) string {
	for _, p := range strings.Split(c.Get(fiber.HeaderSecWebSocketProtocol), ",") {
		if credential, ok := strings.CutPrefix(strings.TrimSpace(p), contract.BearerProtocolPrefix); ok {
			return credential
		}
	}
	return ""
}

// requireAPIAuth lets an analyze request through with an accepted
// `Authorization: Bearer` credential when the hub requires one.
func (h *Hub) requireAPIAuth(c *fiber.Ctx) error {
	if h.auth == nil {
		return c.Next()
	}
	credential := ""
	if scheme, value, ok := strings.Cut(c.Get(fiber.HeaderAuthorization), " "); ok && strings.EqualFold(scheme, "Bearer") {
		credential = strings.TrimSpace(value)
	}
	grant, reason := h.auth.check(credential)
	if reason != "" {
		h.metrics.CountAuthRefusal(reason)
		h.metrics.CountError(contract.CodeUnauthorized)
		challenge := `Bearer realm="webcamhub"`
		if reason != authMissing {
			challenge += `, error="invalid_token"` // RFC 6750 §3
		}
		c.Set(fiber.HeaderWWWAuthenticate, challenge)
		return apiError(c, contract.CodeUnauthorized)
	}
	c.Locals(localGrant, grant)
	return c.Next()
}

// grantOf is what the credential of an API request allows (requireAPIAuth);
// zero, any model, when the hub requires none.
func grantOf(c *fiber.Ctx) authGrant {
	grant, _ := c.Locals(localGrant).(authGrant)
	return grant
}

// AddAPIKey makes a new API key named name and appends its hash to the
// keys file (`hub apikey`); the key itself is returned, to be shown once.
func AddAPIKey(file, name string) (string, error) { return apikeys.Add(file, name) }

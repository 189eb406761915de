package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

const (
	// jwtLeeway forgives clocks a little out of step with the issuer's on
	// exp and nbf: NTP keeps servers within a second; phones and laptops
	// drift more.
	jwtLeeway = 30 * time.Second
	// jwksFetchTimeout bounds each fetch of the JWKS (the first at start):
	// an identity provider answers in well under a second; a hub that
	// cannot reach it should say so rather than hang.
	jwksFetchTimeout = 10 * time.Second
)

// jwksMethods are the asymmetric algorithms a JWKS's keys may sign with;
// HS256 is for the shared secret only (a JWKS public key must never be
// taken as an HMAC secret).
var jwksMethods = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// hubClaims are the claims the hub reads from a JWT: the registered ones
// (exp required, aud checked) and two optional grants.
type hubClaims struct {
	jwt.RegisteredClaims
	FPS    float64  `json:"fps,omitempty"`    // caps the session's frames per second below the hub's own limit
	Models []string `json:"models,omitempty"` // the models the token may use (model routing)
}

// jwtVerifier checks JWTs against an HS256 secret or a JWKS.
type jwtVerifier struct {
	parser  *jwt.Parser
	keyfunc jwt.Keyfunc
	stop    context.CancelFunc // the JWKS refresh
}

func newJWTVerifier(ctx context.Context, cfg AuthConfig, log *slog.Logger) (*jwtVerifier, error) {
	v := &jwtVerifier{stop: func() {}}
	methods := []string{"HS256"}
	if cfg.JWTSecret != "" {
		secret := []byte(cfg.JWTSecret)
		v.keyfunc = func(*jwt.Token) (any, error) { return secret, nil }
	} else {
		methods = jwksMethods
		refreshCtx, stop := context.WithCancel(ctx)
		failFirst := false
		kf, err := keyfunc.NewDefaultOverrideCtx(refreshCtx, []string{cfg.JWKSURL}, keyfunc.Override{
			NoErrorReturnFirstHTTPReq: &failFirst,
			RefreshErrorHandlerFunc: func(string) func(context.Context, error) {
				return func(_ context.Context, err error) {
					log.Error("JWKS refresh failed: the keys fetched before stay in use", "url", cfg.JWKSURL, "err", err)
				}
			},
			HTTPTimeout: jwksFetchTimeout,
		})
		if err != nil {
			stop()
			return nil, fmt.Errorf("%w: JWKS %s: %w", ErrInvalidConfig, cfg.JWKSURL, err)
		}
		v.keyfunc, v.stop = kf.Keyfunc, stop
	}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods(methods),
		jwt.WithExpirationRequired(),
		jwt.WithAudience(cfg.JWTAudience),
		jwt.WithLeeway(jwtLeeway),
	)
	return v, nil
}

// check verifies token and reads its grants.
func (v *jwtVerifier) check(token string) (authGrant, string) {
	var claims hubClaims
	if _, err := v.parser.ParseWithClaims(token, &claims, v.keyfunc); err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return authGrant{}, authExpired
		}
		return authGrant{}, authInvalid
	}
	if claims.FPS < 0 {
		return authGrant{}, authInvalid
	}
	return authGrant{Subject: claims.Subject, FPS: claims.FPS, Models: claims.Models}, ""
}

func (v *jwtVerifier) close() { v.stop() }

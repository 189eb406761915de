package hub

import (
	"flag"
	"fmt"
	"net"
	"net/netip"
	"net/url"
)

// AuthConfig is the client-authentication part of Config: who may open a
// streaming session and call the analyze API. Nothing set: anyone who
// reaches the hub may (the default of `make run`).
type AuthConfig struct {
	APIKeysFile string // the hashes of the accepted API keys (`hub apikey`); re-read when it changes
	JWTSecret   string // HS256 secret of the accepted JWTs, at least 32 bytes
	JWKSURL     string // where the public keys of the accepted JWTs are (RS/ES/PS/EdDSA), instead of JWTSecret
	JWTAudience string // the `aud` every accepted JWT must carry; required with JWTs
}

// minJWTSecretBytes is RFC 7518's floor for an HS256 key: as long as the hash.
const minJWTSecretBytes = 32

// AuthRequired reports whether clients must present an API key or a JWT.
func (c AuthConfig) AuthRequired() bool { return c.APIKeysFile != "" || c.jwtMode() != "" }

// jwtMode is "hs256", "jwks" or "" (no JWTs accepted).
func (c AuthConfig) jwtMode() string {
	switch {
	case c.JWTSecret != "":
		return "hs256"
	case c.JWKSURL != "":
		return "jwks"
	}
	return ""
}

// authFlags declares the client-authentication flags.
func (e *envReader) authFlags(fs *flag.FlagSet, c *Config) {
	fs.StringVar(&c.APIKeysFile, "api-keys-file", e.str("HUB_API_KEYS_FILE", ""), "file of accepted API key hashes (made by `hub apikey`); sessions and the API then need a key or JWT; re-read when it changes (HUB_API_KEYS_FILE)")
	fs.StringVar(&c.JWTSecret, "jwt-secret", e.str("HUB_JWT_SECRET", ""), "HS256 secret (at least 32 bytes) of accepted JWTs; prefer the environment variable (HUB_JWT_SECRET)")
	fs.StringVar(&c.JWKSURL, "jwt-jwks-url", e.str("HUB_JWT_JWKS_URL", ""), "JWKS URL of the keys of accepted JWTs (RS256, ES256, EdDSA, …), instead of -jwt-secret (HUB_JWT_JWKS_URL)")
	fs.StringVar(&c.JWTAudience, "jwt-audience", e.str("HUB_JWT_AUDIENCE", ""), "the aud an accepted JWT must carry; required with -jwt-secret or -jwt-jwks-url (HUB_JWT_AUDIENCE)")
}

// checkAuth reports what is wrong with the authentication settings. The
// keys file and the JWKS are read by New, before anything listens.
func (c AuthConfig) checkAuth() []string {
	var p []string
	if c.JWTSecret != "" && c.JWKSURL != "" {
		p = append(p, "JWTs are checked with an HS256 secret or a JWKS URL, not both (HUB_JWT_SECRET, HUB_JWT_JWKS_URL)")
	}
	if c.JWTSecret != "" && len(c.JWTSecret) < minJWTSecretBytes {
		p = append(p, fmt.Sprintf("the JWT secret has %d bytes: want at least %d (HUB_JWT_SECRET; e.g. openssl rand -base64 48)", len(c.JWTSecret), minJWTSecretBytes))
	}
	if c.JWKSURL != "" {
		if u, err := url.Parse(c.JWKSURL); err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && loopbackHost(u.Hostname()))) {
			p = append(p, fmt.Sprintf("JWKS URL %q: want https://host/path (http only on a loopback address) (HUB_JWT_JWKS_URL)", c.JWKSURL))
		}
	}
	if c.jwtMode() != "" && c.JWTAudience == "" {
		p = append(p, "JWTs need an audience to check their aud against (HUB_JWT_AUDIENCE)")
	}
	if c.jwtMode() == "" && c.JWTAudience != "" {
		p = append(p, "a JWT audience without HUB_JWT_SECRET or HUB_JWT_JWKS_URL checks nothing")
	}
	return p
}

// loopbackHost reports whether host is localhost or a loopback address.
func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// loopbackListen reports whether the listen address takes connections from
// this machine only.
func loopbackListen(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	return err == nil && host != "" && loopbackHost(host)
}

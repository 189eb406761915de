package hub

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	fws "github.com/fasthttp/websocket"
	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/webcamhub/webcamhub/contract"
	"github.com/webcamhub/webcamhub/hub/internal/apikeys"
	"github.com/webcamhub/webcamhub/internal/testkit"
	"github.com/webcamhub/webcamhub/internal/testkit/testworker"
)

const (
	testJWTSecret   = "a test secret of at least thirty-two bytes"
	testJWTAudience = "webcamhub-test"
)

// signJWT makes an HS256 token with claims, signed with secret.
func signJWT(t *testing.T, secret string, claims jwt.MapClaims) string {
	t.Helper()
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// goodClaims are the claims of a token the test hub accepts.
func goodClaims() jwt.MapClaims {
	return jwt.MapClaims{"sub": "tester", "aud": testJWTAudience, "exp": time.Now().Add(time.Hour).Unix()}
}

// startAuthHub runs a hub that requires an API key (from a fresh keys file
// holding one key, returned) or an HS256 JWT, with a test worker.
func startAuthHub(t *testing.T) (h *Hub, base, keysFile, key string) {
	t.Helper()
	keysFile = filepath.Join(t.TempDir(), "api-keys")
	key, err := apikeys.Add(keysFile, "laptop")
	if err != nil {
		t.Fatal(err)
	}
	ns := startNATS(t, 0)
	startWorker(t, ns.ClientURL(), testworker.Options{})
	h, base = startHub(t, ns.ClientURL(), func(c *Config) {
		c.APIKeysFile, c.JWTSecret, c.JWTAudience = keysFile, testJWTSecret, testJWTAudience
		c.APIRatePerMin = 1 << 20 // the reload tests poll the API
	})
	return h, base, keysFile, key
}

// closedWith dials base with header and returns the close code and text
// the hub closes the connection with, before any message.
func closedWith(t *testing.T, base string, header http.Header) (int, string) {
	t.Helper()
	c := dial(t, base, "", header)
	m, err := c.Read(testWait)
	var ce *fws.CloseError
	if !errors.As(err, &ce) {
		t.Fatalf("got %+v, %v; want the connection closed", m, err)
	}
	return ce.Code, ce.Text
}

func streamsOneFrame(t *testing.T, c *testkit.Client) string {
	t.Helper()
	session := c.Welcome()
	c.SendFrame(fakeJPEG)
	if m := c.Next(); m.Type != contract.TypeResult || m.Seq != 1 {
		t.Fatalf("got %+v, want result 1", m)
	}
	return session
}

func TestSessionsNeedAnAcceptedKeyOrToken(t *testing.T) {
	h, base, _, key := startAuthHub(t)
	expired := goodClaims()
	expired["exp"] = time.Now().Add(-time.Hour).Unix()
	wrongAud := goodClaims()
	wrongAud["aud"] = "another-service"
	noExp := goodClaims()
	delete(noExp, "exp")
	refusals := []struct {
		name   string
		header http.Header
		text   string
	}{
		{"no credential", nil, contract.CloseTextAuthMissing},
		{"only the page's subprotocol", testkit.ResumeHeader("x"), contract.CloseTextAuthMissing},
		{"wrong key", testkit.BearerHeader(key[:len(key)-2] + "xx"), contract.CloseTextAuthInvalid},
		{"expired token", testkit.BearerHeader(signJWT(t, testJWTSecret, expired)), contract.CloseTextAuthInvalid},
		{"token for another audience", testkit.BearerHeader(signJWT(t, testJWTSecret, wrongAud)), contract.CloseTextAuthInvalid},
		{"token without exp", testkit.BearerHeader(signJWT(t, testJWTSecret, noExp)), contract.CloseTextAuthInvalid},
		{"token signed with another secret", testkit.BearerHeader(signJWT(t, strings.Repeat("z", 40), goodClaims())), contract.CloseTextAuthInvalid},
	}
	for _, r := range refusals {
		code, text := closedWith(t, base, r.header)
		if code != contract.CloseUnauthorized || text != r.text {
			t.Errorf("%s: closed with %d %q, want %d %q", r.name, code, text, contract.CloseUnauthorized, r.text)
		}
	}
	for reason, want := range map[string]float64{authMissing: 2, authInvalid: 4, authExpired: 1} {
		if got := testutil.ToFloat64(h.metrics.authRefused.WithLabelValues(reason)); got != want {
			t.Errorf("hub_auth_refused_total{reason=%q} = %v, want %v", reason, got, want)
		}
	}

	withKey := dial(t, base, "", testkit.BearerHeader(key))
	if got := withKey.Conn.Subprotocol(); got != contract.Subprotocol {
		t.Fatalf("selected subprotocol %q, want %q (never the credential)", got, contract.Subprotocol)
	}
	streamsOneFrame(t, withKey)
	withToken := dial(t, base, "", testkit.BearerHeader(signJWT(t, testJWTSecret, goodClaims())))
	session := streamsOneFrame(t, withToken)

	// A watch link needs no credential, and follows its one session only.
	watcher := dial(t, base, "?watch="+session, nil)
	if m := watcher.Next(); m.Type != contract.TypeWelcome || m.Watching != session {
		t.Fatalf("watcher without a key: %+v, want welcome watching %s", m, session)
	}
	withToken.SendFrame(fakeJPEG)
	withToken.Next()
	if m := watcher.Next(); m.Type != contract.TypeResult || m.Session != session {
		t.Fatalf("watcher: %+v, want the watched session's result", m)
	}
	watcher.SendFrame(fakeJPEG)
	if m := watcher.Next(); m.Type != contract.TypeError || m.Code != contract.CodeBadRequest {
		t.Fatalf("a frame from a watcher: %+v, want bad_request", m)
	}
	// Resuming is streaming: it needs a credential too.
	resume := dial(t, base, "?resume="+session, nil)
	if _, err := resume.Read(testWait); !fws.IsCloseError(err, contract.CloseUnauthorized) {
		t.Fatalf("resume without a credential: %v, want close %d", err, contract.CloseUnauthorized)
	}
}

func postAnalyzeAs(t *testing.T, base, authorization string) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/api/v1/analyze", strings.NewReader(analyzeBody(fakeJPEG)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	status, body := readAnswer(t, resp, err)
	return status, body, resp.Header
}

// The analyze API takes the same credentials as Authorization: Bearer; a
// key added to the file is accepted and a removed one refused without a
// restart.
func TestAnalyzeNeedsABearerCredentialAndKeysReload(t *testing.T) {
	h, base, keysFile, key := startAuthHub(t)
	for _, auth := range []string{"", "Bearer ", "Basic " + key, "Bearer " + key + "x"} {
		status, body, header := postAnalyzeAs(t, base, auth)
		if status != http.StatusUnauthorized || !strings.Contains(string(body), `"code":"unauthorized"`) {
			t.Fatalf("Authorization %q: %d %s, want 401 unauthorized", auth, status, body)
		}
		if !strings.HasPrefix(header.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("Authorization %q: WWW-Authenticate %q, want a Bearer challenge", auth, header.Get("WWW-Authenticate"))
		}
	}
	if got := testutil.ToFloat64(h.metrics.errors.WithLabelValues(contract.CodeUnauthorized)); got != 4 {
		t.Fatalf("hub_errors_total{code=unauthorized} = %v, want 4", got)
	}
	for _, auth := range []string{"Bearer " + key, "bearer " + key, "Bearer " + signJWT(t, testJWTSecret, goodClaims())} {
		if status, body, _ := postAnalyzeAs(t, base, auth); status != http.StatusOK {
			t.Fatalf("Authorization %q: %d %s, want 200", auth[:12], status, body)
		}
	}

	second, err := apikeys.Add(keysFile, "phone")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the added key accepted", func() bool {
		status, _, _ := postAnalyzeAs(t, base, "Bearer "+second)
		return status == http.StatusOK
	})
	streamsOneFrame(t, dial(t, base, "", testkit.BearerHeader(second)))
	// Revoke the first key: keep only the second's line.
	if err := os.WriteFile(keysFile, []byte(apikeys.Line(second, "phone")), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the removed key refused", func() bool {
		status, _, _ := postAnalyzeAs(t, base, "Bearer "+key)
		return status == http.StatusUnauthorized
	})
	if code, _ := closedWith(t, base, testkit.BearerHeader(key)); code != contract.CloseUnauthorized {
		t.Fatalf("a revoked key: close %d, want %d", code, contract.CloseUnauthorized)
	}
	// A malformed edit keeps the keys read before.
	if err := os.WriteFile(keysFile, []byte("half a line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if status, body, _ := postAnalyzeAs(t, base, "Bearer "+second); status != http.StatusOK {
		t.Fatalf("after a malformed edit: %d %s, want the old keys in use", status, body)
	}
}

// A token's fps claim caps its session below the hub's own limit.
func TestTokenFrameRateCapsTheSession(t *testing.T) {
	_, base, _, _ := startAuthHub(t)
	claims := goodClaims()
	claims["fps"] = 0.01 // one frame, then one per 100 s
	claims["models"] = []string{"mobilenet_v2"}
	c := dial(t, base, "", testkit.BearerHeader(signJWT(t, testJWTSecret, claims)))
	streamsOneFrame(t, c)
	c.SendFrame(fakeJPEG)
	if m := c.Next(); m.Type != contract.TypeError || m.Code != contract.CodeRateLimited || m.Seq != 2 {
		t.Fatalf("second frame: %+v, want rate_limited", m)
	}
}

func TestAuthConfigProblemsFailAtStart(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-file")
	malformed := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(malformed, []byte("sha256:abc laptop\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		tweak func(*Config)
		want  string
	}{
		"short secret": {func(c *Config) { c.JWTSecret, c.JWTAudience = "short", "a" }, "at least 32"},
		"no audience":  {func(c *Config) { c.JWTSecret = testJWTSecret }, "audience"},
		"secret and JWKS": {func(c *Config) {
			c.JWTSecret, c.JWKSURL, c.JWTAudience = testJWTSecret, "https://idp.example/jwks", "a"
		}, "not both"},
		"plain-http JWKS":   {func(c *Config) { c.JWKSURL, c.JWTAudience = "http://idp.example/jwks", "a" }, "https"},
		"missing keys file": {func(c *Config) { c.APIKeysFile = missing }, "no such file"},
		"malformed keys":    {func(c *Config) { c.APIKeysFile = malformed }, "line 1"},
		// Nothing listens on port 1: the JWKS cannot be fetched.
		"unreachable JWKS": {func(c *Config) { c.JWKSURL, c.JWTAudience = "http://127.0.0.1:1/jwks", "a" }, "JWKS"},
	} {
		cfg := Defaults()
		cfg.NATSURL = "nats://127.0.0.1:1" // never reached: the check comes first
		c.tweak(&cfg)
		_, err := New(cfg, testLogger(t))
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an invalid configuration about %q", name, err, c.want)
		}
	}
}

// JWTs signed by an identity provider's key, published as a JWKS, are
// accepted; one signed with another key, or as HS256 with the public key
// as the secret, is not.
func TestJWKSTokens(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := jwkset.NewJWKFromKey(pub, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "idp-1", ALG: jwkset.AlgEdDSA}})
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := json.Marshal(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{jwk.Marshal()}})
	if err != nil {
		t.Fatal(err)
	}
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	}))
	t.Cleanup(idp.Close)
	ns := startNATS(t, 0)
	startWorker(t, ns.ClientURL(), testworker.Options{})
	_, base := startHub(t, ns.ClientURL(), func(c *Config) { c.JWKSURL, c.JWTAudience = idp.URL, testJWTAudience })

	sign := func(key ed25519.PrivateKey, kid string) string {
		token := jwt.NewWithClaims(jwt.SigningMethodEdDSA, goodClaims())
		token.Header["kid"] = kid
		s, err := token.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	streamsOneFrame(t, dial(t, base, "", testkit.BearerHeader(sign(priv, "idp-1"))))
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	for name, token := range map[string]string{
		"another key":                   sign(other, "idp-1"),
		"HS256 with the public key":     signJWT(t, string(pub), goodClaims()),
		"an API key where only JWTs go": "whk_" + strings.Repeat("A", 43),
	} {
		if code, _ := closedWith(t, base, testkit.BearerHeader(token)); code != contract.CloseUnauthorized {
			t.Errorf("%s: close %d, want %d", name, code, contract.CloseUnauthorized)
		}
	}
}

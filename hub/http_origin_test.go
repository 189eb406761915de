package hub

import (
	"net"
	"net/http"
	"strings"
	"testing"
)

// DNS rebinding: a page on evil.example whose name now resolves to the hub
// sends Origin and Host both naming evil.example. The hub must not take the
// Host header as its own origin.
func TestOriginWithRebindingHostIsRefused(t *testing.T) {
	ns := startNATS(t, 0)
	_, base := startHub(t, ns.ClientURL(), nil)
	port := base[strings.LastIndex(base, ":"):]

	for _, evil := range []string{"http://evil.example" + port, "http://evil.example"} {
		h := http.Header{"Origin": {evil}}
		h.Set("Host", strings.TrimPrefix(evil, "http://"))
		if c, err := tryDial(base, "", h); err == nil {
			c.Close()
			t.Fatalf("Origin and Host %s: let in", evil)
		}
	}
	// The hub's own listen address and localhost, on its port, are its origin.
	dial(t, base, "", http.Header{"Origin": {base}}).Welcome()
	dial(t, base, "", http.Header{"Origin": {"http://localhost" + port}}).Welcome()
	for _, wrong := range []string{"https://127.0.0.1" + port, "http://127.0.0.1:1", "http://localhost", "null", "file://"} {
		if c, err := tryDial(base, "", http.Header{"Origin": {wrong}}); err == nil {
			c.Close()
			t.Fatalf("Origin %q (wrong scheme, port or not an origin): let in", wrong)
		}
	}
}

func TestPublicOriginReplacesTheListenAddresses(t *testing.T) {
	ns := startNATS(t, 0)
	_, base := startHub(t, ns.ClientURL(), func(c *Config) {
		c.PublicOrigins = []string{"https://cam.example", "https://cam.example:8443"}
	})
	dial(t, base, "", http.Header{"Origin": {"https://CAM.example:443"}}).Welcome()
	dial(t, base, "", http.Header{"Origin": {"https://cam.example:8443"}}).Welcome()
	for _, wrong := range []string{"http://cam.example", "https://cam.example:444", base} {
		if c, err := tryDial(base, "", http.Header{"Origin": {wrong}}); err == nil {
			c.Close()
			t.Fatalf("Origin %q with public origins configured: let in", wrong)
		}
	}
}

func TestOriginPolicyOnEveryInterface(t *testing.T) {
	p := newOriginPolicy(Defaults(), &net.TCPAddr{IP: net.IPv6unspecified, Port: 8080})
	for _, ok := range []string{"http://localhost:8080", "http://127.0.0.1:8080", "http://[::1]:8080", ""} {
		if !p.allows(ok) {
			t.Errorf("%q refused on a hub listening on :8080", ok)
		}
	}
	for _, bad := range []string{"http://localhost:8081", "https://localhost:8080", "http://evil.example:8080", "http://localhost:8080/path", "http://user@localhost:8080"} {
		if p.allows(bad) {
			t.Errorf("%q allowed on a hub listening on :8080", bad)
		}
	}
}

func TestOriginsAreChecked(t *testing.T) {
	ns := startNATS(t, 0)
	_, base := startHub(t, ns.ClientURL(), func(c *Config) { c.AllowedOrigins = []string{"https://cam.example"} })

	if _, err := tryDial(base, "", http.Header{"Origin": {"https://evil.example"}}); err == nil {
		t.Fatal("a foreign origin was let in")
	}
	dial(t, base, "", http.Header{"Origin": {"https://cam.example"}}).Welcome()
	dial(t, base, "", http.Header{"Origin": {base}}).Welcome() // the hub's own origin
	dial(t, base, "", nil).Welcome()                           // not a browser
}

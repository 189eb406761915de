package hub

import (
	"github.com/prometheus/client_golang/prometheus/testutil"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func refusedWith(t *testing.T, base string, header http.Header, status string) {
	t.Helper()
	c, err := tryDial(base, "", header)
	if err == nil {
		c.Close()
		t.Fatalf("connection with %v let in, want HTTP %s", header, status)
	}
	if !strings.Contains(err.Error(), "HTTP "+status) {
		t.Fatalf("connection with %v: %v, want HTTP %s", header, err, status)
	}
}

// One address cannot take every session slot: it holds at most
// MaxConnsPerClient connections, and gets a slot back when one closes.
func TestOneAddressHoldsAtMostItsConnections(t *testing.T) {
	ns := startNATS(t, 0)
	h, base := startHub(t, ns.ClientURL(), func(c *Config) { c.MaxConnsPerClient = 3; c.ConnectRatePerClient = 100 })

	first := dial(t, base, "", nil)
	first.Welcome()
	for range 2 {
		dial(t, base, "", nil).Welcome()
	}
	refusedWith(t, base, nil, "429")
	if testutil.ToFloat64(h.Metrics().SessionsRefused) != 1 {
		t.Fatalf("refused sessions counted %v, want 1", testutil.ToFloat64(h.Metrics().SessionsRefused))
	}
	_ = first.Conn.Close()
	waitFor(t, "the closed connection's slot", func() bool { return testutil.ToFloat64(h.Metrics().SessionsOpen) == 2 })
	dial(t, base, "", nil).Welcome()
}

func TestOneAddressConnectsAtMostAtItsRate(t *testing.T) {
	ns := startNATS(t, 0)
	_, base := startHub(t, ns.ClientURL(), func(c *Config) { c.ConnectRatePerClient = 0.01 }) // a burst of one

	c := dial(t, base, "", nil)
	c.Welcome()
	_ = c.Conn.Close()
	refusedWith(t, base, nil, "429")
}

// Behind a trusted proxy each client address has its own allowance; the
// header is read from the right, so what a client writes into it itself
// does not choose its address; from an untrusted peer it is ignored.
func TestClientAddressFromTheTrustedProxyHeaderOnly(t *testing.T) {
	ns := startNATS(t, 0)
	xff := func(v string) http.Header { return http.Header{"X-Forwarded-For": {v}} }
	_, proxied := startHub(t, ns.ClientURL(), func(c *Config) {
		c.MaxConnsPerClient = 1
		c.ConnectRatePerClient = 100
		c.TrustedProxyHeader = "X-Forwarded-For"
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	dial(t, proxied, "", xff("203.0.113.7")).Welcome()
	refusedWith(t, proxied, xff("203.0.113.7"), "429")
	refusedWith(t, proxied, xff("198.51.100.1, 203.0.113.7"), "429") // a forged first hop changes nothing
	dial(t, proxied, "", xff("203.0.113.8")).Welcome()
	dial(t, proxied, "", xff("203.0.113.7, 127.0.0.1, 203.0.113.9, 127.0.0.2")).Welcome() // .9, the last untrusted hop

	_, direct := startHub(t, ns.ClientURL(), func(c *Config) { c.MaxConnsPerClient = 1; c.ConnectRatePerClient = 100 })
	dial(t, direct, "", xff("203.0.113.7")).Welcome()
	refusedWith(t, direct, xff("203.0.113.8"), "429") // the header is not believed: both are 127.0.0.1
}

func TestClientLimitsKeyIPv6By64AndForgetIdleClients(t *testing.T) {
	l := newClientLimits(1, 1)
	now := time.Now()
	a := netip.MustParseAddr("2001:db8:1:2::1")
	if reason := l.admit(a, now); reason != "" {
		t.Fatal(reason)
	}
	release, ok := l.hold(a)
	if !ok {
		t.Fatal("first connection not held")
	}
	if _, ok := l.hold(netip.MustParseAddr("2001:db8:1:2:ffff::9")); ok {
		t.Fatal("another address of the same /64 got a second slot")
	}
	if _, ok := l.hold(netip.MustParseAddr("2001:db8:1:3::1")); !ok {
		t.Fatal("another /64 was refused")
	}
	release()
	release() // safe twice
	later := now.Add(time.Hour)
	l.admit(netip.MustParseAddr("192.0.2.1"), later)
	if n := l.size(); n != 2 { // 2001:db8:1:3::/64 (still open) and 192.0.2.1
		t.Fatalf("%d clients remembered after an hour, want 2", n)
	}
}

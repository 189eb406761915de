package hub

import (
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// clientAddr is the address a request comes from: the socket peer, or,
// when the peer is one of the trusted proxies, what the proxy wrote in the
// trusted header. Fiber's own ProxyHeader is not used because it takes the
// leftmost X-Forwarded-For entry, which the client writes itself; here the
// list is read from the right, skipping the trusted proxies, so the first
// untrusted hop is the one a proxy of ours saw.
func (h *Hub) clientAddr(c *fiber.Ctx) netip.Addr {
	peer := peerAddr(c)
	if h.cfg.TrustedProxyHeader == "" || !h.trustedProxy(peer) {
		return peer
	}
	values := c.Request().Header.PeekAll(h.cfg.TrustedProxyHeader)
	for i := len(values) - 1; i >= 0; i-- {
		hops := strings.Split(string(values[i]), ",")
		for j := len(hops) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(hops[j]))
			if err != nil {
				return peer // a malformed entry: nothing left of it can be believed
			}
			a = a.Unmap()
			if !h.trustedProxy(a) {
				return a
			}
		}
	}
	return peer
}

func (h *Hub) trustedProxy(a netip.Addr) bool {
	for _, p := range h.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func peerAddr(c *fiber.Ctx) netip.Addr {
	ap, err := netip.ParseAddrPort(c.Context().RemoteAddr().String())
	if err != nil {
		return netip.IPv6Unspecified()
	}
	return ap.Addr().Unmap()
}

// clientKey groups addresses that belong to one client: an IPv4 address,
// or an IPv6 /64 (one subscriber's network; a host picks any address in it).
func clientKey(a netip.Addr) netip.Prefix {
	if a.Is4() {
		return netip.PrefixFrom(a, 32)
	}
	p, _ := a.Prefix(64)
	return p
}

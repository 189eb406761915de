package hub

import (
	"errors"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// origin is a browser origin reduced to what decides equality: scheme, host
// and port (the scheme's default port made explicit).
type origin struct {
	scheme, host string
	port         int
}

var errBadOrigin = errors.New("not an origin of the form scheme://host[:port]")

// parseOrigin reads an Origin header value or a configured origin.
func parseOrigin(s string) (origin, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Opaque != "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return origin{}, errBadOrigin
	}
	scheme := strings.ToLower(u.Scheme)
	port := 0
	switch scheme {
	case "http", "ws":
		port = 80
	case "https", "wss":
		port = 443
	default:
		return origin{}, errBadOrigin
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return origin{}, errBadOrigin
		}
		port = n
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return origin{}, errBadOrigin
	}
	if a, err := netip.ParseAddr(host); err == nil {
		host = a.Unmap().String()
	}
	return origin{scheme: scheme, host: host, port: port}, nil
}

// originPolicy decides which browser origins may open /ws. The hub's own
// origins are the configured public ones or, without any, the addresses it
// listens on and localhost. The request's Host header is never consulted:
// under DNS rebinding a foreign page's Origin and Host name the same
// attacker-controlled name, which resolves to the hub.
type originPolicy struct {
	any     bool
	allowed map[origin]bool
}

// newOriginPolicy builds the policy from the configured origins and, when
// no public origin is configured, the listener's address.
func newOriginPolicy(cfg Config, listen net.Addr) originPolicy {
	p := originPolicy{allowed: map[origin]bool{}}
	for _, o := range cfg.AllowedOrigins {
		if o == "*" {
			p.any = true
			continue
		}
		if parsed, err := parseOrigin(o); err == nil {
			p.allowed[parsed] = true
		}
	}
	if len(cfg.PublicOrigins) > 0 {
		for _, o := range cfg.PublicOrigins {
			if parsed, err := parseOrigin(o); err == nil {
				p.allowed[parsed] = true
			}
		}
		return p
	}
	tcp, ok := listen.(*net.TCPAddr)
	if !ok {
		return p
	}
	hosts := append([]string{"localhost"}, cfg.ACMEDomains...)
	ip, _ := netip.AddrFromSlice(tcp.IP)
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsUnspecified() {
		// Listening on every interface: the page may be opened at any of
		// their addresses (IP literals cannot be rebound).
		hosts = append(hosts, interfaceAddrs()...)
	} else {
		hosts = append(hosts, ip.String())
	}
	for _, h := range hosts {
		p.allowed[origin{scheme: cfg.httpScheme(), host: strings.ToLower(h), port: tcp.Port}] = true
	}
	return p
}

// interfaceAddrs lists the machine's IP addresses, loopback included.
func interfaceAddrs() []string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return []string{"127.0.0.1", "::1"}
	}
	var out []string
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, ip.Unmap().String())
			}
		}
	}
	return out
}

// allows reports whether a request with this Origin header may connect.
// Requests without one do not come from a browser page and are let in.
func (p originPolicy) allows(header string) bool {
	if header == "" {
		return true
	}
	if p.any {
		return true
	}
	o, err := parseOrigin(header)
	return err == nil && p.allowed[o]
}

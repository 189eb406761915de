package hub

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// connectBurstSeconds is how many seconds of the connect rate one client may
// use at once: a page reloaded a few times, or several tabs opened together.
const connectBurstSeconds = 10

// clientSweepEvery bounds how often the table of clients is swept of those
// with no connection and a full connect allowance (they hold no state that
// matters), so a scan over many addresses does not grow it for ever.
const clientSweepEvery = time.Minute

// clientLimits caps, per client address, the WebSocket connections held at
// once and the rate of new ones, so one address cannot take every session
// slot of the hub.
type clientLimits struct {
	maxOpen int
	rate    rate.Limit
	burst   int

	mu        sync.Mutex
	clients   map[netip.Prefix]*clientState
	lastSweep time.Time
}

type clientState struct {
	open    int
	connect *rate.Limiter
}

func newClientLimits(maxOpen int, perSecond float64) *clientLimits {
	return &clientLimits{
		maxOpen: maxOpen,
		rate:    rate.Limit(perSecond),
		burst:   max(1, int(perSecond*connectBurstSeconds)),
		clients: map[netip.Prefix]*clientState{},
	}
}

// admit decides, before the WebSocket handshake, whether addr may open
// another connection now; it spends one of addr's connects. An empty reason
// means yes.
func (l *clientLimits) admit(addr netip.Addr, now time.Time) (reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	st := l.state(clientKey(addr))
	if st.open >= l.maxOpen {
		return "too many connections from this address"
	}
	if !st.connect.AllowN(now, 1) {
		return "connecting too often from this address"
	}
	return ""
}

// hold counts an established connection of addr for as long as it lasts,
// or reports false when addr holds its maximum already (several handshakes
// admitted at once). It is called by the connection's handler, whose end
// always calls the release, which may be called more than once.
func (l *clientLimits) hold(addr netip.Addr) (release func(), ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.state(clientKey(addr))
	if st.open >= l.maxOpen {
		return nil, false
	}
	st.open++
	return sync.OnceFunc(func() {
		l.mu.Lock()
		st.open--
		l.mu.Unlock()
	}), true
}

// state returns key's entry, creating it; the caller holds l.mu.
func (l *clientLimits) state(key netip.Prefix) *clientState {
	st := l.clients[key]
	if st == nil {
		st = &clientState{connect: rate.NewLimiter(l.rate, l.burst)}
		l.clients[key] = st
	}
	return st
}

// sweep drops idle clients whose connect allowance is full again; the
// caller holds l.mu.
func (l *clientLimits) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < clientSweepEvery {
		return
	}
	l.lastSweep = now
	for key, st := range l.clients {
		if st.open == 0 && st.connect.TokensAt(now) >= float64(l.burst) {
			delete(l.clients, key)
		}
	}
}

// size is how many addresses the table holds (for tests).
func (l *clientLimits) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.clients)
}

// Package embeddednats runs a NATS server with JetStream inside the hub's
// process, so that one command runs the whole system on one machine.
package embeddednats

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// MaxPayload is the embedded server's largest message: frames are up to a
// few MiB, and NATS's default 1 MiB would refuse them.
const MaxPayload = 8 << 20

// startTimeout is how long the server may take to accept connections;
// JetStream recovering a large store is the slow part.
const startTimeout = 15 * time.Second

// ErrNotReady is returned when the server did not start listening in time.
var ErrNotReady = errors.New("embedded NATS server did not become ready")

// Server is a running embedded NATS server.
type Server struct {
	ns *server.Server
}

// Start runs a server listening on addr (host:port) with JetStream storing
// in storeDir.
func Start(addr, storeDir string) (*Server, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS port %q: %w", portText, err)
	}
	opts := &server.Options{
		ServerName: "hub-embedded",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   storeDir,
		NoSigs:     true, // the hub owns the signals
		NoLog:      true,
		MaxPayload: MaxPayload,
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("creating embedded NATS server: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(startTimeout) {
		ns.Shutdown()
		return nil, fmt.Errorf("%w on %s (is the port in use?)", ErrNotReady, addr)
	}
	return &Server{ns: ns}, nil
}

// ClientURL is the nats:// URL clients connect to.
func (s *Server) ClientURL() string { return s.ns.ClientURL() }

// Shutdown stops the server and waits until it has; safe to call twice.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}

// Package embeddednats runs a NATS server with JetStream inside the hub's
// process, so that one command runs the whole system on one machine. It is
// closed by default: only the users it is given may connect, each with its
// own permissions.
package embeddednats

import (
	"errors"
	"fmt"
	"log/slog"
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

// User is one nkey user of the server and what it may do.
type User struct {
	Role        string // a name for the logs: hub, worker, cli
	PublicKey   string // the user's public nkey (U…)
	Permissions *server.Permissions
}

// Options say how to run the server.
type Options struct {
	Addr     string // host:port
	StoreDir string // JetStream store
	// Users may connect; nobody else. Empty with Open set: anyone may, with
	// every permission (local experiments only).
	Users []User
	Open  bool
	Log   *slog.Logger
	// OnViolation is called for every client the server refuses: kind is
	// ViolationAuthentication (wrong or missing credentials) or
	// ViolationPermission (a publish or subscribe outside its permissions).
	OnViolation func(kind string)
}

// Kinds of refusals reported to Options.OnViolation.
const (
	ViolationAuthentication = "authentication"
	ViolationPermission     = "permission"
)

// ErrNoUsers is returned when a closed server is given nobody to accept.
var ErrNoUsers = errors.New("embedded NATS: no users and not open")

// Server is a running embedded NATS server.
type Server struct {
	ns *server.Server
}

// Start runs a server as o says.
func Start(o Options) (*Server, error) {
	host, portText, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS address %q: %w", o.Addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS port %q: %w", portText, err)
	}
	if len(o.Users) == 0 && !o.Open {
		return nil, ErrNoUsers
	}
	opts := &server.Options{
		ServerName: "hub-embedded",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   o.StoreDir,
		NoSigs:     true, // the hub owns the signals
		MaxPayload: MaxPayload,
	}
	for _, u := range o.Users {
		opts.Nkeys = append(opts.Nkeys, &server.NkeyUser{Nkey: u.PublicKey, Permissions: u.Permissions})
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("creating embedded NATS server: %w", err)
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ns.SetLoggerV2(newServerLog(log.With("component", "embedded-nats"), roleNames(o.Users), o.OnViolation), false, false, false)
	go ns.Start()
	if !ns.ReadyForConnections(startTimeout) {
		ns.Shutdown()
		return nil, fmt.Errorf("%w on %s (is the port in use?)", ErrNotReady, o.Addr)
	}
	return &Server{ns: ns}, nil
}

func roleNames(users []User) map[string]string {
	m := make(map[string]string, len(users))
	for _, u := range users {
		m[u.PublicKey] = u.Role
	}
	return m
}

// ClientURL is the nats:// URL clients connect to.
func (s *Server) ClientURL() string { return s.ns.ClientURL() }

// Shutdown stops the server and waits until it has; safe to call twice.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}

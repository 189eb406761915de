package hub

import (
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/webcamhub/webcamhub/hub/internal/embeddednats"
)

// logLevels are the names LOG_LEVEL takes, in any case. The worker takes the same
// (inference_server/config.py, LOG_LEVELS), so one LOG_LEVEL serves every part; slog's
// own parser knows no "warning" and takes offsets ("info+2") the worker does not.
var logLevels = map[string]slog.Level{
	"debug": slog.LevelDebug, "info": slog.LevelInfo,
	"warn": slog.LevelWarn, "warning": slog.LevelWarn, "error": slog.LevelError,
}

const logLevelNames = "debug, info, warn (or warning) or error"

// Config is everything the hub can be told at start. ParseConfig fills it from
// flags whose defaults come from environment variables; Defaults holds the
// defaults in one place; Validate says what is wrong with it.
type Config struct {
	Listen      string // HTTP address the page, /ws, the API and the health probes listen on
	HTTPSConfig        // HTTPS on Listen: a certificate pair or ACME (config_tls.go)
	// MetricsAddr is the operator's address of /metrics (and of pprof with
	// Pprof), apart from Listen, which a load balancer or an Ingress opens to
	// the internet; empty: metrics are not served (http_metrics.go).
	MetricsAddr string
	Pprof       bool // Go profiles at /debug/pprof/ on MetricsAddr

	NATSURL       string // external NATS server or cluster; empty embeds one
	NATSEmbedAddr string // where the embedded NATS listens for workers and the CLI
	NATSStoreDir  string // JetStream store of the embedded NATS, and its role nkey seeds
	NATSNoAuth    bool   // the embedded NATS accepts anyone, with every permission (local experiments only)

	// Credentials and TLS for an external NATS (NATSURL); at most one kind of
	// credentials: a JWT creds file, an nkey seed file, user and password, or
	// a token (the last two may also be in the URL).
	NATSCreds    string
	NATSNkey     string
	NATSUser     string
	NATSPassword string
	NATSToken    string
	NATSTLSCA    string // CA certificate(s) of the NATS servers (PEM); the server name is always verified
	NATSTLSCert  string // client certificate (PEM), with NATSTLSKey
	NATSTLSKey   string

	AllowedOrigins []string // browser origins allowed on /ws and the API besides the hub's own; "*" = any
	PublicOrigins  []string // the hub's own origins as browsers see them (scheme://host[:port]); empty = its listen addresses and localhost
	StaticDir      string   // the built page (frontend-ui/dist); served at / when it exists
	AuthConfig              // who may stream and call the API: API keys, JWTs (config_auth.go)

	MaxFrameBytes   int           // largest image accepted; larger ones are answered too_large
	MaxDecodedBytes int64         // most memory an image's header may ask a worker to decode into; more is answered too_large
	FrameTimeout    time.Duration // how long a frame may wait for a worker before it is answered timeout
	FramesInFlight  int           // frames of one session at the workers at once
	DispatchWait    time.Duration // how long a frame may wait at the hub while every worker is full before it is shed
	SessionFPS      float64       // frames a session may send per second (burst of one second); more are rate_limited
	MaxSessions     int           // WebSocket sessions this hub holds at most
	SendQueue       int           // messages queued for one client before it is closed as too slow
	WriteTimeout    time.Duration // how long a client may take to read a message, or its last 256 KiB, before it is closed as slow
	APIRatePerMin   int           // POST /api/v1/analyze requests per client IP and minute
	ControlRate     float64       // control messages (ping, options) a session may send per second (burst of two seconds)

	MaxConnsPerClient    int            // WebSocket connections one client address may hold at once
	ConnectRatePerClient float64        // new WebSocket connections per second from one client address (burst of ten seconds)
	TrustedProxyHeader   string         // header carrying the client address (X-Forwarded-For, X-Real-IP); empty = the socket peer
	TrustedProxies       []netip.Prefix // peers whose TrustedProxyHeader is believed; required with it
	ShutdownTimeout      time.Duration  // how long shutdown waits for sessions and NATS to drain

	Record         bool          // record live frames and results in JetStream (FRAMES, RESULTS)
	RecordMaxAge   time.Duration // how long recordings are kept
	RecordMaxBytes int64         // how much recordings may take, per stream
	// RecordDeleteOld deletes, at start, what earlier runs recorded (kept
	// for replay, and still aging out, otherwise).
	RecordDeleteOld bool
	// JSReplicas is how many NATS servers keep each JetStream stream the hub
	// makes (the recordings, the RESUME bucket): 1 on one server, 3 on a
	// cluster that is to survive the loss of a node. At most the cluster's size.
	JSReplicas int

	// Tracing: record OpenTelemetry spans and export them over OTLP. Set from
	// the standard OTEL_* variables (tracingWanted), not from a flag of the hub.
	Tracing  bool
	LogLevel slog.Level
}

// Defaults are the values a bare `hub` runs with: one machine, embedded NATS.
func Defaults() Config {
	return Config{
		Listen:        ":8080",
		MetricsAddr:   "", // off unless asked for: only the operator knows which address is not public
		HTTPSConfig:   HTTPSConfig{ACMEDirectory: letsEncryptDirectory, ACMECacheDir: ".data/acme"},
		NATSEmbedAddr: "127.0.0.1:4222",
		NATSStoreDir:  ".data/nats",
		StaticDir:     "frontend-ui/dist",
		MaxFrameBytes: 1_000_000, // fits a default NATS max_payload (1 MiB) with room for headers
		// 64 MiB holds a 16-megapixel RGBA PNG or BMP (a JPEG is decoded at
		// reduced scale and costs far less); a 6300×6300 16-bit RGBA PNG, a
		// 300 KB file, would ask for 317 MB.
		MaxDecodedBytes: 64 << 20,
		FrameTimeout:    3 * time.Second,
		FramesInFlight:  2,
		// A frame that waits longer is stale for a live view; a quarter second
		// also keeps p99 of answered frames under a second past saturation
		// (docs/dispatch.md).
		DispatchWait:  250 * time.Millisecond,
		SessionFPS:    60,
		MaxSessions:   10000,
		SendQueue:     64,
		WriteTimeout:  writeWait,
		APIRatePerMin: 120,
		ControlRate:   10,
		// A tab holds one connection; a household or office behind one
		// address holds a few dozen. Reconnects after a network blip come
		// with backoff, far below two per second.
		MaxConnsPerClient:    32,
		ConnectRatePerClient: 2,
		ShutdownTimeout:      10 * time.Second,
		RecordMaxAge:         24 * time.Hour,
		RecordMaxBytes:       1 << 30,
		JSReplicas:           1,
		LogLevel:             slog.LevelInfo,
	}
}

// Embedded reports whether the hub runs its own NATS server.
func (c Config) Embedded() bool { return c.NATSURL == "" }

// ErrInvalidConfig is wrapped by every configuration error.
var ErrInvalidConfig = errors.New("invalid configuration")

// ParseConfig reads flags from args, with defaults taken from the environment
// (getenv) and then from Defaults. Bad values are reported all at once.
func ParseConfig(args []string, getenv func(string) string, usageOut io.Writer) (Config, error) {
	env := envReader{getenv: getenv}
	fs, c, text := configFlags(&env)
	fs.SetOutput(usageOut)
	if err := fs.Parse(args); err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	problems := env.problems
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected arguments %q", fs.Args()))
	}
	c.AllowedOrigins = splitList(text.origins)
	c.PublicOrigins = splitList(text.publicOrigins)
	c.ACMEDomains = splitList(text.acmeDomains)
	for _, cidr := range splitList(text.trustedProxies) {
		prefix, err := parsePrefix(cidr)
		if err != nil {
			problems = append(problems, fmt.Sprintf("trusted proxy %q: want a CIDR such as 10.0.0.0/8 or an address", cidr))
			continue
		}
		c.TrustedProxies = append(c.TrustedProxies, prefix)
	}
	c.Tracing = tracingWanted(getenv)
	if n, err := parseBytes(text.maxFrameBytes); err != nil {
		problems = append(problems, fmt.Sprintf("max frame bytes: %v", err))
	} else {
		c.MaxFrameBytes = int(n)
	}
	if n, err := parseBytes(text.maxDecodedBytes); err != nil {
		problems = append(problems, fmt.Sprintf("max decoded bytes: %v", err))
	} else {
		c.MaxDecodedBytes = n
	}
	if n, err := parseBytes(text.recordMaxBytes); err != nil {
		problems = append(problems, fmt.Sprintf("record max bytes: %v", err))
	} else {
		c.RecordMaxBytes = n
	}
	if level, ok := logLevels[strings.ToLower(text.logLevel)]; ok {
		c.LogLevel = level
	} else {
		problems = append(problems, fmt.Sprintf("log level %q: want %s", text.logLevel, logLevelNames))
	}
	problems = append(problems, c.check()...)
	if len(problems) > 0 {
		return Config{}, fmt.Errorf("%w: %s", ErrInvalidConfig, strings.Join(problems, "; "))
	}
	return *c, nil
}

// configText holds the flags that are parsed after flag parsing (lists, sizes,
// the log level).
type configText struct {
	origins, publicOrigins, trustedProxies, logLevel            string
	maxFrameBytes, maxDecodedBytes, recordMaxBytes, acmeDomains string
}

// configFlags registers every flag of the hub, each with its default from its
// environment variable (named at the end of its usage, which ConfigDoc reads)
// and then from Defaults.
func configFlags(e *envReader) (*flag.FlagSet, *Config, *configText) {
	d := Defaults()
	fs := flag.NewFlagSet("hub", flag.ContinueOnError)
	c, t := &Config{}, &configText{}
	fs.StringVar(&c.Listen, "listen", e.str("HUB_LISTEN", d.Listen), "HTTP listen address (HUB_LISTEN)")
	e.tlsFlags(fs, c, d, &t.acmeDomains)
	fs.StringVar(&c.MetricsAddr, "metrics-addr", e.str("HUB_METRICS_ADDR", d.MetricsAddr), "operator's address (host:port) of /metrics, apart from -listen, e.g. 127.0.0.1:9090; empty: metrics not served (HUB_METRICS_ADDR)")
	e.bool(fs, &c.Pprof, "pprof", "HUB_PPROF", d.Pprof, "serve Go profiles at /debug/pprof/ on -metrics-addr; warned at start (HUB_PPROF)")
	fs.StringVar(&c.NATSURL, "nats-url", e.str("NATS_URL", ""), "external NATS server/cluster URL(s), comma-separated; empty embeds a NATS server (NATS_URL)")
	fs.StringVar(&c.NATSEmbedAddr, "nats-embed-addr", e.str("NATS_EMBED_ADDR", d.NATSEmbedAddr), "listen address of the embedded NATS server (NATS_EMBED_ADDR)")
	fs.StringVar(&c.NATSStoreDir, "nats-store-dir", e.str("NATS_STORE_DIR", d.NATSStoreDir), "JetStream store directory of the embedded NATS server (NATS_STORE_DIR)")
	e.bool(fs, &c.NATSNoAuth, "nats-no-auth", "NATS_NO_AUTH", false, "let anyone connect to the embedded NATS with every permission; for local experiments only, warned at start (NATS_NO_AUTH)")
	fs.StringVar(&c.NATSCreds, "nats-creds", e.str("NATS_CREDS", ""), "JWT credentials file for an external NATS (NATS_CREDS)")
	fs.StringVar(&c.NATSNkey, "nats-nkey", e.str("NATS_NKEY", ""), "nkey seed file for an external NATS (NATS_NKEY)")
	fs.StringVar(&c.NATSUser, "nats-user", e.str("NATS_USER", ""), "user name for an external NATS, with NATS_PASSWORD (NATS_USER)")
	fs.StringVar(&c.NATSPassword, "nats-password", e.str("NATS_PASSWORD", ""), "password for an external NATS; prefer the environment variable (NATS_PASSWORD)")
	fs.StringVar(&c.NATSToken, "nats-token", e.str("NATS_TOKEN", ""), "token for an external NATS; prefer the environment variable (NATS_TOKEN)")
	fs.StringVar(&c.NATSTLSCA, "nats-tls-ca", e.str("NATS_TLS_CA", ""), "CA certificate file that signed the NATS servers' certificates (NATS_TLS_CA)")
	fs.StringVar(&c.NATSTLSCert, "nats-tls-cert", e.str("NATS_TLS_CERT", ""), "client certificate file for NATS TLS, with -nats-tls-key (NATS_TLS_CERT)")
	fs.StringVar(&c.NATSTLSKey, "nats-tls-key", e.str("NATS_TLS_KEY", ""), "client private key file for NATS TLS (NATS_TLS_KEY)")
	fs.StringVar(&t.origins, "allowed-origins", e.str("HUB_ALLOWED_ORIGINS", ""), "comma-separated browser origins allowed besides the hub's own; * allows any (HUB_ALLOWED_ORIGINS)")
	fs.StringVar(&t.publicOrigins, "public-origin", e.str("HUB_PUBLIC_ORIGIN", ""), "comma-separated origins (scheme://host[:port]) browsers reach this hub at; empty: its listen addresses and localhost (HUB_PUBLIC_ORIGIN)")
	e.authFlags(fs, c)
	fs.StringVar(&c.StaticDir, "static-dir", e.str("HUB_STATIC_DIR", d.StaticDir), "directory of the built page served at / (HUB_STATIC_DIR)")
	fs.StringVar(&t.maxFrameBytes, "max-frame-bytes", e.str("HUB_MAX_FRAME_BYTES", strconv.Itoa(d.MaxFrameBytes)), "largest image in bytes, e.g. 2097152 or 2MiB (HUB_MAX_FRAME_BYTES)")
	fs.StringVar(&t.maxDecodedBytes, "max-decoded-bytes", e.str("HUB_MAX_DECODED_BYTES", strconv.FormatInt(d.MaxDecodedBytes, 10)), "most memory an image's header may ask a worker to decode into, e.g. 64MiB; more is answered too_large (HUB_MAX_DECODED_BYTES)")
	e.duration(fs, &c.FrameTimeout, "frame-timeout", "HUB_FRAME_TIMEOUT", d.FrameTimeout, "how long a frame waits for a worker (HUB_FRAME_TIMEOUT)")
	e.duration(fs, &c.DispatchWait, "dispatch-wait", "HUB_DISPATCH_WAIT", d.DispatchWait, "how long a frame may wait while every worker is full before it is answered dropped/overloaded (HUB_DISPATCH_WAIT)")
	e.int(fs, &c.FramesInFlight, "frames-in-flight", "HUB_FRAMES_IN_FLIGHT", d.FramesInFlight, "frames of one session at the workers at once (HUB_FRAMES_IN_FLIGHT)")
	e.float(fs, &c.SessionFPS, "session-fps", "HUB_SESSION_FPS", d.SessionFPS, "frames per second a session may send before frames are rate_limited (HUB_SESSION_FPS)")
	e.int(fs, &c.MaxSessions, "max-sessions", "HUB_MAX_SESSIONS", d.MaxSessions, "WebSocket sessions held at most (HUB_MAX_SESSIONS)")
	e.int(fs, &c.SendQueue, "send-queue", "HUB_SEND_QUEUE", d.SendQueue, "messages queued per client before it is closed as too slow (HUB_SEND_QUEUE)")
	e.duration(fs, &c.WriteTimeout, "write-timeout", "HUB_WRITE_TIMEOUT", d.WriteTimeout, "how long a client may take to read a message, or the last 256 KiB sent to it, before it is closed as slow (HUB_WRITE_TIMEOUT)")
	e.int(fs, &c.APIRatePerMin, "api-rate", "HUB_API_RATE", d.APIRatePerMin, "analyze API requests per client IP per minute (HUB_API_RATE)")
	e.float(fs, &c.ControlRate, "control-rate", "HUB_CONTROL_RATE", d.ControlRate, "control messages (ping, options) per second a session may send before they are rate_limited (HUB_CONTROL_RATE)")
	e.int(fs, &c.MaxConnsPerClient, "max-conns-per-client", "HUB_MAX_CONNS_PER_CLIENT", d.MaxConnsPerClient, "WebSocket connections one client address may hold at once (HUB_MAX_CONNS_PER_CLIENT)")
	e.float(fs, &c.ConnectRatePerClient, "connect-rate-per-client", "HUB_CONNECT_RATE_PER_CLIENT", d.ConnectRatePerClient, "new WebSocket connections per second from one client address, burst of ten seconds (HUB_CONNECT_RATE_PER_CLIENT)")
	fs.StringVar(&c.TrustedProxyHeader, "trusted-proxy-header", e.str("HUB_TRUSTED_PROXY_HEADER", ""), "header with the client address set by a reverse proxy, e.g. X-Forwarded-For; believed only from -trusted-proxies (HUB_TRUSTED_PROXY_HEADER)")
	fs.StringVar(&t.trustedProxies, "trusted-proxies", e.str("HUB_TRUSTED_PROXIES", ""), "comma-separated CIDRs of the reverse proxies whose -trusted-proxy-header is believed (HUB_TRUSTED_PROXIES)")
	e.duration(fs, &c.ShutdownTimeout, "shutdown-timeout", "HUB_SHUTDOWN_TIMEOUT", d.ShutdownTimeout, "how long shutdown may take (HUB_SHUTDOWN_TIMEOUT)")
	e.bool(fs, &c.Record, "record", "HUB_RECORD", false, "record live frames and results in JetStream streams FRAMES and RESULTS (HUB_RECORD)")
	e.duration(fs, &c.RecordMaxAge, "record-max-age", "HUB_RECORD_MAX_AGE", d.RecordMaxAge, "how long recordings are kept (HUB_RECORD_MAX_AGE)")
	e.bool(fs, &c.RecordDeleteOld, "record-delete-old", "HUB_RECORD_DELETE_OLD", false, "delete, at start, the recordings of earlier runs; without it they are kept for replay until they age out (HUB_RECORD_DELETE_OLD)")
	fs.StringVar(&t.recordMaxBytes, "record-max-bytes", e.str("HUB_RECORD_MAX_BYTES", strconv.FormatInt(d.RecordMaxBytes, 10)), "bytes each recording stream may hold, e.g. 1GiB (HUB_RECORD_MAX_BYTES)")
	e.int(fs, &c.JSReplicas, "js-replicas", "HUB_JS_REPLICAS", d.JSReplicas, "NATS servers that keep each JetStream stream of the hub (recordings, resume tokens): 1 to 5, at most the cluster's size (HUB_JS_REPLICAS)")
	fs.StringVar(&t.logLevel, "log-level", e.str("LOG_LEVEL", "info"), logLevelNames+" (LOG_LEVEL)")

	return fs, c, t
}

// Validate reports what is wrong with a Config built in code.
func (c Config) Validate() error {
	if p := c.check(); len(p) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, strings.Join(p, "; "))
	}
	return nil
}

func (c Config) check() []string {
	var p []string
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		p = append(p, fmt.Sprintf("listen address %q: %v", c.Listen, err))
	}
	if c.Embedded() {
		if _, port, err := net.SplitHostPort(c.NATSEmbedAddr); err != nil {
			p = append(p, fmt.Sprintf("embedded NATS address %q: %v", c.NATSEmbedAddr, err))
		} else if _, err := strconv.Atoi(port); err != nil {
			p = append(p, fmt.Sprintf("embedded NATS port %q is not a number", port))
		}
		if c.NATSStoreDir == "" {
			p = append(p, "the embedded NATS store directory is empty")
		}
	}
	p = append(p, c.checkNATSAuth()...)
	p = append(p, c.checkTLS()...)
	p = append(p, c.checkAuth()...)
	p = append(p, c.checkMetrics()...)
	for _, o := range c.AllowedOrigins {
		if o == "*" {
			continue
		}
		if _, err := parseOrigin(o); err != nil {
			p = append(p, fmt.Sprintf("allowed origin %q: want scheme://host[:port] or *", o))
		}
	}
	for _, o := range c.PublicOrigins {
		if _, err := parseOrigin(o); err != nil {
			p = append(p, fmt.Sprintf("public origin %q: want scheme://host[:port]", o))
		}
	}
	if (c.TrustedProxyHeader == "") != (len(c.TrustedProxies) == 0) {
		p = append(p, "a trusted proxy header and trusted proxies go together: set both or neither")
	}
	if c.MaxFrameBytes < 1024 || c.MaxFrameBytes > maxFrameBytesLimit {
		p = append(p, fmt.Sprintf("max frame bytes %d: want 1KiB to %d (the embedded NATS max payload less room for headers)", c.MaxFrameBytes, maxFrameBytesLimit))
	}
	if c.MaxDecodedBytes < 1<<20 {
		p = append(p, fmt.Sprintf("max decoded bytes %d: want at least 1MiB (a 224×224 frame decodes into 150 KB)", c.MaxDecodedBytes))
	}
	if c.FrameTimeout < 10*time.Millisecond || c.FrameTimeout > 5*time.Minute {
		p = append(p, fmt.Sprintf("frame timeout %v: want 10ms to 5m", c.FrameTimeout))
	}
	if c.DispatchWait < time.Millisecond { // (longer than the frame timeout: the frame timeout bounds it)
		p = append(p, fmt.Sprintf("dispatch wait %v: want at least 1ms", c.DispatchWait))
	}
	if c.FramesInFlight < 1 || c.FramesInFlight > 64 {
		p = append(p, fmt.Sprintf("frames in flight %d: want 1 to 64", c.FramesInFlight))
	}
	if c.SessionFPS <= 0 {
		p = append(p, fmt.Sprintf("session fps %v: want more than 0", c.SessionFPS))
	}
	if c.MaxSessions < 1 {
		p = append(p, fmt.Sprintf("max sessions %d: want at least 1", c.MaxSessions))
	}
	if c.SendQueue < 4 {
		p = append(p, fmt.Sprintf("send queue %d: want at least 4", c.SendQueue))
	}
	if c.WriteTimeout < 100*time.Millisecond || c.WriteTimeout > 5*time.Minute {
		p = append(p, fmt.Sprintf("write timeout %v: want 100ms to 5m", c.WriteTimeout))
	}
	if c.APIRatePerMin < 1 {
		p = append(p, fmt.Sprintf("api rate %d: want at least 1 per minute", c.APIRatePerMin))
	}
	if c.ControlRate <= 0 {
		p = append(p, fmt.Sprintf("control rate %v: want more than 0", c.ControlRate))
	}
	if c.MaxConnsPerClient < 1 {
		p = append(p, fmt.Sprintf("max connections per client %d: want at least 1", c.MaxConnsPerClient))
	}
	if c.ConnectRatePerClient <= 0 {
		p = append(p, fmt.Sprintf("connect rate per client %v: want more than 0", c.ConnectRatePerClient))
	}
	if c.ShutdownTimeout <= 0 {
		p = append(p, "shutdown timeout must be positive")
	}
	if c.JSReplicas < 1 || c.JSReplicas > maxJSReplicas {
		p = append(p, fmt.Sprintf("JetStream replicas %d: want 1 to %d", c.JSReplicas, maxJSReplicas))
	} else if c.Embedded() && c.JSReplicas > 1 {
		p = append(p, fmt.Sprintf("JetStream replicas %d: the embedded NATS is one server; more replicas need a NATS cluster (NATS_URL)", c.JSReplicas))
	}
	if c.Record && (c.RecordMaxAge <= 0 || c.RecordMaxBytes <= 0) {
		p = append(p, "recording needs a positive max age and max bytes")
	}
	return p
}

// maxJSReplicas is JetStream's own limit on a stream's replicas.
const maxJSReplicas = 5

// envReader turns environment variables into flag defaults and remembers
// the ones it could not parse, so all bad values are reported together.
type envReader struct {
	getenv   func(string) string
	problems []string
}

func (e *envReader) str(key, def string) string {
	if v := strings.TrimSpace(e.getenv(key)); v != "" {
		return v
	}
	return def
}

func (e *envReader) bad(key, v, want string) {
	e.problems = append(e.problems, fmt.Sprintf("%s=%q: want %s", key, v, want))
}

// envDefault returns the value of environment variable key parsed by
// parse, or def when it is unset or (noted as a problem) does not parse.
func envDefault[T any](e *envReader, key string, def T, parse func(string) (T, error), want string) T {
	v := e.str(key, "")
	if v == "" {
		return def
	}
	parsed, err := parse(v)
	if err != nil {
		e.bad(key, v, want)
		return def
	}
	return parsed
}

func (e *envReader) duration(fs *flag.FlagSet, p *time.Duration, name, key string, def time.Duration, usage string) {
	fs.DurationVar(p, name, envDefault(e, key, def, time.ParseDuration, "a duration such as 2s or 500ms"), usage)
}

func (e *envReader) int(fs *flag.FlagSet, p *int, name, key string, def int, usage string) {
	fs.IntVar(p, name, envDefault(e, key, def, strconv.Atoi, "a whole number"), usage)
}

func (e *envReader) float(fs *flag.FlagSet, p *float64, name, key string, def float64, usage string) {
	parse := func(s string) (float64, error) { return strconv.ParseFloat(s, 64) }
	fs.Float64Var(p, name, envDefault(e, key, def, parse, "a number"), usage)
}

func (e *envReader) bool(fs *flag.FlagSet, p *bool, name, key string, def bool, usage string) {
	fs.BoolVar(p, name, envDefault(e, key, def, strconv.ParseBool, "true or false"), usage)
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// parsePrefix reads a CIDR, or a single address as its own /32 or /128.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// parseBytes reads "2097152", "512KiB", "2MiB", "1GiB" (also KB/MB/GB as powers of 1024).
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size such as 2097152 or 2MiB", s)
	}
	return n * mult, nil
}

// warnOpenings logs a warning for each option that opens the hub wider
// than its default.
func warnOpenings(c Config, log *slog.Logger) {
	for _, o := range c.AllowedOrigins {
		if o == "*" {
			log.Warn("any browser origin may open sessions and call the API (HUB_ALLOWED_ORIGINS=*)")
		}
	}
	warnHTTPSOpenings(c, log)
	if c.TrustedProxyHeader != "" {
		log.Warn("client addresses are taken from a proxy header", "header", c.TrustedProxyHeader, "trusted_proxies", c.TrustedProxies)
	}
}

// ConfigFromEnv is the usual way to build the Config of a process.
func ConfigFromEnv(args []string) (Config, error) {
	return ParseConfig(args, os.Getenv, os.Stderr)
}

// Payload limits. A frame travels as one NATS message with its headers; in
// a WebSocket text message or the analyze API's body it is base64 inside JSON.
const (
	// natsHeaderRoom is what a frame's NATS headers may take of the server's
	// max payload: the headers of docs/asyncapi.yaml take about 150 bytes.
	natsHeaderRoom = 4 << 10
	// jsonEnvelopeRoom is what the JSON around a base64 image may take
	// (field names, a data: URL prefix).
	jsonEnvelopeRoom = 4 << 10
	// maxFrameBytesLimit keeps a frame and its headers inside the embedded
	// NATS server's max payload.
	maxFrameBytesLimit = embeddednats.MaxPayload - natsHeaderRoom
)

// textMessageLimit is the largest WebSocket text message (and analyze API
// body) the hub reads: a frame in base64 inside its JSON.
func textMessageLimit(maxFrameBytes int) int {
	return base64.StdEncoding.EncodedLen(maxFrameBytes) + jsonEnvelopeRoom
}

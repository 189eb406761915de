package hub

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigDefaults(t *testing.T) {
	c, err := ParseConfig(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Embedded() || c.NATSEmbedAddr != "127.0.0.1:4222" || c.Listen != ":8080" || c.FramesInFlight != 2 || c.Record {
		t.Fatalf("defaults %+v", c)
	}
}

func TestConfigEnvThenFlags(t *testing.T) {
	e := env(map[string]string{
		"HUB_LISTEN": "127.0.0.1:9000", "NATS_URL": "nats://a:4222,nats://b:4222", "HUB_FRAME_TIMEOUT": "750ms",
		"HUB_MAX_FRAME_BYTES": "512KiB", "HUB_ALLOWED_ORIGINS": "https://a.example, https://b.example", "HUB_RECORD": "true",
		"HUB_PUBLIC_ORIGIN": "https://cam.example", "HUB_TRUSTED_PROXY_HEADER": "X-Forwarded-For", "HUB_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7",
		"HUB_DISPATCH_WAIT": "100ms",
	})
	c, err := ParseConfig([]string{"-frames-in-flight", "4", "-listen", ":7000"}, e, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != ":7000" || c.FramesInFlight != 4 {
		t.Fatalf("flags did not override: %+v", c)
	}
	if c.Embedded() || c.FrameTimeout != 750*time.Millisecond || c.MaxFrameBytes != 512<<10 || len(c.AllowedOrigins) != 2 || !c.Record ||
		len(c.PublicOrigins) != 1 || c.TrustedProxyHeader != "X-Forwarded-For" || len(c.TrustedProxies) != 2 || c.TrustedProxies[1].Bits() != 32 ||
		c.DispatchWait != 100*time.Millisecond {
		t.Fatalf("environment not applied: %+v", c)
	}
}

// TestConfigLogLevels: the names the worker takes too (inference_server/tests/test_config.py),
// in any case, so one LOG_LEVEL serves every part.
func TestConfigLogLevels(t *testing.T) {
	for name, want := range map[string]slog.Level{
		"debug": slog.LevelDebug, "INFO": slog.LevelInfo, "warn": slog.LevelWarn, "Warning": slog.LevelWarn,
		"WARN": slog.LevelWarn, "error": slog.LevelError,
	} {
		c, err := ParseConfig(nil, env(map[string]string{"LOG_LEVEL": name}), io.Discard)
		if err != nil || c.LogLevel != want {
			t.Errorf("LOG_LEVEL=%s: level %v, error %v; want %v", name, c.LogLevel, err, want)
		}
	}
	for _, name := range []string{"info+2", "fatal", "critical"} {
		if _, err := ParseConfig([]string{"-log-level", name}, env(nil), io.Discard); !errors.Is(err, ErrInvalidConfig) ||
			!strings.Contains(err.Error(), "want debug, info, warn (or warning) or error") {
			t.Errorf("-log-level %q: error %v, want one naming the levels", name, err)
		}
	}
}

func TestConfigRejectsBadValuesClearly(t *testing.T) {
	cases := map[string]struct {
		env  map[string]string
		args []string
		want string
	}{
		"env duration":       {map[string]string{"HUB_FRAME_TIMEOUT": "soon"}, nil, `HUB_FRAME_TIMEOUT="soon"`},
		"in flight":          {nil, []string{"-frames-in-flight", "0"}, "frames in flight 0"},
		"dispatch wait":      {nil, []string{"-dispatch-wait", "0s"}, "dispatch wait 0s"},
		"nats url":           {map[string]string{"NATS_URL": "localhost"}, nil, `NATS URL "localhost"`},
		"origin":             {nil, []string{"-allowed-origins", "cam.example"}, `allowed origin "cam.example"`},
		"frame size":         {nil, []string{"-max-frame-bytes", "lots"}, "max frame bytes"},
		"huge frame":         {nil, []string{"-max-frame-bytes", "1GiB"}, "max frame bytes"},
		"listen":             {nil, []string{"-listen", "8080"}, "listen address"},
		"log level":          {map[string]string{"LOG_LEVEL": "chatty"}, nil, "log level"},
		"extra argument":     {nil, []string{"serve"}, "unexpected arguments"},
		"creds embedded":     {map[string]string{"NATS_CREDS": "/etc/hosts"}, nil, "are for an external NATS"},
		"tls embedded":       {map[string]string{"NATS_TLS_CA": "/etc/hosts"}, nil, "are for an external NATS"},
		"no-auth external":   {map[string]string{"NATS_URL": "nats://n:4222", "NATS_NO_AUTH": "true"}, nil, "opens the embedded NATS only"},
		"two credentials":    {map[string]string{"NATS_URL": "nats://n:4222", "NATS_CREDS": "/etc/hosts", "NATS_NKEY": "/etc/hosts"}, nil, "give one kind"},
		"token and url user": {map[string]string{"NATS_URL": "nats://u:p@n:4222", "NATS_TOKEN": "t"}, nil, "give one kind"},
		"user no password":   {map[string]string{"NATS_URL": "nats://n:4222", "NATS_USER": "hub"}, nil, "NATS_USER and NATS_PASSWORD go together"},
		"cert no key":        {map[string]string{"NATS_URL": "tls://n:4222", "NATS_TLS_CERT": "/etc/hosts"}, nil, "NATS_TLS_CERT and NATS_TLS_KEY go together"},
		"missing file":       {map[string]string{"NATS_URL": "nats://n:4222", "NATS_NKEY": "/nonexistent/hub.nk"}, nil, "NATS_NKEY: open /nonexistent/hub.nk"},
		"password hidden":    {map[string]string{"NATS_URL": "nats://u:s3cret@"}, nil, "xxxxx"},
		"public origin":      {map[string]string{"HUB_PUBLIC_ORIGIN": "https://cam.example/app"}, nil, `public origin "https://cam.example/app"`},
		"proxy alone":        {map[string]string{"HUB_TRUSTED_PROXY_HEADER": "X-Forwarded-For"}, nil, "set both or neither"},
		"proxy cidr":         {map[string]string{"HUB_TRUSTED_PROXY_HEADER": "X-Real-IP", "HUB_TRUSTED_PROXIES": "10.0.0.0/33"}, nil, `trusted proxy "10.0.0.0/33"`},
		"conns":              {nil, []string{"-max-conns-per-client", "0"}, "max connections per client 0"},
		"control rate":       {map[string]string{"HUB_CONTROL_RATE": "0"}, nil, "control rate 0"},
	}
	for name, c := range cases {
		_, err := ParseConfig(c.args, env(c.env), io.Discard)
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: the error shows a password: %v", name, err)
		}
	}
}

package hub

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestConfigHTTPS(t *testing.T) {
	c, err := ParseConfig(nil, env(map[string]string{"HUB_TLS_CERT": "/etc/hub/cert.pem", "HUB_TLS_KEY": "/etc/hub/key.pem"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !c.ServesHTTPS() || c.TLSCert != "/etc/hub/cert.pem" || c.TLSKey != "/etc/hub/key.pem" || c.httpScheme() != "https" {
		t.Fatalf("TLS variables not applied: %+v", c.HTTPSConfig)
	}
	c, err = ParseConfig([]string{"-acme-domain", "cam.example.org, cam2.example.org", "-acme-http-addr", ":80"}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !c.ServesHTTPS() || len(c.ACMEDomains) != 2 || c.ACMEDirectory != letsEncryptDirectory || c.ACMECacheDir != ".data/acme" || c.ACMEHTTPAddr != ":80" {
		t.Fatalf("ACME flags not applied: %+v", c.HTTPSConfig)
	}
	if c, _ := ParseConfig(nil, env(nil), io.Discard); c.ServesHTTPS() || c.httpScheme() != "http" {
		t.Fatalf("HTTPS on by default: %+v", c.HTTPSConfig)
	}
}

func TestConfigHTTPSRefusesBadSettings(t *testing.T) {
	cases := map[string]struct {
		env  map[string]string
		args []string
		want string
	}{
		"cert alone":        {map[string]string{"HUB_TLS_CERT": "c.pem"}, nil, "-tls-cert and -tls-key"},
		"key alone":         {map[string]string{"HUB_TLS_KEY": "k.pem"}, nil, "-tls-cert and -tls-key"},
		"both kinds":        {map[string]string{"HUB_TLS_CERT": "c.pem", "HUB_TLS_KEY": "k.pem", "HUB_ACME_DOMAIN": "cam.example.org"}, nil, "either your own certificate or one from ACME"},
		"single label":      {map[string]string{"HUB_ACME_DOMAIN": "localhost"}, nil, `ACME domain "localhost"`},
		"domain with port":  {map[string]string{"HUB_ACME_DOMAIN": "cam.example.org:443"}, nil, `ACME domain "cam.example.org:443"`},
		"wildcard":          {map[string]string{"HUB_ACME_DOMAIN": "*.example.org"}, nil, "no scheme, port, path or wildcard"},
		"plain directory":   {map[string]string{"HUB_ACME_DOMAIN": "cam.example.org", "HUB_ACME_DIRECTORY": "http://ca.example/dir"}, nil, "want an https:// URL"},
		"no cache dir":      {map[string]string{"HUB_ACME_DOMAIN": "cam.example.org"}, []string{"-acme-cache-dir", ""}, "ACME cache directory is empty"},
		"missing CA file":   {map[string]string{"HUB_ACME_DOMAIN": "cam.example.org", "HUB_ACME_CA_FILE": "/nonexistent/ca.pem"}, nil, "/nonexistent/ca.pem"},
		"bad http-01 addr":  {map[string]string{"HUB_ACME_DOMAIN": "cam.example.org", "HUB_ACME_HTTP_ADDR": "80"}, nil, "ACME HTTP-01 address"},
		"acme without one":  {map[string]string{"HUB_ACME_HTTP_ADDR": ":80"}, nil, "are for -acme-domain"},
		"CA on plain http":  {map[string]string{"HUB_SERVE_CA_CERT": "/etc/hosts"}, nil, "is for a hub serving HTTPS"},
		"missing served CA": {map[string]string{"HUB_TLS_CERT": "c.pem", "HUB_TLS_KEY": "k.pem", "HUB_SERVE_CA_CERT": "/nonexistent/ca.crt"}, nil, "/nonexistent/ca.crt"},
	}
	for name, c := range cases {
		_, err := ParseConfig(c.args, env(c.env), io.Discard)
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", name, err, c.want)
		}
	}
}

package testkit

import (
	"crypto/ecdsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/webcamhub/webcamhub/internal/devcert"
)

// TLSFiles are PEM files a test made in its temp dir: a CA, a server
// certificate for 127.0.0.1 and localhost, and a client certificate.
type TLSFiles struct {
	CA, ServerCert, ServerKey, ClientCert, ClientKey string
}

// MakeTLSFiles writes a fresh CA and the certificates it signed into a new
// temp dir of t.
func MakeTLSFiles(t testing.TB) TLSFiles {
	t.Helper()
	dir := t.TempDir()
	caKey, caCert, caDER := newCert(t, nil, nil, &x509.Certificate{
		Subject: pkix.Name{CommonName: "webcamhub test CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	})
	f := TLSFiles{CA: filepath.Join(dir, "ca.pem")}
	writePEM(t, f.CA, "CERTIFICATE", caDER)
	for _, leaf := range []struct {
		name      string
		cert, key *string
		tmpl      *x509.Certificate
	}{
		{"server", &f.ServerCert, &f.ServerKey, &x509.Certificate{
			Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		}},
		{"client", &f.ClientCert, &f.ClientKey, &x509.Certificate{
			Subject: pkix.Name{CommonName: "webcamhub client"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}},
	} {
		key, _, der := newCert(t, caCert, caKey, leaf.tmpl)
		*leaf.cert = filepath.Join(dir, leaf.name+".pem")
		*leaf.key = filepath.Join(dir, leaf.name+"-key.pem")
		if err := devcert.WritePair(*leaf.cert, *leaf.key, der, key); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// newCert is a certificate of tmpl, valid from an hour ago for a day,
// made and signed by devcert.Sign.
func newCert(t testing.TB, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, tmpl *x509.Certificate) (*ecdsa.PrivateKey, *x509.Certificate, []byte) {
	t.Helper()
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	if tmpl.KeyUsage == 0 {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	}
	key, der, err := devcert.Sign(tmpl, parent, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert, der
}

func writePEM(t testing.TB, path, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

package devcert

import (
	"crypto/x509"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func load(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	der, err := readPEM(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// verify checks that the certificate in dir is trusted, through the CA in
// dir, for name (a DNS name or an address).
func verify(t *testing.T, dir, name string, now time.Time) error {
	t.Helper()
	f := FilesIn(dir)
	roots := x509.NewCertPool()
	roots.AddCert(load(t, f.CA))
	_, err := load(t, f.Cert).Verify(x509.VerifyOptions{DNSName: name, Roots: roots, CurrentTime: now})
	return err
}

var lan = Names{DNS: []string{"localhost", "box.local"}, IPs: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("192.168.1.20"), net.ParseIP("::1")}}

func TestMakesACertificateForTheNamesThenKeepsIt(t *testing.T) {
	dir, now := t.TempDir(), time.Now()
	res, err := Ensure(dir, lan, now)
	if err != nil || !res.NewCA || !res.NewCert {
		t.Fatalf("first Ensure = %+v, %v", res, err)
	}
	for _, name := range []string{"localhost", "box.local", "127.0.0.1", "192.168.1.20", "::1"} {
		if err := verify(t, dir, name, now); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := verify(t, dir, "192.168.1.21", now); err == nil {
		t.Error("the certificate is good for an address it does not name")
	}
	if info, err := os.Stat(FilesIn(dir).CAKey); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("CA key mode %v, %v", info.Mode(), err)
	}
	serial := load(t, FilesIn(dir).Cert).SerialNumber

	// Same names, a day later: nothing made. (Order does not matter.)
	again := Names{DNS: []string{"box.local", "localhost"}, IPs: []net.IP{net.ParseIP("::1"), net.ParseIP("192.168.1.20"), net.ParseIP("127.0.0.1")}}
	res, err = Ensure(dir, again, now.Add(24*time.Hour))
	if err != nil || res.NewCA || res.NewCert || load(t, FilesIn(dir).Cert).SerialNumber.Cmp(serial) != 0 {
		t.Fatalf("Ensure with the same names = %+v, %v", res, err)
	}
}

func TestRemakesTheCertificateWhenTheAddressesChangeOrItNearsItsEnd(t *testing.T) {
	dir, now := t.TempDir(), time.Now()
	if _, err := Ensure(dir, lan, now); err != nil {
		t.Fatal(err)
	}
	ca := load(t, FilesIn(dir).CA).SerialNumber
	moved := Names{DNS: lan.DNS, IPs: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.1.2.3")}}
	res, err := Ensure(dir, moved, now)
	if err != nil || res.NewCA || !res.NewCert || !strings.Contains(res.Why, "addresses changed") {
		t.Fatalf("Ensure after a move = %+v, %v", res, err)
	}
	if err := verify(t, dir, "10.1.2.3", now); err != nil {
		t.Fatal(err)
	}
	if load(t, FilesIn(dir).CA).SerialNumber.Cmp(ca) != 0 {
		t.Fatal("the CA (installed on phones) was remade for a new address")
	}
	later := now.Add(leafValidity - renewBefore/2)
	if res, err := Ensure(dir, moved, later); err != nil || res.NewCA || !res.NewCert || !strings.Contains(res.Why, "nears its end") {
		t.Fatalf("Ensure near the end = %+v, %v", res, err)
	}
}

func TestTheCAIsConstrainedToLocalNames(t *testing.T) {
	dir, now := t.TempDir(), time.Now()
	if _, err := Ensure(dir, Names{IPs: []net.IP{net.ParseIP("8.8.8.8")}}, now); err == nil {
		t.Fatal("a public address was signed")
	}
	if _, err := Ensure(dir, lan, now); err != nil {
		t.Fatal(err)
	}
	// Even a certificate the CA's key signs for a public name is not
	// trusted through it: a leaked key cannot impersonate a website.
	f := FilesIn(dir)
	ca, caKey, err := loadPair(f.CA, f.CAKey)
	if err != nil {
		t.Fatal(err)
	}
	evil := Files{Cert: dir + "/evil.pem", Key: dir + "/evil-key.pem"}
	if err := makeLeaf(evil, ca, caKey, Names{DNS: []string{"bank.example"}, IPs: []net.IP{net.ParseIP("8.8.8.8")}}, now); err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	for _, name := range []string{"bank.example", "8.8.8.8"} {
		if _, err := load(t, evil.Cert).Verify(x509.VerifyOptions{DNSName: name, Roots: roots, CurrentTime: now}); err == nil {
			t.Errorf("a certificate for %s verified through the local CA", name)
		}
	}
}

func TestABrokenOrForeignCertificateIsRemade(t *testing.T) {
	dir, now := t.TempDir(), time.Now()
	if _, err := Ensure(dir, lan, now); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(FilesIn(dir).Key, []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if res, err := Ensure(dir, lan, now); err != nil || res.NewCA || !res.NewCert {
		t.Fatalf("Ensure with a broken key = %+v, %v", res, err)
	}
	if err := verify(t, dir, "localhost", now); err != nil {
		t.Fatal(err)
	}
}

func TestLocalNamesAreSignable(t *testing.T) {
	n, err := LocalNames()
	if err != nil {
		t.Fatal(err)
	}
	if len(n.IPs) == 0 || !slices.Contains(n.DNS, "localhost") {
		t.Fatalf("local names %+v lack localhost or loopback", n)
	}
	if _, err := Ensure(t.TempDir(), n, time.Now()); err != nil {
		t.Fatal(err)
	}
}

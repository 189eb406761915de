package certreload

import (
	"crypto/tls"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/webcamhub/webcamhub/internal/testkit"
)

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// serial is the serial number of the certificate r serves now, after
// letting a stat interval pass so that a handshake looks at the files.
func servedSerial(t *testing.T, r *Reloader) string {
	t.Helper()
	r.mu.Lock()
	r.lastCheck = time.Time{} // as if a stat interval had passed
	r.mu.Unlock()
	c, err := r.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatal(err)
	}
	return c.Leaf.SerialNumber.String()
}

func TestReloadsChangedFilesAndKeepsTheOldPairWhenTheNewOneIsBroken(t *testing.T) {
	first, second := testkit.MakeTLSFiles(t), testkit.MakeTLSFiles(t)
	dir := t.TempDir()
	cert, key := dir+"/cert.pem", dir+"/key.pem"
	copyFile(t, first.ServerCert, cert)
	copyFile(t, first.ServerKey, key)
	var reloads []error
	r, err := New(cert, key, func(err error) { reloads = append(reloads, err) })
	if err != nil {
		t.Fatal(err)
	}
	old := servedSerial(t, r)
	if len(reloads) != 0 {
		t.Fatalf("unchanged files reloaded: %v", reloads)
	}

	// A renewal half done: the new certificate with the old key.
	copyFile(t, second.ServerCert, cert)
	if got := servedSerial(t, r); got != old {
		t.Fatalf("a certificate without its key was taken into service")
	}
	if len(reloads) != 1 || !errors.Is(reloads[0], ErrBadCertificate) || !strings.Contains(reloads[0].Error(), "private key does not match") {
		t.Fatalf("reloads = %v, want one mismatch", reloads)
	}
	servedSerial(t, r)
	if len(reloads) != 1 {
		t.Fatalf("the same broken pair reported again: %v", reloads)
	}

	// The key follows: the new pair is served.
	copyFile(t, second.ServerKey, key)
	if got := servedSerial(t, r); got == old {
		t.Fatal("the renewed pair is not served")
	}
	if len(reloads) != 2 || reloads[1] != nil {
		t.Fatalf("reloads = %v, want a success last", reloads)
	}
}

func TestStatIsThrottled(t *testing.T) {
	first, second := testkit.MakeTLSFiles(t), testkit.MakeTLSFiles(t)
	dir := t.TempDir()
	cert, key := dir+"/cert.pem", dir+"/key.pem"
	copyFile(t, first.ServerCert, cert)
	copyFile(t, first.ServerKey, key)
	r, err := New(cert, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	old := r.Certificate().Leaf.SerialNumber.String()
	copyFile(t, second.ServerCert, cert)
	copyFile(t, second.ServerKey, key)
	// Right after New, within the stat interval: the files are not looked at.
	c, _ := r.GetCertificate(&tls.ClientHelloInfo{})
	if c.Leaf.SerialNumber.String() != old {
		t.Fatal("files looked at within the stat interval")
	}
	if servedSerial(t, r) == old {
		t.Fatal("changed files not picked up after the stat interval")
	}
}

func TestBadPairsAreRefusedAtStart(t *testing.T) {
	a, b := testkit.MakeTLSFiles(t), testkit.MakeTLSFiles(t)
	garbage := t.TempDir() + "/garbage.pem"
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	unreadable := t.TempDir() + "/unreadable.pem"
	copyFile(t, a.ServerKey, unreadable)
	if err := os.Chmod(unreadable, 0); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, cert, key, want string
	}{
		{"key of another certificate", a.ServerCert, b.ServerKey, "private key does not match public key"},
		{"not PEM", garbage, a.ServerKey, "failed to find any PEM data in certificate input"},
		{"missing certificate", a.ServerCert + ".missing", a.ServerKey, "no such file"},
		{"missing key", a.ServerCert, a.ServerKey + ".missing", "no such file"},
		{"a directory as the key", a.ServerCert, t.TempDir(), "is a directory"},
	}
	if os.Geteuid() != 0 { // root reads any file
		cases = append(cases, struct{ name, cert, key, want string }{"unreadable key", a.ServerCert, unreadable, "permission denied"})
	}
	for _, c := range cases {
		_, err := New(c.cert, c.key, nil)
		if !errors.Is(err, ErrBadCertificate) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
}

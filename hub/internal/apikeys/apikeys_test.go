package apikeys

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAddOpenLookupAndRevokeByRemovingTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys")
	laptop, err := Add(path, "laptop")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(laptop, keyPrefix) || len(laptop) != len(keyPrefix)+43 {
		t.Fatalf("key %q: want whk_ and 32 bytes in base64url", laptop)
	}
	if _, err := Add(path, "laptop"); !errors.Is(err, ErrBadFile) {
		t.Fatalf("a second key named laptop: %v, want refused", err)
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), laptop) {
		t.Fatal("the file holds the key itself, not its hash")
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v, want 0600", st.Mode().Perm())
	}
	var reloads []error
	f, err := Open(path, func(_ int, err error) { reloads = append(reloads, err) })
	if err != nil {
		t.Fatal(err)
	}
	if name, ok := f.Lookup(laptop); !ok || name != "laptop" {
		t.Fatalf("Lookup(laptop key) = %q %v", name, ok)
	}
	if _, ok := f.Lookup(laptop + "x"); ok {
		t.Fatal("a wrong key was accepted")
	}
	phone, err := Add(path, "phone")
	if err != nil {
		t.Fatal(err)
	}
	f.lastCheck = time.Time{} // (rather than waiting out statInterval)
	if name, ok := f.Lookup(phone); !ok || name != "phone" || f.Len() != 2 {
		t.Fatalf("after Add: Lookup(phone) = %q %v, %d keys", name, ok, f.Len())
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	f.lastCheck = time.Time{}
	if _, ok := f.Lookup(phone); ok || f.Len() != 0 {
		t.Fatal("a key was accepted after the file was removed")
	}
	if len(reloads) != 2 || reloads[0] != nil || !errors.Is(reloads[1], ErrBadFile) {
		t.Fatalf("reloads reported %v, want a success then the missing file", reloads)
	}
}

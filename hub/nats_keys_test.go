package hub

import (
	"bytes"

	"github.com/nats-io/nkeys"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
)

// `hub keys` writes what an external nats-server needs: its auth file,
// read by nats-server itself, lets in the three role keys with exactly the
// permissions of the embedded server; a second run keeps the seeds.
func TestWriteNATSKeysMakesTheEmbeddedServersAuthForAnExternalOne(t *testing.T) {
	dir := t.TempDir()
	if err := WriteNATSKeys(dir, nil); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "server.conf")
	if err := os.WriteFile(conf, []byte("listen: 127.0.0.1:-1\ninclude "+NATSAuthFile+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatalf("nats-server refuses %s: %v", NATSAuthFile, err)
	}
	keys, err := loadSeedsForTest(dir)
	if err != nil {
		t.Fatal(err)
	}
	perms := rolePermissions()
	if len(opts.Nkeys) != len(natsRoles) {
		t.Fatalf("%d nkey users, want %d", len(opts.Nkeys), len(natsRoles))
	}
	for _, u := range opts.Nkeys {
		role, ok := keys[u.Nkey]
		if !ok {
			t.Fatalf("user %s is none of the role seeds", u.Nkey)
		}
		if !reflect.DeepEqual(u.Permissions, perms[role]) {
			t.Errorf("role %s: permissions %+v, want the embedded server's %+v", role, u.Permissions, perms[role])
		}
	}
	env := mustReadFile(t, filepath.Join(dir, NATSRolesEnvFile))
	if err := WriteNATSKeys(dir, nil); err != nil {
		t.Fatal(err)
	}
	if again := mustReadFile(t, filepath.Join(dir, NATSRolesEnvFile)); again != env {
		t.Fatalf("a second run changed the keys:\n%s\n%s", env, again)
	}
	if err := WriteNATSKeys(dir, map[string]int{"nobody": 0}); err == nil {
		t.Fatal("an owner for an unknown role was accepted")
	}
}

func loadSeedsForTest(dir string) (map[string]string, error) {
	out := map[string]string{}
	for _, role := range natsRoles {
		kp, err := nkeyFromFile(filepath.Join(dir, role+".nk"))
		if err != nil {
			return nil, err
		}
		pub, _ := kp.PublicKey()
		out[pub] = role
	}
	return out, nil
}

func mustReadFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func nkeyFromFile(path string) (nkeys.KeyPair, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return nkeys.FromSeed(bytes.TrimSpace(b))
}

package hub

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
)

// deploy/nats/permissions.conf (the cluster example's servers) gives each
// role exactly the permissions the embedded server gives it. (docker
// compose's server gets them from `hub keys`: nats_keys_test.go.)
func TestDeployPermissionsMatchTheEmbeddedRoles(t *testing.T) {
	perms, err := os.ReadFile("../deploy/nats/permissions.conf")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	conf := "include permissions.conf\nauthorization { users: [\n" +
		"{ user: hub, password: a, permissions: $HUB_PERMISSIONS }\n" +
		"{ user: worker, password: b, permissions: $WORKER_PERMISSIONS }\n" +
		"{ user: cli, password: c, permissions: $CLI_PERMISSIONS }\n] }\n"
	for name, data := range map[string][]byte{"permissions.conf": perms, "server.conf": []byte(conf)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	opts, err := server.ProcessConfigFile(filepath.Join(dir, "server.conf"))
	if err != nil {
		t.Fatal(err)
	}
	want := rolePermissions()
	if len(opts.Users) != len(want) {
		t.Fatalf("%d users, want %d", len(opts.Users), len(want))
	}
	for _, u := range opts.Users {
		w, ok := want[u.Username]
		if !ok {
			t.Fatalf("user %q is no role", u.Username)
		}
		got := u.Permissions
		same := func(a, b *server.SubjectPermission) bool {
			return a != nil && b != nil && reflect.DeepEqual(sorted(a.Allow), sorted(b.Allow)) && len(a.Deny) == 0 && len(b.Deny) == 0
		}
		if !same(got.Publish, w.Publish) {
			t.Errorf("%s publish: deploy %v, embedded %v", u.Username, got.Publish, w.Publish)
		}
		if !same(got.Subscribe, w.Subscribe) {
			t.Errorf("%s subscribe: deploy %v, embedded %v", u.Username, got.Subscribe, w.Subscribe)
		}
		if !reflect.DeepEqual(got.Response, w.Response) {
			t.Errorf("%s allow_responses: deploy %+v, embedded %+v", u.Username, got.Response, w.Response)
		}
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

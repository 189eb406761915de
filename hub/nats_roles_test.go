package hub

import (
	"reflect"
	"slices"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
)

// deploy/nats/permissions.conf (external servers) gives each role exactly
// the permissions the embedded server gives it.
func TestDeployPermissionsMatchTheEmbeddedRoles(t *testing.T) {
	for _, role := range natsRoles {
		t.Setenv("NATS_"+map[string]string{roleHub: "HUB", roleWorker: "WORKER", roleCLI: "CLI"}[role]+"_PASSWORD", "example-"+role)
	}
	opts, err := server.ProcessConfigFile("../deploy/nats/nats.conf")
	if err != nil {
		t.Fatal(err)
	}
	want := rolePermissions()
	if len(opts.Users) != len(want) {
		t.Fatalf("%d users in deploy/nats/nats.conf, want %d", len(opts.Users), len(want))
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

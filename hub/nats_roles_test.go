package hub

import (
	"reflect"
	"slices"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/webcamhub/webcamhub/internal/testkit"
)

// deploy/nats/permissions.conf (the cluster example's servers) gives each
// role exactly the permissions the embedded server gives it. (docker
// compose's server gets them from `hub keys`: nats_keys_test.go.)
func TestDeployPermissionsMatchTheEmbeddedRoles(t *testing.T) {
	deployed := testkit.DeployRolePermissions(t, "../deploy/nats/permissions.conf")
	want := rolePermissions()
	if len(deployed) != len(want) {
		t.Fatalf("%d users, want %d", len(deployed), len(want))
	}
	for role, got := range deployed {
		w, ok := want[role]
		if !ok {
			t.Fatalf("user %q is no role", role)
		}
		same := func(a, b *server.SubjectPermission) bool {
			return a != nil && b != nil && reflect.DeepEqual(sorted(a.Allow), sorted(b.Allow)) && len(a.Deny) == 0 && len(b.Deny) == 0
		}
		if !same(got.Publish, w.Publish) {
			t.Errorf("%s publish: deploy %v, embedded %v", role, got.Publish, w.Publish)
		}
		if !same(got.Subscribe, w.Subscribe) {
			t.Errorf("%s subscribe: deploy %v, embedded %v", role, got.Subscribe, w.Subscribe)
		}
		if !reflect.DeepEqual(got.Response, w.Response) {
			t.Errorf("%s allow_responses: deploy %+v, embedded %+v", role, got.Response, w.Response)
		}
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

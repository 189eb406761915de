package testkit

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
)

// DeployRolePermissions reads the role permissions of a permissions.conf
// (deploy/nats/permissions.conf: $HUB_PERMISSIONS, $WORKER_PERMISSIONS,
// $CLI_PERMISSIONS) through nats-server's own config code, as the servers that
// include it read them; keyed by role (hub, worker, cli).
func DeployRolePermissions(t testing.TB, permissionsConf string) map[string]*server.Permissions {
	t.Helper()
	perms, err := os.ReadFile(permissionsConf)
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
	out := map[string]*server.Permissions{}
	for _, u := range opts.Users {
		out[u.Username] = u.Permissions
	}
	return out
}

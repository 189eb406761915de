package hub

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/webcamhub/webcamhub/hub/internal/embeddednats"
)

// Files `hub keys` writes beside the role seeds (<role>.nk): what an
// external nats-server needs to let exactly those keys in, each with the
// permissions the embedded server gives it.
const (
	// NATSAuthFile is a nats-server configuration fragment (include it):
	// the authorization block with one nkey user per role.
	NATSAuthFile = "auth.conf"
	// NATSRolesEnvFile holds NATS_<ROLE>_NKEY=<public key> lines, the
	// variables deploy/nats-cluster/*.conf read.
	NATSRolesEnvFile = "roles.env"
)

// WriteNATSKeys makes the role seeds in dir, or keeps those already there
// (the same seeds the embedded server makes on its first start), and writes
// NATSAuthFile and NATSRolesEnvFile for them. owners, when given, hands each
// role's seed to a user id (the containers of docker-compose.yml run as
// different users) and opens the directory for them to reach their file.
func WriteNATSKeys(dir string, owners map[string]int) error {
	keys, err := embeddednats.LoadOrCreateSeeds(dir, natsRoles)
	if err != nil {
		return err
	}
	perms := rolePermissions()
	var users []map[string]any
	var env strings.Builder
	for _, role := range natsRoles {
		pub, err := keys[role].PublicKey()
		if err != nil {
			return fmt.Errorf("nkey of role %s: %w", role, err)
		}
		users = append(users, map[string]any{"nkey": pub, "permissions": confPermissions(perms[role])})
		fmt.Fprintf(&env, "NATS_%s_NKEY=%s\n", strings.ToUpper(role), pub)
	}
	// JSON is nats-server configuration syntax too.
	// (nats-server reads no \u escapes: ">" must stay as it is.)
	var auth strings.Builder
	enc := json.NewEncoder(&auth)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(map[string]any{"timeout": 2, "users": users}); err != nil {
		return err
	}
	conf := "# Made by `hub keys` from the role seeds in this directory; the permissions are\n" +
		"# the hub's (hub/nats_roles.go, deploy/nats/permissions.conf). Made again on each run.\n" +
		"authorization: " + auth.String()
	for name, data := range map[string]string{NATSAuthFile: conf, NATSRolesEnvFile: env.String()} {
		if err := writeFileAtomic(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			return err
		}
	}
	for role, uid := range owners {
		if !strings.Contains(" "+strings.Join(natsRoles, " ")+" ", " "+role+" ") {
			return fmt.Errorf("%w: owner of role %q: the roles are %v", ErrInvalidConfig, role, natsRoles)
		}
		if err := os.Chown(embeddednats.SeedFile(dir, role), uid, -1); err != nil {
			return fmt.Errorf("seed of role %s: %w", role, err)
		}
	}
	if len(owners) > 0 {
		// Each seed stays 0600 and its owner's; the directory lets them reach it.
		if err := os.Chmod(dir, 0o755); err != nil {
			return err
		}
	}
	return nil
}

// confPermissions writes p in nats-server configuration form.
func confPermissions(p *server.Permissions) map[string]any {
	out := map[string]any{}
	if p.Publish != nil {
		out["publish"] = map[string]any{"allow": p.Publish.Allow}
	}
	if p.Subscribe != nil {
		out["subscribe"] = map[string]any{"allow": p.Subscribe.Allow}
	}
	if p.Response != nil {
		out["allow_responses"] = map[string]any{"max": p.Response.MaxMsgs, "expires": p.Response.Expires.String()}
	}
	return out
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

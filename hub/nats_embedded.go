package hub

import (
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/webcamhub/webcamhub/hub/internal/embeddednats"
)

// startEmbedded runs the embedded NATS server: closed to all but the role
// nkeys (seeds made on first start in the store directory), or open to
// anyone when -nats-no-auth asks for it. It returns how the hub logs in.
func (h *Hub) startEmbedded() (*embeddednats.Server, natsLogin, error) {
	cfg := h.cfg
	o := embeddednats.Options{
		Addr: cfg.NATSEmbedAddr, StoreDir: cfg.NATSStoreDir, Log: h.log,
		OnViolation: h.metrics.CountNATSRefusal,
	}
	login := natsLogin{role: roleHub, credentials: "nkey " + embeddednats.SeedFile(cfg.NATSStoreDir, roleHub)}
	if cfg.NATSNoAuth {
		o.Open = true
		login.role, login.credentials = "anonymous", "none (-nats-no-auth)"
	} else {
		keys, err := embeddednats.LoadOrCreateSeeds(cfg.NATSStoreDir, natsRoles)
		if err != nil {
			return nil, natsLogin{}, err
		}
		perms := rolePermissions()
		for _, role := range natsRoles {
			pub, err := keys[role].PublicKey()
			if err != nil {
				return nil, natsLogin{}, fmt.Errorf("nkey of role %s: %w", role, err)
			}
			o.Users = append(o.Users, embeddednats.User{Role: role, PublicKey: pub, Permissions: perms[role]})
		}
		hubKey := keys[roleHub]
		pub, _ := hubKey.PublicKey()
		login.opts = append(login.opts, nats.Nkey(pub, hubKey.Sign), nats.CustomInboxPrefix(hubInboxPrefix))
	}
	srv, err := embeddednats.Start(o)
	if err != nil {
		return nil, natsLogin{}, err
	}
	login.url = srv.ClientURL()
	login.servers = login.url
	if cfg.NATSNoAuth {
		h.log.Warn("embedded NATS accepts ANY client with every permission (-nats-no-auth): any local process can read camera frames and results and answer frames; use it for local experiments only",
			"url", login.url, "store", cfg.NATSStoreDir)
	} else {
		h.log.Info("embedded NATS started; only the role nkeys may connect",
			"url", login.url, "store", cfg.NATSStoreDir,
			"worker_seed", embeddednats.SeedFile(cfg.NATSStoreDir, roleWorker),
			"cli_seed", embeddednats.SeedFile(cfg.NATSStoreDir, roleCLI))
	}
	return srv, login, nil
}

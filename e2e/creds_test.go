//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/webcamhub/webcamhub/contract"
	"github.com/webcamhub/webcamhub/internal/testkit"
)

// startOperatorNATSServer runs nats-server in operator mode (JWT accounts,
// as `nsc` sets it up): one account with JetStream, and a creds file for
// the hub and one for a worker, each user with its role's permissions from
// deploy/nats/permissions.conf.
func startOperatorNATSServer(t *testing.T) (url, hubCreds, workerCreds string) {
	t.Helper()
	dir := t.TempDir()
	roles := rolePermissionsFromDeploy(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	operator, _ := nkeys.CreateOperator()
	opPub, _ := operator.PublicKey()
	opJWT, err := jwt.NewOperatorClaims(opPub).Encode(operator)
	must(err)
	account := func(name string, js bool) (nkeys.KeyPair, string, string) {
		kp, _ := nkeys.CreateAccount()
		pub, _ := kp.PublicKey()
		ac := jwt.NewAccountClaims(pub)
		ac.Name = name
		if js {
			ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
		}
		token, err := ac.Encode(operator)
		must(err)
		return kp, pub, token
	}
	_, sysPub, sysJWT := account("SYS", false)
	app, appPub, appJWT := account("WEBCAM", true)
	creds := func(role string) string {
		kp, _ := nkeys.CreateUser()
		pub, _ := kp.PublicKey()
		uc := jwt.NewUserClaims(pub)
		uc.Name = role
		p := roles[role]
		uc.Pub.Allow.Add(p.Publish.Allow...)
		uc.Sub.Allow.Add(p.Subscribe.Allow...)
		if p.Response != nil {
			uc.Resp = &jwt.ResponsePermission{MaxMsgs: p.Response.MaxMsgs, Expires: p.Response.Expires}
		}
		token, err := uc.Encode(app)
		must(err)
		seed, _ := kp.Seed()
		file, err := jwt.FormatUserConfig(token, seed)
		must(err)
		path := filepath.Join(dir, role+".creds")
		must(os.WriteFile(path, file, 0o600))
		return path
	}
	port := testkit.FreePort(t)
	conf := `listen: 127.0.0.1:` + strconv.Itoa(port) + `
max_payload: 8MB
jetstream { store_dir: "` + filepath.Join(dir, "js") + `" }
operator: ` + opJWT + `
system_account: ` + sysPub + `
resolver: MEMORY
resolver_preload: {
  ` + sysPub + `: ` + sysJWT + `
  ` + appPub + `: ` + appJWT + `
}
`
	confFile := filepath.Join(dir, "nats.conf")
	must(os.WriteFile(confFile, []byte(conf), 0o600))
	srv := startProc(t, "nats-server-jwt", nil, bin(t, "NATS_SERVER_BIN", "nats-server"), "-c", confFile)
	waitListening(t, srv, port)
	return "nats://127.0.0.1:" + strconv.Itoa(port), creds("hub"), creds("worker")
}

// rolePermissionsFromDeploy reads the role permissions of
// deploy/nats/permissions.conf, which every deployed server includes (compose's
// through the auth file of `hub keys`, the cluster's directly).
func rolePermissionsFromDeploy(t *testing.T) map[string]*server.Permissions {
	t.Helper()
	return testkit.DeployRolePermissions(t, filepath.Join(repoRoot(t), "deploy", "nats", "permissions.conf"))
}

// The hub and the real worker log in with JWT creds files (NATS_CREDS) to a
// server in operator mode, with their roles' permissions, and classify.
func TestHubAndWorkerWithCredsFiles(t *testing.T) {
	url, hubCreds, workerCreds := startOperatorNATSServer(t)
	hub := startHub(t, hubOptions{natsURL: url, extraEnv: []string{"NATS_CREDS=" + hubCreds}})
	worker := startWorker(t, natsEndpoint{url: url, workerEnv: []string{"NATS_CREDS=" + workerCreds}}, "worker-creds")
	hub.waitFor(t, "/readyz?workers=1")
	c, session := dialWithResumeToken(t, hub)
	c.SendFrame(readImage(t, "parrot.jpg"))
	if m := c.Next(); m.Type != contract.TypeResult || m.Session != session || m.Top() != "macaw" {
		t.Fatalf("with creds files: %+v", m)
	}
	workerRefusedNothing(t, worker)
}

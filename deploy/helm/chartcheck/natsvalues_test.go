package chartcheck

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
	"sigs.k8s.io/yaml"
)

// The official NATS chart (nats-io/k8s, helm/charts/nats) cannot be fetched when the
// tests run, so deploy/helm/nats-values.yaml is checked offline: its keys against the
// keys of the chart's values.yaml (version natsChartVersion, below), its settings for
// a 3-node JetStream cluster with TLS, and its users' permissions, parsed by the NATS
// server's own configuration code, against deploy/nats/permissions.conf.

const natsChartVersion = "2.14.2"

const natsValuesFile = "../nats-values.yaml"

// free: any content below this key is the chart user's (a merge block in NATS or
// Kubernetes syntax, an env map, container resources).
const free = "free"

type keys = map[string]any

// The keys of the NATS chart's values.yaml at natsChartVersion, as far as this values
// file may use them. A key in the values file outside this tree is a typo or a key the
// chart does not have: the chart would silently ignore it.
var natsChartKeys = keys{
	"global":            keys{"image": keys{"pullPolicy": "", "pullSecretNames": "", "registry": ""}, "labels": free},
	"nameOverride":      "",
	"fullnameOverride":  "",
	"namespaceOverride": "",
	"tlsCA":             keys{"enabled": "", "configMapName": "", "secretName": "", "dir": "", "key": ""},
	"config": keys{
		"cluster": keys{
			"enabled": "", "port": "", "replicas": "", "noAdvertise": "",
			"routeURLs": keys{"user": "", "password": "", "useFQDN": "", "k8sClusterDomain": ""},
			"tls":       tlsKeys(),
			"merge":     free, "patch": free,
		},
		"jetstream": keys{
			"enabled": "",
			"fileStore": keys{
				"enabled": "", "dir": "", "maxSize": "",
				"pvc": keys{"enabled": "", "size": "", "storageClassName": "", "merge": free, "patch": free, "name": ""},
			},
			"memoryStore": keys{"enabled": "", "maxSize": ""},
			"merge":       free, "patch": free,
		},
		"nats":      keys{"port": "", "tls": tlsKeys()},
		"leafnodes": keys{"enabled": "", "port": "", "tls": tlsKeys(), "merge": free, "patch": free},
		"websocket": keys{"enabled": "", "port": "", "tls": tlsKeys(), "merge": free, "patch": free,
			"ingress": keys{"enabled": "", "hosts": "", "path": "", "pathType": "", "className": "", "tlsSecretName": "", "merge": free, "patch": free, "name": ""}},
		"mqtt":      keys{"enabled": "", "port": "", "tls": tlsKeys(), "merge": free, "patch": free},
		"gateway":   keys{"enabled": "", "port": "", "tls": tlsKeys(), "merge": free, "patch": free},
		"monitor":   keys{"enabled": "", "port": "", "tls": keys{"enabled": ""}},
		"profiling": keys{"enabled": "", "port": ""},
		"resolver": keys{"enabled": "", "dir": "", "merge": free, "patch": free,
			"pvc": keys{"enabled": "", "size": "", "storageClassName": "", "merge": free, "patch": free, "name": ""}},
		"serverNamePrefix": "",
		"merge":            free, "patch": free,
	},
	"container": keys{"image": imageKeys(), "ports": free, "env": free, "merge": free, "patch": free, "resources": free},
	"reloader":  keys{"enabled": "", "image": imageKeys(), "env": free, "natsVolumeMountPrefixes": "", "merge": free, "patch": free},
	"promExporter": keys{"enabled": "", "image": imageKeys(), "port": "", "monitorDomain": "", "env": free, "merge": free, "patch": free,
		"podMonitor": keys{"enabled": "", "merge": free, "patch": free, "name": ""}},
	"service":             keys{"enabled": "", "ports": free, "merge": free, "patch": free, "name": ""},
	"statefulSet":         mergeKeys(),
	"podTemplate":         keys{"configChecksumAnnotation": "", "topologySpreadConstraints": free, "merge": free, "patch": free},
	"headlessService":     mergeKeys(),
	"configMap":           mergeKeys(),
	"podDisruptionBudget": keys{"enabled": "", "merge": free, "patch": free, "name": ""},
	"serviceAccount":      keys{"enabled": "", "merge": free, "patch": free, "name": ""},
	"natsBox": keys{
		"enabled": "",
		"contexts": keys{"*": keys{
			"creds": keys{"contents": "", "secretName": "", "dir": "", "key": ""},
			"nkey":  keys{"contents": "", "secretName": "", "dir": "", "key": ""},
			"tls":   keys{"secretName": "", "dir": "", "cert": "", "key": ""},
			"merge": free, "patch": free,
		}},
		"defaultContextName": "",
		"container":          keys{"image": imageKeys(), "env": free, "merge": free, "patch": free},
		"deployment":         mergeKeys(),
		"podTemplate":        keys{"merge": free, "patch": free},
		"contextsSecret":     mergeKeys(),
		"contentsSecret":     mergeKeys(),
		"serviceAccount":     keys{"enabled": "", "merge": free, "patch": free, "name": ""},
	},
	"extraResources": free,
}

func tlsKeys() keys {
	return keys{"enabled": "", "secretName": "", "dir": "", "cert": "", "key": "", "merge": free, "patch": free}
}

func imageKeys() keys {
	return keys{"repository": "", "tag": "", "pullPolicy": "", "registry": "", "digest": "", "fullImageName": "", "resources": free}
}

func mergeKeys() keys { return keys{"merge": free, "patch": free, "name": ""} }

func natsValues(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile(natsValuesFile)
	if err != nil {
		t.Fatal(err)
	}
	var vals map[string]any
	// Strict: a key given twice is an error, not the last one silently winning.
	if err := yaml.UnmarshalStrict(data, &vals); err != nil {
		t.Fatalf("%s: %v", natsValuesFile, err)
	}
	if !strings.Contains(string(data), "--version "+natsChartVersion) {
		t.Errorf("%s does not install the chart version its keys are checked against (%s)", natsValuesFile, natsChartVersion)
	}
	return vals
}

func TestNATSValuesUseOnlyTheChartsKeys(t *testing.T) {
	var unknown []string
	var walk func(path string, vals map[string]any, allowed keys)
	walk = func(path string, vals map[string]any, allowed keys) {
		for k, v := range vals {
			spec, ok := allowed[k]
			if !ok {
				spec, ok = allowed["*"] // a map keyed by the user's names
			}
			switch {
			case !ok:
				unknown = append(unknown, path+k)
			case spec == free:
			case isKeys(spec):
				sub, isMap := v.(map[string]any)
				if !isMap {
					unknown = append(unknown, fmt.Sprintf("%s%s (a %T where the chart has a map)", path, k, v))
					continue
				}
				walk(path+k+".", sub, spec.(keys))
			default:
				if _, isMap := v.(map[string]any); isMap {
					unknown = append(unknown, path+k+" (a map where the chart has a value)")
				}
			}
		}
	}
	walk("", natsValues(t), natsChartKeys)
	sort.Strings(unknown)
	for _, k := range unknown {
		t.Errorf("%s: %s is not a key of the NATS chart %s", natsValuesFile, k, natsChartVersion)
	}
}

func isKeys(v any) bool { _, ok := v.(keys); return ok }

func get(t *testing.T, vals map[string]any, path string) any {
	t.Helper()
	var cur any = vals
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			t.Fatalf("%s: %s is not set", natsValuesFile, path)
		}
		cur, ok = m[k]
		if !ok {
			t.Fatalf("%s: %s is not set", natsValuesFile, path)
		}
	}
	return cur
}

func TestNATSValuesMakeAThreeNodeJetStreamClusterWithTLS(t *testing.T) {
	vals := natsValues(t)
	want := map[string]any{
		"config.cluster.enabled":             true,
		"config.cluster.replicas":            float64(3),
		"config.cluster.tls.enabled":         true,
		"config.cluster.tls.merge.verify":    true, // routes: mutual TLS
		"config.jetstream.enabled":           true,
		"config.jetstream.fileStore.enabled": true,
		"config.nats.tls.enabled":            true,
		"tlsCA.enabled":                      true,
		"podDisruptionBudget.enabled":        true,
	}
	for path, v := range want {
		if got := get(t, vals, path); got != v {
			t.Errorf("%s = %v, want %v", path, got, v)
		}
	}
	for _, path := range []string{"config.cluster.tls.secretName", "config.nats.tls.secretName", "tlsCA.secretName"} {
		if s, _ := get(t, vals, path).(string); s == "" {
			t.Errorf("%s: no Secret", path)
		}
	}
}

// unquote is the chart's rule for config.merge: a string "<< x >>" is written as x.
var unquote = regexp.MustCompile(`"<< (.*?) >>"`)

// natsConfigFromMerge writes config.merge as the chart does (JSON, << >> unquoted).
func natsConfigFromMerge(t *testing.T, merge any) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // subjects hold '>', which NATS' parser takes only as is
	enc.SetIndent("", "  ")
	if err := enc.Encode(merge); err != nil {
		t.Fatal(err)
	}
	return unquote.ReplaceAllString(buf.String(), "$1")
}

// The values' users, parsed by nats-server's configuration code, have exactly the
// permissions that deploy/nats/permissions.conf gives each role, and log in with the
// nkeys of the Secret named in container.env.
func TestNATSValuesGiveTheRolesTheirPermissions(t *testing.T) {
	vals := natsValues(t)
	roles := []string{"HUB", "WORKER", "CLI"}
	envs := get(t, vals, "container.env").(map[string]any)
	for _, role := range roles {
		name := "NATS_" + role + "_NKEY"
		user, err := nkeys.CreateUser()
		if err != nil {
			t.Fatal(err)
		}
		pub, err := user.PublicKey()
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv(name, pub)
		ref, _ := envs[name].(map[string]any)
		if _, ok := ref["valueFrom"].(map[string]any)["secretKeyRef"]; !ok {
			t.Errorf("container.env.%s does not come from a Secret", name)
		}
	}

	dir := t.TempDir()
	fromValues := filepath.Join(dir, "values.conf")
	write(t, fromValues, natsConfigFromMerge(t, get(t, vals, "config.merge")))
	// nats-server includes relative to the including file only.
	write(t, filepath.Join(dir, "permissions.conf"), repoFile(t, "deploy/nats/permissions.conf"))
	fromRepo := filepath.Join(dir, "repo.conf")
	write(t, fromRepo, `include "permissions.conf"
authorization {
  users: [
    { nkey: $NATS_HUB_NKEY,    permissions: $HUB_PERMISSIONS }
    { nkey: $NATS_WORKER_NKEY, permissions: $WORKER_PERMISSIONS }
    { nkey: $NATS_CLI_NKEY,    permissions: $CLI_PERMISSIONS }
  ]
}
`)

	got, err := server.ProcessConfigFile(fromValues)
	if err != nil {
		t.Fatalf("nats-server refuses config.merge: %v", err)
	}
	want, err := server.ProcessConfigFile(fromRepo)
	if err != nil {
		t.Fatalf("nats-server refuses deploy/nats/permissions.conf: %v", err)
	}
	if len(got.Nkeys) != len(roles) || len(got.Users) != 0 || got.NoAuthUser != "" {
		t.Fatalf("config.merge has %d nkey users and %d others, want exactly the %d roles", len(got.Nkeys), len(got.Users), len(roles))
	}
	if got.MaxPayload < 8<<20 {
		t.Errorf("max_payload %d: frames of 1 MB and more need 8MB", got.MaxPayload)
	}
	byKey := map[string]*server.Permissions{}
	for _, u := range want.Nkeys {
		byKey[u.Nkey] = u.Permissions
	}
	for _, u := range got.Nkeys {
		wantPerms, ok := byKey[u.Nkey]
		if !ok {
			t.Errorf("nkey user %s is none of the roles", u.Nkey)
			continue
		}
		if !reflect.DeepEqual(u.Permissions, wantPerms) {
			t.Errorf("nkey %s: permissions differ from deploy/nats/permissions.conf:\n got %s\nwant %s", u.Nkey, show(u.Permissions), show(wantPerms))
		}
	}
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func show(p *server.Permissions) string {
	data, _ := json.Marshal(p)
	return string(data)
}

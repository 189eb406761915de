package chartcheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/webcamhub/webcamhub/deploy/helm/chartcheck/valuesdoc"
)

// README.md's values table and values.schema.json are what values.yaml's
// comments make (go run ./cmd/chartdoc writes both).
func TestValuesTableAndSchemaAreCurrent(t *testing.T) {
	values := read(t, filepath.Join(chartDir, "values.yaml"))
	rows, schema, err := valuesdoc.Parse([]byte(values))
	if err != nil {
		t.Fatal(err)
	}
	readme := read(t, filepath.Join(chartDir, "README.md"))
	want, err := valuesdoc.Splice(readme, valuesdoc.Table(rows))
	if err != nil {
		t.Fatal(err)
	}
	if readme != want {
		t.Error("README.md's values table differs from values.yaml: cd deploy/helm/chartcheck && go run ./cmd/chartdoc")
	}
	schemaJSON, err := valuesdoc.SchemaJSON(schema)
	if err != nil {
		t.Fatal(err)
	}
	if read(t, filepath.Join(chartDir, "values.schema.json")) != string(schemaJSON) {
		t.Error("values.schema.json differs from values.yaml: cd deploy/helm/chartcheck && go run ./cmd/chartdoc")
	}
}

// An undocumented key is an error of the generator, not a silent gap.
func TestUndocumentedValueIsRefused(t *testing.T) {
	_, _, err := valuesdoc.Parse([]byte("# -- documented\na: 1\nparent:\n  b: 2\n"))
	if err == nil || !strings.Contains(err.Error(), "parent.b") {
		t.Fatalf("err %v, want parent.b named", err)
	}
}

// The schema refuses a misspelled key at every level and a bad switch, as helm
// template (and lint, install) does.
func TestSchemaRefusesMisspelledKeys(t *testing.T) {
	for name, vals := range map[string]map[string]any{
		"top level":    {"hubs": map[string]any{"replicas": 3}},
		"nested":       {"hub": map[string]any{"replicaz": 3}},
		"deeper":       {"worker": map[string]any{"gpu": map[string]any{"cout": 1}}},
		"wrong type":   {"hub": map[string]any{"replicas": "three"}},
		"bad switch":   {"autoscaling": map[string]any{"mode": "sometimes"}},
		"bad replicas": {"nats": map[string]any{"jsReplicas": 7}},
	} {
		if _, err := render(t, vals); err == nil || !strings.Contains(err.Error(), "schema") {
			t.Errorf("%s: %v rendered (err %v), want a schema error", name, vals, err)
		}
	}
	lint := lintWith(t, map[string]any{"hub": map[string]any{"replicaz": 3}})
	if len(lint.Errors) == 0 {
		t.Error("helm lint passes a misspelled key")
	}
}

// The chart's PrometheusRule reads its copy of the alert rules: the same file
// as compose's Prometheus loads.
func TestAlertRulesCopyIsCurrent(t *testing.T) {
	if read(t, filepath.Join(chartDir, "files", "webcamhub.rules.yml")) != repoFile(t, "deploy/prometheus/rules/webcamhub.rules.yml") {
		t.Error("deploy/helm/webcamhub/files/webcamhub.rules.yml differs from deploy/prometheus/rules/webcamhub.rules.yml: cp the latter over")
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

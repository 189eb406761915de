package chartcheck

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartv2util "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/engine"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

const (
	chartDir    = "../webcamhub"
	releaseName = "webcamhub"
	namespace   = "webcamhub"
)

// The values files a user installs with, each list merged in order over the chart's
// values.yaml (as helm -f a -f b does).
var valueSets = map[string][]string{
	"default":    nil,
	"production": {"values-production.yaml"},
	"hpa":        {"values-production.yaml", "values-hpa.yaml"},
	"models":     {"values-production.yaml", "values-models.yaml"},
}

// Every kind the chart may render must be known here: a kind without a Go type
// fails the test rather than escaping the strict decoding.
func scheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme, kedav1alpha1.AddToScheme, monitoringv1.AddToScheme, gatewayv1.Install,
	} {
		if err := add(s); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// values reads the files of a value set, merged over nothing (the chart's own
// values.yaml is coalesced in by the render).
func values(t *testing.T, files []string) map[string]any {
	t.Helper()
	vals := map[string]any{}
	for _, f := range files {
		v, err := common.ReadValuesFile(filepath.Join(chartDir, f))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		vals = loader.MergeMaps(vals, v)
	}
	return vals
}

func TestChartLints(t *testing.T) {
	for name, files := range valueSets {
		for _, kube := range []string{oldestKube, newestKube} {
			t.Run(name+"/"+kube, func(t *testing.T) {
				result := lintWith(t, values(t, files), kube)
				for _, msg := range result.Messages {
					if msg.Severity > support.InfoSev {
						t.Errorf("helm lint: %v", msg)
					}
				}
				for _, err := range result.Errors {
					t.Errorf("helm lint: %v", err)
				}
				if result.TotalChartsLinted != 1 {
					t.Errorf("helm lint linted %d charts, want 1", result.TotalChartsLinted)
				}
			})
		}
	}
}

// lintWith is helm lint --strict of the chart with vals (for kubeVersion, default the newest).
func lintWith(t *testing.T, vals map[string]any, kubeVersion ...string) *action.LintResult {
	t.Helper()
	lint := action.NewLint()
	lint.Strict = true // warnings fail too
	lint.Namespace = namespace
	kv, err := common.ParseKubeVersion(append(kubeVersion, newestKube)[0])
	if err != nil {
		t.Fatal(err)
	}
	lint.KubeVersion = kv
	return lint.Run([]string{chartDir}, vals)
}

// cluster is what `helm template --kube-version … --api-versions …` says
// of the cluster rendered for.
type cluster struct {
	kubeVersion string
	keda        bool // serves keda.sh/v1alpha1
}

// The oldest Kubernetes the chart supports (Chart.yaml's kubeVersion) and the
// newest it is checked against (that of k8s.io/api in go.mod).
const (
	oldestKube = "v1.30.0"
	newestKube = "v1.37.0"
)

// withKEDA: the newest Kubernetes with KEDA installed, what most tests render for.
var withKEDA = cluster{kubeVersion: newestKube, keda: true}

func (c cluster) capabilities(t *testing.T) *common.Capabilities {
	t.Helper()
	kv, err := common.ParseKubeVersion(c.kubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	caps := common.DefaultCapabilities.Copy()
	caps.KubeVersion = *kv
	caps.APIVersions = slices.Clone(caps.APIVersions)
	if c.keda {
		caps.APIVersions = append(caps.APIVersions, "keda.sh/v1alpha1", "keda.sh/v1alpha1/ScaledObject")
	}
	return caps
}

// render is `helm template` of the chart with the given values for a cluster
// with KEDA: the manifests by template file (NOTES.txt, tests and empty
// documents left out). The values are validated against values.schema.json.
func render(t *testing.T, vals map[string]any) (map[string]string, error) {
	t.Helper()
	return renderFor(t, vals, withKEDA)
}

func renderFor(t *testing.T, vals map[string]any, c cluster) (map[string]string, error) {
	t.Helper()
	out, err := renderAll(t, vals, c)
	for name := range out {
		if strings.HasSuffix(name, "NOTES.txt") || strings.Contains(name, "/templates/tests/") {
			delete(out, name)
		}
	}
	return out, err
}

// renderAll is renderFor with NOTES.txt and the test hooks.
func renderAll(t *testing.T, vals map[string]any, c cluster) (map[string]string, error) {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	if !chartv2util.IsCompatibleRange(ch.Metadata.KubeVersion, c.kubeVersion) {
		return nil, fmt.Errorf("chart requires kubeVersion %s, not %s", ch.Metadata.KubeVersion, c.kubeVersion)
	}
	opts := common.ReleaseOptions{Name: releaseName, Namespace: namespace, Revision: 1, IsInstall: true}
	top, err := chartutil.ToRenderValues(ch, vals, opts, c.capabilities(t))
	if err != nil {
		return nil, err
	}
	return engine.Render(ch, top)
}

// decodeAll decodes every rendered document strictly into its API type: unknown
// fields, duplicate fields and kinds without a Go type are errors.
func decodeAll(t *testing.T, manifests map[string]string) []runtime.Object {
	t.Helper()
	s := scheme(t)
	codec := json.NewSerializerWithOptions(json.DefaultMetaFactory, s, s,
		json.SerializerOptions{Yaml: true, Strict: true})
	names := make([]string, 0, len(manifests))
	for name := range manifests {
		names = append(names, name)
	}
	sort.Strings(names)
	var objs []runtime.Object
	for _, name := range names {
		reader := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(manifests[name])))
		for {
			doc, err := reader.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if isEmpty(doc) {
				continue
			}
			obj, gvk, err := codec.Decode(doc, nil, nil)
			if err != nil {
				t.Errorf("%s: strict decoding: %v\n%s", name, err, doc)
				continue
			}
			if gvk.Kind == "" || gvk.Version == "" {
				t.Errorf("%s: an object without apiVersion/kind", name)
			}
			objs = append(objs, obj)
		}
	}
	return objs
}

func isEmpty(doc []byte) bool {
	for _, line := range bytes.Split(doc, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] != '#' && string(line) != "---" {
			return false
		}
	}
	return true
}

func renderSet(t *testing.T, name string) []runtime.Object {
	t.Helper()
	manifests, err := render(t, values(t, valueSets[name]))
	if err != nil {
		t.Fatalf("helm template (%s values): %v", name, err)
	}
	objs := decodeAll(t, manifests)
	if len(objs) == 0 {
		t.Fatalf("helm template (%s values) rendered nothing", name)
	}
	return objs
}

// repoFile reads a file of the repository (the chart's checks refer to the code).
func repoFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "..", path))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

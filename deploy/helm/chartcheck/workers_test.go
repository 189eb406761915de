package chartcheck

import (
	"fmt"
	"strings"
	"testing"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

// valuesOf is a values map from YAML, merged over the files of a value set.
func valuesOf(t *testing.T, set string, doc string) map[string]any {
	t.Helper()
	var vals map[string]any
	if err := yaml.Unmarshal([]byte(doc), &vals); err != nil {
		t.Fatal(err)
	}
	base := values(t, valueSets[set])
	for k, v := range vals {
		base[k] = v
	}
	return base
}

// values-models.yaml: one worker Deployment per model, each with what worker
// gives and what its entry changes, its own selector, PDB, Service,
// ServiceMonitor and ScaledObject on its own pods' load.
func TestOneWorkerDeploymentPerModel(t *testing.T) {
	objs := renderSet(t, "models")
	checkNamesUnique(t, objs)
	r := sortObjects(t, objs)
	workers := map[string]*appsv1.Deployment{}
	for _, d := range r.workerDeployments() {
		workers[d.Spec.Template.Labels["webcamhub.io/worker"]] = d
	}
	if len(workers) != 2 || workers["imagenet"] == nil || workers["insects"] == nil {
		t.Fatalf("worker Deployments by webcamhub.io/worker: %v, want imagenet and insects", keysOf(workers))
	}
	for entry, serve := range map[string]string{"imagenet": "mobilenet_v2", "insects": "insects"} {
		d := workers[entry]
		if want := releaseName + "-worker-" + entry; d.Name != want {
			t.Errorf("Deployment %s, want %s", d.Name, want)
		}
		c := d.Spec.Template.Spec.Containers[0]
		if got, _ := env(c, "WORKER_SERVE"); got != serve {
			t.Errorf("%s: WORKER_SERVE %q, want %q", d.Name, got, serve)
		}
		if dir, _ := env(c, "WORKER_MODELS_DIR"); dir != "/models" {
			t.Errorf("%s: WORKER_MODELS_DIR %q, want the repository at /models", d.Name, dir)
		}
		// Inherited from worker (values-production.yaml's batchMax 16, image tag 0.1.0).
		if got, _ := env(c, "WORKER_BATCH_MAX"); got != "16" || !strings.HasSuffix(c.Image, ":0.1.0") {
			t.Errorf("%s: WORKER_BATCH_MAX %q, image %s: worker's values not inherited", d.Name, got, c.Image)
		}
		if d.Spec.Replicas != nil {
			t.Errorf("%s sets replicas %d beside its ScaledObject", d.Name, *d.Spec.Replicas)
		}
		for other, od := range workers {
			sel, err := metaSelector(d.Spec.Selector.MatchLabels)
			if other != entry && (err != nil || sel.Matches(labels.Set(od.Spec.Template.Labels))) {
				t.Errorf("%s's selector takes the pods of %s", d.Name, od.Name)
			}
		}
		checkOwnObjects(t, r, d)
	}
	insects := workers["insects"].Spec.Template.Spec
	if cpu := insects.Containers[0].Resources.Requests.Cpu(); cpu.Cmp(resource.MustParse("2")) != 0 {
		t.Errorf("insects: cpu request %v, want its entry's 2", cpu)
	}
	if insects.NodeSelector["webcamhub.io/pool"] != "insects" || len(insects.Tolerations) != 1 {
		t.Errorf("insects: nodeSelector %v, tolerations %v, want its entry's", insects.NodeSelector, insects.Tolerations)
	}
	if imagenet := workers["imagenet"].Spec.Template.Spec; len(imagenet.NodeSelector) != 0 || len(imagenet.Tolerations) != 0 {
		t.Errorf("imagenet: nodeSelector %v, tolerations %v: another entry's leaked", imagenet.NodeSelector, imagenet.Tolerations)
	}
	// values-production.yaml's hub and worker ServiceMonitors: one for the hubs, one per Deployment of workers.
	if len(r.serviceMonitors) != 3 {
		t.Errorf("%d ServiceMonitors, want 3", len(r.serviceMonitors))
	}
	all, err := renderAll(t, values(t, valueSets["models"]), withKEDA)
	if err != nil {
		t.Fatal(err)
	}
	notes := all["webcamhub/templates/NOTES.txt"]
	for _, want := range []string{releaseName + "-worker-imagenet (mobilenet_v2): 3-40", releaseName + "-worker-insects (insects): 1-8", "a model repository"} {
		if !strings.Contains(notes, want) {
			t.Errorf("NOTES.txt does not say %q:\n%s", want, notes)
		}
	}
}

// checkOwnObjects: the PDB, Service, ServiceMonitor and ScaledObject of one
// Deployment of workers select its pods and no other's, and its autoscaler
// reads its own pods' series.
func checkOwnObjects(t *testing.T, r rendered, d *appsv1.Deployment) {
	t.Helper()
	entry := d.Spec.Template.Labels["webcamhub.io/worker"]
	others := []labels.Set{}
	for _, o := range r.deployments {
		if o.Name != d.Name {
			others = append(others, labels.Set(o.Spec.Template.Labels))
		}
	}
	own := func(kind, name string, selector map[string]string) {
		sel, err := metaSelector(selector)
		if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("%s %s does not select the pods of %s", kind, name, d.Name)
			return
		}
		for _, o := range others {
			if sel.Matches(o) {
				t.Errorf("%s %s selects pods of another Deployment (%v)", kind, name, o)
			}
		}
	}
	var pdbs, services, monitors int
	for _, p := range r.pdbs {
		if p.Name == d.Name {
			pdbs++
			own("PodDisruptionBudget", p.Name, p.Spec.Selector.MatchLabels)
		}
	}
	for _, s := range r.services {
		if s.Name == d.Name {
			services++
			own("Service", s.Name, s.Spec.Selector)
		}
	}
	for _, m := range r.serviceMonitors {
		if m.Name == d.Name {
			monitors++
			own("ServiceMonitor", m.Name, m.Spec.Selector.MatchLabels)
			if len(m.Spec.PodTargetLabels) != 1 || m.Spec.PodTargetLabels[0] != "webcamhub.io/worker" {
				t.Errorf("ServiceMonitor %s podTargetLabels %v: its series would not say their Deployment", m.Name, m.Spec.PodTargetLabels)
			}
		}
	}
	if pdbs != 1 || services != 1 || monitors != 1 {
		t.Errorf("%s: %d PDBs, %d Services, %d ServiceMonitors of its name, want one each", d.Name, pdbs, services, monitors)
	}
	so := scaledObjectOf(r, d.Name)
	if so == nil {
		t.Errorf("%s: no ScaledObject", d.Name)
		return
	}
	if err := kedav1alpha1.ValidateTriggers(so.Spec.Triggers); err != nil {
		t.Errorf("KEDA refuses the triggers of %s: %v", so.Name, err)
	}
	for _, trig := range so.Spec.Triggers {
		q := trig.Metadata["query"]
		checkMetricsCatalogued(t, q)
		if strings.Contains(q, "hub_frames_shed_total") {
			t.Errorf("%s: trigger %s scales on every model's shedding: %s", so.Name, trig.Name, q)
		}
		if strings.Count(q, fmt.Sprintf(`webcamhub_io_worker=%q`, entry)) != strings.Count(q, "{") {
			t.Errorf("%s: trigger %s reads other Deployments' series: %s", so.Name, trig.Name, q)
		}
	}
}

func scaledObjectOf(r rendered, deployment string) *kedav1alpha1.ScaledObject {
	var found *kedav1alpha1.ScaledObject
	for _, so := range r.scaledObjects {
		if so.Spec.ScaleTargetRef != nil && so.Spec.ScaleTargetRef.Name == deployment {
			if found != nil {
				return nil // two autoscalers would fight
			}
			found = so
		}
	}
	return found
}

// checkNamesUnique: no two objects of a kind share a name (helm would apply one
// over the other).
func checkNamesUnique(t *testing.T, objs []runtime.Object) {
	t.Helper()
	seen := map[string]bool{}
	for _, o := range objs {
		name := fmt.Sprintf("%T/%s", o, o.(interface{ GetName() string }).GetName())
		if seen[name] {
			t.Errorf("two objects %s", name)
		}
		seen[name] = true
	}
}

func keysOf[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// Each entry has its own autoscaler by its own mode: where KEDA's API is
// missing a keda entry keeps its replicas, an hpa entry gets an HPA, a none entry
// neither.
func TestEachModelDeploymentHasItsOwnAutoscaler(t *testing.T) {
	vals := valuesOf(t, "models", `
workers:
  - {name: a, serve: [mobilenet_v2], replicas: 4}
  - {name: b, serve: [insects@2], autoscaling: {mode: hpa, minReplicas: 1, maxReplicas: 5}, batchMax: 4}
  - {name: c, serve: [beetles], autoscaling: {mode: none}, replicas: 3}
`)
	for _, keda := range []bool{true, false} {
		t.Run(fmt.Sprintf("keda=%v", keda), func(t *testing.T) {
			manifests, err := renderFor(t, vals, cluster{kubeVersion: newestKube, keda: keda})
			if err != nil {
				t.Fatal(err)
			}
			objs := decodeAll(t, manifests)
			checkNamesUnique(t, objs)
			r := sortObjects(t, objs)
			byEntry := map[string]*appsv1.Deployment{}
			for _, d := range r.workerDeployments() {
				byEntry[d.Spec.Template.Labels["webcamhub.io/worker"]] = d
			}
			if len(byEntry) != 3 {
				t.Fatalf("worker Deployments %v, want a, b, c", keysOf(byEntry))
			}
			if so := scaledObjectOf(r, byEntry["a"].Name); keda != (so != nil) || keda == (byEntry["a"].Spec.Replicas != nil) {
				t.Errorf("a (keda): ScaledObject %v, replicas %v", so != nil, byEntry["a"].Spec.Replicas)
			}
			if !keda && *byEntry["a"].Spec.Replicas != 4 {
				t.Errorf("a without KEDA: replicas %d, want its entry's 4", *byEntry["a"].Spec.Replicas)
			}
			if len(r.hpas) != 1 || r.hpas[0].Spec.ScaleTargetRef.Name != byEntry["b"].Name || byEntry["b"].Spec.Replicas != nil {
				t.Fatalf("HPAs %d, want one for b", len(r.hpas))
			}
			// b's own capacity: 2 x batchMax 4 = 8, at the default 0.7 utilisation: 6 frames per pod.
			if v := r.hpas[0].Spec.Metrics[0].Pods.Target.AverageValue; v == nil || v.Value() != 6 {
				t.Errorf("b's HPA target %v frames held per pod, want 6 (of its capacity 8)", v)
			}
			if scaledObjectOf(r, byEntry["c"].Name) != nil || byEntry["c"].Spec.Replicas == nil || *byEntry["c"].Spec.Replicas != 3 {
				t.Errorf("c (none): replicas %v, want its entry's 3 and no autoscaler", byEntry["c"].Spec.Replicas)
			}
			if got, _ := env(byEntry["b"].Spec.Template.Spec.Containers[0], "WORKER_SERVE"); got != "insects@2" {
				t.Errorf("b: WORKER_SERVE %q", got)
			}
		})
	}
}

// The schema checks an entry as it checks worker: a misspelled key, at its top
// level or deeper, a missing or bad name, a bad model reference.
func TestWorkersEntriesAreChecked(t *testing.T) {
	for name, entry := range map[string]string{
		"misspelled":             `{name: a, replicaz: 2}`,
		"misspelled deeper":      `{name: a, gpu: {cout: 1}}`,
		"misspelled model":       `{name: a, model: {fiel: x.tflite}}`,
		"misspelled autoscaling": `{name: a, autoscaling: {mod: hpa}}`,
		"bad switch":             `{name: a, autoscaling: {mode: sometimes}}`,
		"no name":                `{serve: [mobilenet_v2]}`,
		"bad name":               `{name: Big_Model}`,
		"bad reference":          `{name: a, serve: ["mobilenet v2@0"]}`,
		"wrong type":             `{name: a, replicas: many}`,
	} {
		vals := valuesOf(t, "default", "workers: ["+entry+"]")
		if _, err := render(t, vals); err == nil || !strings.Contains(err.Error(), "schema") {
			t.Errorf("%s: workers [%s] rendered (err %v), want a schema error", name, entry, err)
		}
	}
	if _, err := render(t, valuesOf(t, "default", `workers: [{name: a}, {name: a}]`)); err == nil || !strings.Contains(err.Error(), `two entries named "a"`) {
		t.Errorf("two entries named a: err %v", err)
	}
	long := strings.Repeat("x", 40)
	if _, err := render(t, valuesOf(t, "default", `{fullnameOverride: `+strings.Repeat("y", 20)+`, workers: [{name: `+long+`}]}`)); err == nil || !strings.Contains(err.Error(), "63") {
		t.Errorf("a name over 63 characters: err %v", err)
	}
	lint := lintWith(t, valuesOf(t, "default", `workers: [{name: a, replicaz: 2}]`))
	if len(lint.Errors) == 0 {
		t.Error("helm lint passes a misspelled key in an entry of workers")
	}
}

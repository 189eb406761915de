package chartcheck

import (
	"regexp"
	"strings"
	"testing"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
)

// Workers scale with a KEDA ScaledObject by default, on Prometheus queries of the
// capacity gauges; the hpa values switch to a HorizontalPodAutoscaler instead.
func TestWorkersAutoscaleWithKEDAByDefault(t *testing.T) {
	r := sortObjects(t, renderSet(t, "default"))
	worker := r.deployment(t, "worker")
	if worker.Spec.Replicas != nil {
		t.Errorf("worker Deployment sets replicas %d: it would fight the autoscaler", *worker.Spec.Replicas)
	}
	if len(r.hpas) != 0 {
		t.Errorf("%d HPAs beside the ScaledObject", len(r.hpas))
	}
	if len(r.scaledObjects) != 1 {
		t.Fatalf("%d ScaledObjects, want 1", len(r.scaledObjects))
	}
	so := r.scaledObjects[0]
	if so.Spec.ScaleTargetRef == nil || so.Spec.ScaleTargetRef.Name != worker.Name || so.Spec.ScaleTargetRef.Kind != "Deployment" {
		t.Errorf("ScaledObject targets %+v, want Deployment %s", so.Spec.ScaleTargetRef, worker.Name)
	}
	if so.Spec.MinReplicaCount == nil || *so.Spec.MinReplicaCount < 1 || so.Spec.MaxReplicaCount == nil || *so.Spec.MaxReplicaCount <= *so.Spec.MinReplicaCount {
		t.Errorf("ScaledObject replicas %v..%v", so.Spec.MinReplicaCount, so.Spec.MaxReplicaCount)
	}
	if err := kedav1alpha1.ValidateTriggers(so.Spec.Triggers); err != nil {
		t.Errorf("KEDA refuses the triggers: %v", err)
	}
	var queries []string
	for _, trig := range so.Spec.Triggers {
		if trig.Type != "prometheus" {
			t.Errorf("trigger %q of type %q, want prometheus", trig.Name, trig.Type)
			continue
		}
		for _, key := range []string{"serverAddress", "query", "threshold"} {
			if trig.Metadata[key] == "" {
				t.Errorf("trigger %q: no %s", trig.Name, key)
			}
		}
		queries = append(queries, trig.Metadata["query"])
	}
	all := strings.Join(queries, "\n")
	for _, metric := range []string{"worker_frames_held", "worker_frames_capacity", "hub_frames_shed_total"} {
		if !strings.Contains(all, metric) {
			t.Errorf("no trigger queries %s", metric)
		}
	}
	checkMetricsCatalogued(t, all)
}

func TestWorkersAutoscaleWithAnHPAWithoutKEDA(t *testing.T) {
	r := sortObjects(t, renderSet(t, "hpa"))
	if len(r.scaledObjects) != 0 {
		t.Errorf("%d ScaledObjects with autoscaling.mode hpa", len(r.scaledObjects))
	}
	if len(r.hpas) != 1 {
		t.Fatalf("%d HPAs, want 1", len(r.hpas))
	}
	worker := r.deployment(t, "worker")
	if worker.Spec.Replicas != nil {
		t.Errorf("worker Deployment sets replicas %d: it would fight the HPA", *worker.Spec.Replicas)
	}
	hpa := r.hpas[0]
	if hpa.Spec.ScaleTargetRef.Name != worker.Name || hpa.Spec.ScaleTargetRef.Kind != "Deployment" {
		t.Errorf("HPA targets %+v, want Deployment %s", hpa.Spec.ScaleTargetRef, worker.Name)
	}
	var held bool
	for _, m := range hpa.Spec.Metrics {
		if m.Type == autoscalingv2.PodsMetricSourceType && m.Pods.Metric.Name == "worker_frames_held" {
			held = m.Pods.Target.AverageValue != nil && !m.Pods.Target.AverageValue.IsZero()
			checkMetricsCatalogued(t, m.Pods.Metric.Name)
		}
	}
	if !held {
		t.Error("the HPA does not scale on worker_frames_held per pod")
	}
}

func TestNoAutoscalingKeepsTheReplicas(t *testing.T) {
	vals := values(t, nil)
	vals["autoscaling"] = map[string]any{"mode": "none"}
	manifests, err := render(t, vals)
	if err != nil {
		t.Fatal(err)
	}
	r := sortObjects(t, decodeAll(t, manifests))
	if len(r.hpas)+len(r.scaledObjects) != 0 {
		t.Error("an autoscaler with autoscaling.mode none")
	}
	if w := r.deployment(t, "worker"); w.Spec.Replicas == nil || *w.Spec.Replicas != 2 {
		t.Errorf("worker replicas %v, want worker.replicas (2)", w.Spec.Replicas)
	}
}

var metricName = regexp.MustCompile(`\b(?:hub|worker)_[a-z_]+\b`)

// Every metric an autoscaler asks for is one the hub or the worker exports (the
// catalog in docs/metrics.md, which the hub's and the worker's tests keep exact).
func checkMetricsCatalogued(t *testing.T, text string) {
	t.Helper()
	catalog := repoFile(t, "docs/metrics.md")
	for _, name := range metricName.FindAllString(text, -1) {
		for _, series := range []string{"_bucket", "_sum", "_count"} { // a histogram's series
			if base, ok := strings.CutSuffix(name, series); ok && strings.Contains(catalog, "| `"+base+"` | histogram |") {
				name = base
			}
		}
		if !strings.Contains(catalog, "| `"+name+"` |") {
			t.Errorf("%s is not a metric of docs/metrics.md", name)
		}
	}
}

package chartcheck

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// A default install renders for the oldest and newest supported Kubernetes,
// with and without KEDA: the ScaledObject only where its API is, otherwise
// fixed worker replicas, and NOTES.txt says which.
func TestDefaultInstallOnAnyCluster(t *testing.T) {
	for _, kube := range []string{oldestKube, newestKube} {
		for _, keda := range []bool{true, false} {
			c := cluster{kubeVersion: kube, keda: keda}
			t.Run(fmt.Sprintf("%s/keda=%v", kube, keda), func(t *testing.T) {
				all, err := renderAll(t, values(t, nil), c)
				if err != nil {
					t.Fatalf("helm template: %v", err)
				}
				notes := all["webcamhub/templates/NOTES.txt"]
				manifests, err := renderFor(t, values(t, nil), c)
				if err != nil {
					t.Fatal(err)
				}
				r := sortObjects(t, decodeAll(t, manifests))
				worker := r.deployment(t, "worker")
				if keda {
					if len(r.scaledObjects) != 1 || worker.Spec.Replicas != nil {
						t.Errorf("with KEDA: %d ScaledObjects, worker replicas %v", len(r.scaledObjects), worker.Spec.Replicas)
					}
					if !strings.Contains(notes, "scaled by a KEDA ScaledObject") {
						t.Errorf("NOTES.txt does not say KEDA scales:\n%s", notes)
					}
				} else {
					if len(r.scaledObjects) != 0 || worker.Spec.Replicas == nil || *worker.Spec.Replicas != 2 {
						t.Errorf("without KEDA: %d ScaledObjects, worker replicas %v (want worker.replicas 2)", len(r.scaledObjects), worker.Spec.Replicas)
					}
					if !strings.Contains(notes, "NOT autoscaled") || !strings.Contains(notes, "keda.sh/v1alpha1") {
						t.Errorf("NOTES.txt does not say the workers are not autoscaled:\n%s", notes)
					}
				}
				for _, prerequisite := range []string{"webcamhub-nats-ca", "webcamhub-nats-hub", "webcamhub-nats-worker", "webcamhub-model", `release "nats"`} {
					if !strings.Contains(notes, prerequisite) {
						t.Errorf("NOTES.txt does not name the prerequisite %s", prerequisite)
					}
				}
			})
		}
	}
	if _, err := renderFor(t, values(t, nil), cluster{kubeVersion: "v1.29.0"}); err == nil {
		t.Error("rendered for Kubernetes 1.29, below the chart's kubeVersion")
	}
}

// The hubs' streams are replicated as the NATS cluster of nats-values.yaml
// allows; the workers' model cache is writable; the pods run as the release's
// ServiceAccount without its token.
func TestPodsHaveWhatTheyNeed(t *testing.T) {
	r := sortObjects(t, renderSet(t, "default"))
	hub := r.deployment(t, "hub")
	replicas, _ := env(hub.Spec.Template.Spec.Containers[0], "HUB_JS_REPLICAS")
	natsReplicas := get(t, natsValues(t), "config.cluster.replicas")
	if replicas != fmt.Sprint(natsReplicas) {
		t.Errorf("HUB_JS_REPLICAS %q, want the NATS cluster's %v nodes", replicas, natsReplicas)
	}
	worker := r.deployment(t, "worker")
	c := worker.Spec.Template.Spec.Containers[0]
	cacheDir, _ := env(c, "WORKER_MODEL_CACHE_DIR")
	if !mountedWritable(worker.Spec.Template.Spec, c, cacheDir) {
		t.Errorf("worker: WORKER_MODEL_CACHE_DIR %q is on no writable volume (the root is read-only)", cacheDir)
	}
	if len(r.serviceAccounts) != 1 {
		t.Fatalf("%d ServiceAccounts, want 1", len(r.serviceAccounts))
	}
	for _, d := range r.deployments {
		if d.Spec.Template.Spec.ServiceAccountName != r.serviceAccounts[0].Name {
			t.Errorf("%s runs as %q, not the release's ServiceAccount", d.Name, d.Spec.Template.Spec.ServiceAccountName)
		}
	}
}

func mountedWritable(pod corev1.PodSpec, c corev1.Container, path string) bool {
	writable := map[string]bool{}
	for _, v := range pod.Volumes {
		writable[v.Name] = v.EmptyDir != nil || (v.PersistentVolumeClaim != nil && !v.PersistentVolumeClaim.ReadOnly)
	}
	for _, m := range c.VolumeMounts {
		if writable[m.Name] && !m.ReadOnly && strings.HasPrefix(path+"/", strings.TrimSuffix(m.MountPath, "/")+"/") {
			return true
		}
	}
	return false
}

// The NetworkPolicy lets the NATS release's own nats-box reach NATS (the
// cli role), and nothing of another release.
func TestNATSBoxReachesNATS(t *testing.T) {
	r := sortObjects(t, renderSet(t, "default"))
	box := labels.Set{"app.kubernetes.io/name": "nats", "app.kubernetes.io/instance": "nats", "app.kubernetes.io/component": "nats-box"}
	other := labels.Set{"app.kubernetes.io/name": "nats", "app.kubernetes.io/instance": "other", "app.kubernetes.io/component": "nats-box"}
	var boxOK, otherOK bool
	for _, p := range r.policies {
		for _, rule := range p.Spec.Ingress {
			for _, port := range rule.Ports {
				if port.Port == nil || port.Port.IntValue() != 4222 {
					continue
				}
				for _, peer := range rule.From {
					if peer.PodSelector == nil {
						continue
					}
					sel := labels.SelectorFromSet(peer.PodSelector.MatchLabels)
					boxOK = boxOK || sel.Matches(box)
					otherOK = otherOK || sel.Matches(other)
				}
			}
		}
	}
	if !boxOK || otherOK {
		t.Errorf("NATS' client port: nats-box of the release %v, of another release %v", boxOK, otherOK)
	}
}

// Everything the values offer for real clusters renders into valid objects:
// an HTTPRoute, pod settings, GPU limits, digests, the alerts, the test pod.
func TestEveryOptionRenders(t *testing.T) {
	var vals map[string]any
	if err := yaml.Unmarshal([]byte(`
httpRoute:
  enabled: true
  parentRefs: [{name: web, namespace: gateway, sectionName: https}]
  hostnames: [webcam.example.com]
hub:
  image: {digest: "sha256:`+strings.Repeat("a", 64)+`"}
  podAnnotations: {example.com/team: vision}
  podLabels: {team: vision}
  extraEnv: [{name: HUB_FRAME_TIMEOUT, value: 3s}]
  envFrom: [{secretRef: {name: hub-extra}}]
  extraVolumes: [{name: extra, emptyDir: {}}]
  extraVolumeMounts: [{name: extra, mountPath: /extra}]
  priorityClassName: high
  readinessProbe: {periodSeconds: 7, timeoutSeconds: 2, failureThreshold: 4}
  strategy: {type: Recreate}
worker:
  env: {RUNTIME: torch-cuda}
  gpu: {count: 1}
  nodeSelector: {nvidia.com/gpu.present: "true"}
  tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
  cache: {claimName: worker-cache}
  topologySpreadConstraints:
    - {maxSkew: 2, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app.kubernetes.io/component: worker}}}
metrics:
  serviceMonitor: {enabled: true, scrapeTimeout: 5s}
  prometheusRule: {enabled: true}
`), &vals); err != nil {
		t.Fatal(err)
	}
	all, err := renderAll(t, vals, withKEDA)
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	delete(all, "webcamhub/templates/NOTES.txt")
	r := sortObjects(t, decodeAll(t, all))
	if len(r.httpRoutes) != 1 || len(r.httpRoutes[0].Spec.Rules) != 1 || string(r.httpRoutes[0].Spec.Rules[0].BackendRefs[0].Name) != releaseName+"-hub" {
		t.Errorf("HTTPRoute %+v", r.httpRoutes)
	}
	hub := r.deployment(t, "hub")
	hc := hub.Spec.Template.Spec.Containers[0]
	if origin, _ := env(hc, "HUB_PUBLIC_ORIGIN"); origin != "https://webcam.example.com" {
		t.Errorf("HUB_PUBLIC_ORIGIN %q with the HTTPRoute's hostname", origin)
	}
	checkImage(t, "hub", hc.Image)
	if !strings.HasSuffix(hc.Image, "@sha256:"+strings.Repeat("a", 64)) {
		t.Errorf("hub image %q without its digest", hc.Image)
	}
	if hub.Spec.Template.Labels["team"] != "vision" || hub.Spec.Template.Annotations["example.com/team"] != "vision" ||
		hub.Spec.Template.Spec.PriorityClassName != "high" || len(hc.EnvFrom) != 1 || hc.ReadinessProbe.PeriodSeconds != 7 ||
		hub.Spec.Strategy.Type != "Recreate" {
		t.Errorf("hub pod settings from values missing: %+v", hub.Spec.Template)
	}
	if v, _ := env(hc, "HUB_FRAME_TIMEOUT"); v != "3s" {
		t.Errorf("hub extraEnv HUB_FRAME_TIMEOUT %q", v)
	}
	worker := r.deployment(t, "worker")
	wc := worker.Spec.Template.Spec.Containers[0]
	if q := wc.Resources.Limits["nvidia.com/gpu"]; q.Cmp(resource.MustParse("1")) != 0 {
		t.Errorf("worker GPU limit %v, want 1", q.String())
	}
	if worker.Spec.Template.Spec.TopologySpreadConstraints[0].TopologyKey != "topology.kubernetes.io/zone" || len(worker.Spec.Template.Spec.Tolerations) != 1 {
		t.Error("worker scheduling from values missing")
	}
	for _, sm := range r.serviceMonitors {
		if sm.Spec.Endpoints[0].ScrapeTimeout != "5s" {
			t.Errorf("ServiceMonitor %s scrapeTimeout %q", sm.Name, sm.Spec.Endpoints[0].ScrapeTimeout)
		}
	}
	checkAlerts(t, r)
	if len(r.pods) != 1 {
		t.Fatalf("%d test pods, want 1", len(r.pods))
	}
	test := r.pods[0]
	if test.Annotations["helm.sh/hook"] != "test" || len(test.Spec.Containers[0].Args) != 2 || test.Spec.Containers[0].Args[0] != "probe" ||
		!strings.Contains(test.Spec.Containers[0].Args[1], releaseName+"-hub.") {
		t.Errorf("helm test pod: %+v", test)
	}
}

// The PrometheusRule holds every alert of the rules file, each with a runbook
// in docs/operations.md, on metrics the catalog lists.
func checkAlerts(t *testing.T, r rendered) {
	t.Helper()
	if len(r.prometheusRules) != 1 {
		t.Fatalf("%d PrometheusRules, want 1", len(r.prometheusRules))
	}
	ops := repoFile(t, "docs/operations.md")
	n := 0
	for _, g := range r.prometheusRules[0].Spec.Groups {
		for _, rule := range g.Rules {
			n++
			url := rule.Annotations["runbook_url"]
			anchor := strings.ToLower(rule.Alert)
			if !strings.HasSuffix(url, "docs/operations.md#"+anchor) {
				t.Errorf("alert %s: runbook_url %q, want docs/operations.md#%s", rule.Alert, url, anchor)
			}
			if !strings.Contains(ops, "### "+rule.Alert+"\n") {
				t.Errorf("alert %s: no runbook section in docs/operations.md", rule.Alert)
			}
			checkMetricsCatalogued(t, rule.Expr.String())
		}
	}
	if n < 6 {
		t.Errorf("%d alerts, want at least 6", n)
	}
}

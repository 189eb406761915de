package chartcheck

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// rendered: the objects of one render, by type.
type rendered struct {
	deployments     []*appsv1.Deployment
	services        []*corev1.Service
	pdbs            []*policyv1.PodDisruptionBudget
	ingresses       []*networkingv1.Ingress
	policies        []*networkingv1.NetworkPolicy
	hpas            []*autoscalingv2.HorizontalPodAutoscaler
	scaledObjects   []*kedav1alpha1.ScaledObject
	serviceMonitors []*monitoringv1.ServiceMonitor
	prometheusRules []*monitoringv1.PrometheusRule
	httpRoutes      []*gatewayv1.HTTPRoute
	serviceAccounts []*corev1.ServiceAccount
	pods            []*corev1.Pod // helm test hooks
}

func sortObjects(t *testing.T, objs []runtime.Object) rendered {
	t.Helper()
	var r rendered
	for _, obj := range objs {
		switch o := obj.(type) {
		case *appsv1.Deployment:
			r.deployments = append(r.deployments, o)
		case *corev1.Service:
			r.services = append(r.services, o)
		case *policyv1.PodDisruptionBudget:
			r.pdbs = append(r.pdbs, o)
		case *networkingv1.Ingress:
			r.ingresses = append(r.ingresses, o)
		case *networkingv1.NetworkPolicy:
			r.policies = append(r.policies, o)
		case *autoscalingv2.HorizontalPodAutoscaler:
			r.hpas = append(r.hpas, o)
		case *kedav1alpha1.ScaledObject:
			r.scaledObjects = append(r.scaledObjects, o)
		case *monitoringv1.ServiceMonitor:
			r.serviceMonitors = append(r.serviceMonitors, o)
		case *monitoringv1.PrometheusRule:
			r.prometheusRules = append(r.prometheusRules, o)
		case *gatewayv1.HTTPRoute:
			r.httpRoutes = append(r.httpRoutes, o)
		case *corev1.ServiceAccount:
			r.serviceAccounts = append(r.serviceAccounts, o)
		case *corev1.Pod:
			r.pods = append(r.pods, o)
		default:
			t.Errorf("unexpected kind %T", obj)
		}
	}
	return r
}

func (r rendered) deployment(t *testing.T, component string) *appsv1.Deployment {
	t.Helper()
	for _, d := range r.deployments {
		if d.Spec.Template.Labels["app.kubernetes.io/component"] == component {
			return d
		}
	}
	t.Fatalf("no %s Deployment", component)
	return nil
}

// workerDeployments are the Deployments of workers: one, or one per entry of workers.
func (r rendered) workerDeployments() []*appsv1.Deployment {
	var ws []*appsv1.Deployment
	for _, d := range r.deployments {
		if d.Spec.Template.Labels["app.kubernetes.io/component"] == "worker" {
			ws = append(ws, d)
		}
	}
	return ws
}

func env(c corev1.Container, name string) (string, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value, true
		}
	}
	return "", false
}

func TestEveryValueSetRendersASafeDeployment(t *testing.T) {
	for name := range valueSets {
		t.Run(name, func(t *testing.T) {
			r := sortObjects(t, renderSet(t, name))
			workers := r.workerDeployments()
			if len(r.deployments) != 1+len(workers) || len(workers) == 0 {
				t.Fatalf("%d Deployments, %d of workers: want the hub's and the workers'", len(r.deployments), len(workers))
			}
			for _, d := range r.deployments {
				checkPodSpec(t, d)
			}
			checkPDBs(t, r)
			checkServices(t, r)
			checkGracePeriod(t, r.deployment(t, "hub"))
			for _, w := range workers {
				checkModelVolume(t, w)
			}
			checkNetworkPolicy(t, r)
			checkHubMetricsPrivate(t, r)
			checkEnvNamesExist(t, r)
		})
	}
}

func checkPodSpec(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	sel, err := metaSelector(d.Spec.Selector.MatchLabels)
	if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("%s: selector does not match its pods", d.Name)
	}
	pod := d.Spec.Template.Spec
	if pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot {
		t.Errorf("%s: pod without runAsNonRoot", d.Name)
	}
	if pod.SecurityContext != nil && (pod.SecurityContext.RunAsUser == nil || *pod.SecurityContext.RunAsUser == 0) {
		t.Errorf("%s: pod runs as root or an unset user", d.Name)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("%s: mounts a service account token it never uses", d.Name)
	}
	if len(pod.Containers) == 0 {
		t.Fatalf("%s: no containers", d.Name)
	}
	for _, c := range pod.Containers {
		where := d.Name + "/" + c.Name
		if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
			t.Errorf("%s: readiness probe is not GET /readyz", where)
		}
		if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
			t.Errorf("%s: liveness probe is not GET /healthz", where)
		}
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if q, ok := c.Resources.Requests[res]; !ok || q.IsZero() {
				t.Errorf("%s: no %s request", where, res)
			}
		}
		if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
			t.Errorf("%s: no memory limit", where)
		}
		sc := c.SecurityContext
		switch {
		case sc == nil:
			t.Errorf("%s: no securityContext", where)
		case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
			t.Errorf("%s: root filesystem is writable", where)
		case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
			t.Errorf("%s: may escalate privileges", where)
		case sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot:
			t.Errorf("%s: without runAsNonRoot", where)
		case sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL":
			t.Errorf("%s: capabilities not all dropped", where)
		}
		checkImage(t, where, c.Image)
		mounted := map[string]bool{}
		for _, m := range c.VolumeMounts {
			mounted[m.MountPath] = true
		}
		if !mounted["/tmp"] {
			t.Errorf("%s: no writable /tmp on a read-only root", where)
		}
		// The role's nkey seed and the NATS CA come from Secrets, as files.
		for _, name := range []string{"NATS_NKEY", "NATS_TLS_CA"} {
			path, ok := env(c, name)
			if !ok || !secretBacked(pod, c, path) {
				t.Errorf("%s: %s=%q is not a file of a mounted Secret", where, name, path)
			}
		}
		if url, _ := env(c, "NATS_URL"); !strings.HasPrefix(url, "tls://") {
			t.Errorf("%s: NATS_URL %q is not TLS", where, url)
		}
	}
}

var digestOrTag = regexp.MustCompile(`^[^:@]+(:[^:@/]+)?(@sha256:[0-9a-f]{64})?$`)

func checkImage(t *testing.T, where, image string) {
	t.Helper()
	if !digestOrTag.MatchString(image) {
		t.Errorf("%s: image %q is not name[:tag][@digest]", where, image)
		return
	}
	name := strings.SplitN(image, "@", 2)[0]
	slash := strings.LastIndex(name, "/")
	colon := strings.LastIndex(name, ":")
	if colon < slash {
		t.Errorf("%s: image %q has no tag", where, image)
		return
	}
	if tag := name[colon+1:]; tag == "latest" || tag == "" {
		t.Errorf("%s: image %q has the tag %q", where, image, tag)
	}
}

// secretBacked: path is a file under a mount of a Secret volume of the pod.
func secretBacked(pod corev1.PodSpec, c corev1.Container, path string) bool {
	secrets := map[string]bool{}
	for _, v := range pod.Volumes {
		if v.Secret != nil {
			secrets[v.Name] = true
		}
	}
	for _, m := range c.VolumeMounts {
		if secrets[m.Name] && m.ReadOnly && strings.HasPrefix(path, strings.TrimSuffix(m.MountPath, "/")+"/") {
			return true
		}
	}
	return false
}

func checkPDBs(t *testing.T, r rendered) {
	t.Helper()
	for _, d := range r.deployments {
		var covering []string
		for _, p := range r.pdbs {
			sel, err := metaSelector(p.Spec.Selector.MatchLabels)
			if err == nil && sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				covering = append(covering, p.Name)
				if p.Spec.MaxUnavailable == nil && p.Spec.MinAvailable == nil {
					t.Errorf("PDB %s bounds nothing", p.Name)
				}
			}
		}
		if len(covering) != 1 {
			t.Errorf("the pods of %s are covered by the PodDisruptionBudgets %v, want exactly one", d.Name, covering)
		}
	}
}

func checkServices(t *testing.T, r rendered) {
	t.Helper()
	hub := r.deployment(t, "hub")
	for _, s := range r.services {
		if labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(hub.Spec.Template.Labels)) {
			for _, p := range s.Spec.Ports {
				if p.TargetPort == intstr.FromString("http") {
					return
				}
			}
		}
	}
	t.Error("no Service sends to the hubs' http port")
}

// The hub gets SIGTERM after its preStop pause; it may take HUB_SHUTDOWN_TIMEOUT
// then: the grace period must cover both.
func checkGracePeriod(t *testing.T, hub *appsv1.Deployment) {
	t.Helper()
	c := hub.Spec.Template.Spec.Containers[0]
	raw, ok := env(c, "HUB_SHUTDOWN_TIMEOUT")
	if !ok {
		t.Fatal("hub: HUB_SHUTDOWN_TIMEOUT not set")
	}
	shutdown, err := time.ParseDuration(raw)
	if err != nil {
		t.Fatalf("hub: HUB_SHUTDOWN_TIMEOUT %q: %v", raw, err)
	}
	var preStop time.Duration
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
		preStop = time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	}
	grace := hub.Spec.Template.Spec.TerminationGracePeriodSeconds
	if grace == nil || time.Duration(*grace)*time.Second <= shutdown+preStop {
		t.Errorf("hub: terminationGracePeriodSeconds %v does not cover preStop %v + HUB_SHUTDOWN_TIMEOUT %v", grace, preStop, shutdown)
	}
}

// The worker loads a local model file, or a model repository, from a read-only
// volume: no download.
func checkModelVolume(t *testing.T, worker *appsv1.Deployment) {
	t.Helper()
	c := worker.Spec.Template.Spec.Containers[0]
	model, isFile := env(c, "WORKER_MODEL")
	repository, isRepository := env(c, "WORKER_MODELS_DIR")
	var path string
	switch {
	case isFile && isRepository:
		t.Fatalf("%s: both WORKER_MODEL and WORKER_MODELS_DIR", worker.Name)
	case isFile:
		var ok bool
		if path, ok = strings.CutPrefix(model, "tflite:"); !ok {
			t.Fatalf("%s: WORKER_MODEL %q is not a local tflite file", worker.Name, model)
		}
	case isRepository:
		path = repository + "/"
	default:
		t.Fatalf("%s: neither WORKER_MODEL nor WORKER_MODELS_DIR", worker.Name)
	}
	for _, m := range c.VolumeMounts {
		if m.Name == "model" && m.ReadOnly && strings.HasPrefix(path, m.MountPath+"/") {
			return
		}
	}
	t.Errorf("%s: the model %q is on no read-only model volume", worker.Name, path)
}

// Only the hubs and workers (and the pods listed) reach NATS' client port.
func checkNetworkPolicy(t *testing.T, r rendered) {
	t.Helper()
	natsPod := labels.Set{"app.kubernetes.io/name": "nats", "app.kubernetes.io/instance": "nats",
		"app.kubernetes.io/component": "nats", "statefulset.kubernetes.io/pod-name": "nats-0"}
	var policy *networkingv1.NetworkPolicy
	for _, p := range r.policies {
		sel, err := metaSelector(p.Spec.PodSelector.MatchLabels)
		if err == nil && sel.Matches(natsPod) {
			policy = p
		}
	}
	if policy == nil {
		t.Fatal("no NetworkPolicy selects the NATS pods")
	}
	allowed := map[string]bool{}
	for _, rule := range policy.Spec.Ingress {
		for _, port := range rule.Ports {
			if port.Port == nil || port.Port.IntValue() != 4222 {
				continue
			}
			if len(rule.From) == 0 {
				t.Error("NATS' client port is open to every pod")
			}
			for _, peer := range rule.From {
				if peer.NamespaceSelector != nil || peer.IPBlock != nil || peer.PodSelector == nil {
					t.Errorf("NATS' client port is open beyond chosen pods: %+v", peer)
					continue
				}
				allowed[peer.PodSelector.MatchLabels["app.kubernetes.io/component"]] = true
			}
		}
	}
	for _, component := range []string{"hub", "worker"} {
		if !allowed[component] {
			t.Errorf("the %s pods may not reach NATS", component)
		}
	}
	if allowed["nats"] {
		t.Error("NATS' client port is open to the NATS pods' own selector")
	}
}

// The settings the chart passes exist in the hub and the worker.
func checkEnvNamesExist(t *testing.T, r rendered) {
	t.Helper()
	hubSources := hubGoSources(t)
	workerConfig := repoFile(t, "inference_server/config.py")
	for _, d := range r.deployments {
		component := d.Spec.Template.Labels["app.kubernetes.io/component"]
		for _, c := range d.Spec.Template.Spec.Containers {
			for _, e := range c.Env {
				quoted := fmt.Sprintf("%q", e.Name)
				var found bool
				if component == "hub" {
					found = strings.Contains(hubSources, quoted)
				} else {
					found = strings.Contains(workerConfig, quoted) || e.Name == "KERAS_HOME"
				}
				if !found {
					t.Errorf("%s: env %s is not a setting of the %s", d.Name, e.Name, component)
				}
			}
		}
	}
}

func hubGoSources(t *testing.T) string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "..", "..", "hub", "*.go"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("hub sources: %v", err)
	}
	var all strings.Builder
	for _, p := range paths {
		if !strings.HasSuffix(p, "_test.go") {
			all.WriteString(repoFile(t, filepath.Join("hub", filepath.Base(p))))
		}
	}
	return all.String()
}

func metaSelector(m map[string]string) (labels.Selector, error) {
	if len(m) == 0 {
		return nil, fmt.Errorf("empty selector")
	}
	return labels.SelectorFromSet(m), nil
}

package chartcheck

import (
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The hubs' metrics are the operator's: served on the pod's port "metrics"
// (HUB_METRICS_ADDR), which no Service behind the Ingress carries, which
// the scrape annotations and the ServiceMonitor name, and which the
// NetworkPolicy opens to the monitoring namespace only. The probes stay on
// the public port.
func checkHubMetricsPrivate(t *testing.T, r rendered) {
	t.Helper()
	hub := r.deployment(t, "hub")
	c := hub.Spec.Template.Spec.Containers[0]
	var port int32
	for _, p := range c.Ports {
		if p.Name == "metrics" {
			port = p.ContainerPort
		}
	}
	if port == 0 {
		t.Fatal("hub: no container port named metrics")
	}
	metricsPort := strconv.Itoa(int(port))
	if addr, _ := env(c, "HUB_METRICS_ADDR"); addr != ":"+metricsPort {
		t.Errorf("hub: HUB_METRICS_ADDR %q, want :%s (the port named metrics)", addr, metricsPort)
	}
	for _, probe := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
		if probe != nil && probe.HTTPGet != nil && probe.HTTPGet.Port != intstr.FromString("http") {
			t.Errorf("hub: probe %s on port %v, want http", probe.HTTPGet.Path, probe.HTTPGet.Port.String())
		}
	}
	if p, ok := hub.Spec.Template.Annotations["prometheus.io/port"]; ok && p != metricsPort {
		t.Errorf("hub: prometheus.io/port %q, want the metrics port %s", p, metricsPort)
	}

	isMetrics := func(target intstr.IntOrString) bool {
		return target == intstr.FromString("metrics") || target == intstr.FromInt32(port)
	}
	public := map[string]bool{} // the Services the Ingresses send to
	for _, ing := range r.ingresses {
		for _, rule := range ing.Spec.Rules {
			for _, path := range rule.HTTP.Paths {
				if svc := path.Backend.Service; svc != nil {
					public[svc.Name] = true
					if svc.Port.Name == "metrics" || svc.Port.Number == port {
						t.Errorf("Ingress %s sends %s to the metrics port", ing.Name, path.Path)
					}
				}
			}
		}
	}
	scraped := false
	for _, s := range r.services {
		if !labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(hub.Spec.Template.Labels)) {
			continue
		}
		var http, metrics bool
		for _, p := range s.Spec.Ports {
			http = http || p.TargetPort == intstr.FromString("http") || p.TargetPort == intstr.FromInt(8080)
			metrics = metrics || isMetrics(p.TargetPort)
		}
		switch {
		case metrics && (http || public[s.Name]):
			t.Errorf("Service %s carries the hubs' metrics beside their public port", s.Name)
		case metrics && s.Spec.Type != "" && s.Spec.Type != corev1.ServiceTypeClusterIP:
			t.Errorf("Service %s of the hubs' metrics is a %s", s.Name, s.Spec.Type)
		case metrics:
			scraped = true
		}
	}
	if !scraped {
		t.Error("no Service names the hubs' metrics port for a ServiceMonitor")
	}
	for _, sm := range r.serviceMonitors {
		for _, e := range sm.Spec.Endpoints {
			if e.Port != "metrics" {
				t.Errorf("ServiceMonitor %s scrapes port %q, want metrics", sm.Name, e.Port)
			}
		}
	}

	covered := false
	for _, np := range r.policies {
		sel, err := metaSelector(np.Spec.PodSelector.MatchLabels)
		if err != nil || !sel.Matches(labels.Set(hub.Spec.Template.Labels)) {
			continue
		}
		covered = true
		for _, rule := range np.Spec.Ingress {
			opensMetrics := len(rule.Ports) == 0 // every port
			for _, p := range rule.Ports {
				opensMetrics = opensMetrics || p.Port == nil || isMetrics(*p.Port)
			}
			if !opensMetrics {
				continue
			}
			if len(rule.From) == 0 {
				t.Errorf("NetworkPolicy %s opens the hubs' metrics port to everyone", np.Name)
			}
			for _, peer := range rule.From {
				if peer.NamespaceSelector == nil || peer.PodSelector != nil || peer.IPBlock != nil {
					t.Errorf("NetworkPolicy %s opens the hubs' metrics port beyond the monitoring namespace: %+v", np.Name, peer)
				}
			}
		}
	}
	if !covered {
		t.Error("no NetworkPolicy keeps the hubs' metrics port to the monitoring namespace")
	}
}

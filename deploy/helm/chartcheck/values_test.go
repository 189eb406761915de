package chartcheck

import (
	"strings"
	"testing"
)

// An image tag "latest" is refused at render time, for either image.
func TestImageTagLatestIsRefused(t *testing.T) {
	for _, component := range []string{"hub", "worker"} {
		vals := values(t, nil)
		vals[component] = map[string]any{"image": map[string]any{"repository": "x", "tag": "latest"}}
		if _, err := render(t, vals); err == nil || !strings.Contains(err.Error(), `"latest" is refused`) {
			t.Errorf("%s image tag latest: err %v, want refused", component, err)
		}
	}
}

func TestBadSwitchesAreRefused(t *testing.T) {
	for key, val := range map[string]map[string]any{
		"autoscaling": {"mode": "sometimes"},
		"model":       {"source": "internet"},
	} {
		vals := values(t, nil)
		vals[key] = val
		if _, err := render(t, vals); err == nil {
			t.Errorf("%s %v rendered", key, val)
		}
	}
}

// Production: TLS at the Ingress for the hubs' host, which the hub takes as its
// public origin; a ServiceMonitor for the hubs and one for the workers, each on
// the pods' metrics port.
func TestProductionValuesTerminateTLSAtTheIngress(t *testing.T) {
	r := sortObjects(t, renderSet(t, "production"))
	if len(r.ingresses) != 1 {
		t.Fatalf("%d Ingresses, want 1", len(r.ingresses))
	}
	ing := r.ingresses[0]
	if len(ing.Spec.TLS) != 1 || ing.Spec.TLS[0].SecretName == "" || len(ing.Spec.Rules) != 1 {
		t.Fatalf("Ingress TLS %+v, rules %d", ing.Spec.TLS, len(ing.Spec.Rules))
	}
	host := ing.Spec.Rules[0].Host
	if ing.Spec.TLS[0].Hosts[0] != host {
		t.Errorf("TLS for %v, rule for %s", ing.Spec.TLS[0].Hosts, host)
	}
	if ing.Annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "" {
		t.Error("no WebSocket read timeout on the Ingress: sessions would be cut at the controller's default")
	}
	hub := r.deployment(t, "hub").Spec.Template.Spec.Containers[0]
	if origin, _ := env(hub, "HUB_PUBLIC_ORIGIN"); origin != "https://"+host {
		t.Errorf("HUB_PUBLIC_ORIGIN %q, want https://%s", origin, host)
	}
	if len(r.serviceMonitors) != 2 {
		t.Errorf("%d ServiceMonitors, want 2", len(r.serviceMonitors))
	}
	for _, sm := range r.serviceMonitors {
		if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Path != "/metrics" || sm.Spec.Endpoints[0].Port != "metrics" {
			t.Errorf("ServiceMonitor %s endpoints %+v", sm.Name, sm.Spec.Endpoints)
		}
	}
	// Pods carry the scrape annotations too, for a Prometheus without the operator.
	for _, d := range r.deployments {
		if d.Spec.Template.Annotations["prometheus.io/scrape"] != "true" {
			t.Errorf("%s: no prometheus.io/scrape annotation", d.Name)
		}
	}
}

// Package chartcheck tests the Helm chart of deploy/helm/webcamhub and the values
// file of the official NATS chart (deploy/helm/nats-values.yaml) offline: helm lint,
// helm template with the default and the production values, every rendered object
// decoded strictly into the Kubernetes, KEDA and Prometheus operator API types, and
// what a deployment of the webcam hub needs from them.
//
// It is a Go module of its own: Helm, the Kubernetes API and KEDA are heavy, and the
// hub's module (the repository root) must not depend on them. `make test-helm` runs it.
package chartcheck

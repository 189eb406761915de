{{/* Names, labels and the pieces both Deployments share. */}}

{{- define "webcamhub.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "webcamhub.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "webcamhub.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "webcamhub.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Selector labels of one component: include with (dict "ctx" $ "component" "hub"). */}}
{{- define "webcamhub.selectorLabels" -}}
app.kubernetes.io/name: {{ include "webcamhub.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "webcamhub.labels" -}}
{{ include "webcamhub.selectorLabels" . }}
app.kubernetes.io/part-of: webcamhub
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" }}
{{- end }}

{{/* registry/repository:tag of (dict "ctx" $ "image" .Values.hub.image); never latest. */}}
{{- define "webcamhub.image" -}}
{{- $tag := .image.tag | default .ctx.Chart.AppVersion | toString }}
{{- if eq $tag "latest" }}
{{- fail "image tag \"latest\" is refused: pin a version so every pod runs the same code" }}
{{- end }}
{{- printf "%s/%s:%s" .ctx.Values.image.registry .image.repository $tag }}
{{- end }}

{{- define "webcamhub.natsURL" -}}
{{- .Values.nats.url | default (printf "tls://%s.%s.svc:4222" .Values.nats.release .Release.Namespace) }}
{{- end }}

{{/* The role's nkey seed file and the NATS CA, mounted from their Secrets. */}}
{{- define "webcamhub.natsVolumes" -}}
- name: nats-nkey
  secret:
    secretName: {{ .creds.secretName }}
    defaultMode: 0440
    items:
      - key: {{ .creds.key }}
        path: seed.nk
- name: nats-ca
  secret:
    secretName: {{ .ctx.Values.nats.tlsCA.secretName }}
    defaultMode: 0444
    items:
      - key: {{ .ctx.Values.nats.tlsCA.key }}
        path: ca.crt
{{- end }}

{{- define "webcamhub.natsMounts" -}}
- name: nats-nkey
  mountPath: /etc/webcamhub/nats
  readOnly: true
- name: nats-ca
  mountPath: /etc/webcamhub/nats-ca
  readOnly: true
{{- end }}

{{- define "webcamhub.natsEnv" -}}
- name: NATS_URL
  value: {{ include "webcamhub.natsURL" . | quote }}
- name: NATS_NKEY
  value: /etc/webcamhub/nats/seed.nk
- name: NATS_TLS_CA
  value: /etc/webcamhub/nats-ca/ca.crt
{{- end }}

{{- define "webcamhub.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
{{- end }}

{{- define "webcamhub.podAnnotations" -}}
{{- if .ctx.Values.metrics.podAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end }}

{{/* The Prometheus label selector of this release's metrics. */}}
{{- define "webcamhub.promSelector" -}}
{{- .Values.autoscaling.prometheusLabelSelector | default (printf "namespace=%q" .Release.Namespace) }}
{{- end }}

{{/* Frames a worker holds at most: CAPACITY, or 2 x BATCH_MAX as the worker does. */}}
{{- define "webcamhub.workerCapacity" -}}
{{- if gt (int .Values.worker.capacity) 0 }}{{ int .Values.worker.capacity }}{{ else }}{{ mul 2 (int .Values.worker.batchMax) }}{{ end }}
{{- end }}

{{- define "webcamhub.extraEnv" -}}
{{- range $name, $value := . }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end }}

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

{{/* registry/repository:tag[@digest] of (dict "ctx" $ "image" .Values.hub.image); never latest. */}}
{{- define "webcamhub.image" -}}
{{- $tag := .image.tag | default .ctx.Chart.AppVersion | toString }}
{{- if eq $tag "latest" }}
{{- fail "image tag \"latest\" is refused: pin a version so every pod runs the same code" }}
{{- end }}
{{- printf "%s/%s:%s" .ctx.Values.image.registry .image.repository $tag }}
{{- with .image.digest }}{{ printf "@%s" . }}{{ end }}
{{- end }}

{{- define "webcamhub.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- .Values.serviceAccount.name | default (include "webcamhub.fullname" .) }}
{{- else }}
{{- .Values.serviceAccount.name | default "default" }}
{{- end }}
{{- end }}

{{/* Whether a KEDA ScaledObject is made: mode keda and the cluster serves KEDA's API.
     (dict "ctx" $ "a" <autoscaling values>); the chart's own autoscaling when "a" is absent. */}}
{{- define "webcamhub.keda" -}}
{{- $a := .a | default .ctx.Values.autoscaling }}
{{- if and (eq $a.mode "keda") (.ctx.Capabilities.APIVersions.Has "keda.sh/v1alpha1") }}true{{ end }}
{{- end }}

{{/* Whether a worker Deployment sets its replicas: no autoscaler owns them. (dict "ctx" $ "a" <autoscaling values>) */}}
{{- define "webcamhub.workerReplicasFixed" -}}
{{- if or (eq .a.mode "none") (and (eq .a.mode "keda") (not (include "webcamhub.keda" .))) }}true{{ end }}
{{- end }}

{{/* The worker Deployments, put as "sets" into the dict given as "out":
       {{- $ws := dict }}{{- $_ := include "webcamhub.workerSets" (dict "ctx" $ "out" $ws) }}
     With workers empty: one, <fullname>-worker, of worker, model and autoscaling (every model
     of the volume). Else one per entry of workers, <fullname>-worker-<name>: the entry
     deep-merged over worker, its model over model, its autoscaling over autoscaling (an
     entry's empty value, 0, "" or {}, keeps the inherited one), serving entry.serve
     (WORKER_SERVE; empty: every model of the volume). Each set: name ("" for the single
     one), fullname, selector (extra selector labels), worker, model, autoscaling, serve. */}}
{{- define "webcamhub.workerSets" -}}
{{- $ctx := .ctx }}
{{- $sets := list }}
{{- if not $ctx.Values.workers }}
{{- $sets = append $sets (dict "name" "" "fullname" (printf "%s-worker" (include "webcamhub.fullname" $ctx)) "selector" dict "worker" $ctx.Values.worker "model" $ctx.Values.model "autoscaling" $ctx.Values.autoscaling "serve" "") }}
{{- else }}
{{- $seen := dict }}
{{- range $ctx.Values.workers }}
{{- if hasKey $seen .name }}
{{- fail (printf "workers: two entries named %q: each names its own Deployment" .name) }}
{{- end }}
{{- $_ := set $seen .name true }}
{{- $fullname := printf "%s-worker-%s" (include "webcamhub.fullname" $ctx) .name }}
{{- if gt (len $fullname) 63 }}
{{- fail (printf "workers: %q makes the name %q, longer than Kubernetes' 63 characters: shorten the entry's name (or fullnameOverride)" .name $fullname) }}
{{- end }}
{{- $own := omit . "name" "serve" "model" "autoscaling" }}
{{- $worker := mergeOverwrite (deepCopy $ctx.Values.worker) (deepCopy $own) }}
{{- $model := mergeOverwrite (deepCopy $ctx.Values.model) (deepCopy (.model | default dict)) }}
{{- $autoscaling := mergeOverwrite (deepCopy $ctx.Values.autoscaling) (deepCopy (.autoscaling | default dict)) }}
{{- $sets = append $sets (dict "name" .name "fullname" $fullname "selector" (dict "webcamhub.io/worker" .name) "worker" $worker "model" $model "autoscaling" $autoscaling "serve" (join "," (.serve | default list))) }}
{{- end }}
{{- end }}
{{- $_ := set .out "sets" $sets }}
{{- end }}

{{/* Selector labels of one worker set: (dict "ctx" $ "set" $set). */}}
{{- define "webcamhub.workerSelectorLabels" -}}
{{ include "webcamhub.selectorLabels" (dict "ctx" .ctx "component" "worker") }}
{{- with .set.selector }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* What a pod spec of component (dict "ctx" $ "v" .Values.hub "component" "hub") shares:
     service account, pull secrets, priority, scheduling; a worker's with "set" $set. */}}
{{- define "webcamhub.podScheduling" -}}
{{- with .v.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .v.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .v.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .v.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
topologySpreadConstraints:
{{- if .v.topologySpreadConstraints }}
  {{- toYaml .v.topologySpreadConstraints | nindent 2 }}
{{- else }}
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- if .set }}
        {{- include "webcamhub.workerSelectorLabels" . | nindent 8 }}
        {{- else }}
        {{- include "webcamhub.selectorLabels" (dict "ctx" .ctx "component" .component) | nindent 8 }}
        {{- end }}
{{- end }}
{{- end }}

{{- define "webcamhub.podIdentity" -}}
serviceAccountName: {{ include "webcamhub.serviceAccountName" .ctx }}
automountServiceAccountToken: {{ .ctx.Values.serviceAccount.automount }}
{{- with .ctx.Values.image.pullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
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

{{/* (dict "ctx" $ "port" .metricsPort "extra" .podAnnotations) */}}
{{- define "webcamhub.podAnnotations" -}}
{{- if .ctx.Values.metrics.podAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- with .extra }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The Prometheus label selector of this release's metrics. */}}
{{- define "webcamhub.promSelector" -}}
{{- .Values.autoscaling.prometheusLabelSelector | default (printf "namespace=%q" .Release.Namespace) }}
{{- end }}

{{/* Frames a worker holds at most: CAPACITY, or 2 x BATCH_MAX as the worker does (the worker values of a set). */}}
{{- define "webcamhub.workerCapacity" -}}
{{- if gt (int .capacity) 0 }}{{ int .capacity }}{{ else }}{{ mul 2 (int .batchMax) }}{{ end }}
{{- end }}

{{/* The component's env map, then its extraEnv list: (index .Values "hub"). */}}
{{- define "webcamhub.extraEnv" -}}
{{- range $name, $value := .env }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- with .extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Probe timings from values, as a probe's fields. */}}
{{- define "webcamhub.probeTimings" -}}
periodSeconds: {{ .periodSeconds }}
timeoutSeconds: {{ .timeoutSeconds }}
failureThreshold: {{ .failureThreshold }}
{{- end }}

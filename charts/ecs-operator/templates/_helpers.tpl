{{/* Chart name. */}}
{{- define "ecs-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: <release>-ecs-operator, or the release name when it contains the chart name. */}}
{{- define "ecs-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "ecs-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ecs-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "ecs-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "ecs-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ecs-operator
{{- end }}

{{- define "ecs-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ecs-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name must name an existing ServiceAccount when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "ecs-operator.leaseName" -}}
{{- default (include "ecs-operator.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{- define "ecs-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Plural resource names of the kinds the operator manages, read from the CRDs the chart ships
(files/crds/<plural>.ecs-operator.dev.yaml, synced from crds/ by hack/sync-chart-crds): a new
kind gets its RBAC rules as soon as its CRD is synced.
*/}}
{{- define "ecs-operator.kinds" -}}
{{- $kinds := list }}
{{- range $path, $_ := .Files.Glob "files/crds/*.ecs-operator.dev.yaml" }}
{{- $kind := base $path | trimSuffix ".ecs-operator.dev.yaml" }}
{{- /* Grants are the administrators' kind: the operator only reads them (rbac.yaml). */}}
{{- if ne $kind "awsaccessgrants" }}
{{- $kinds = append $kinds $kind }}
{{- end }}
{{- end }}
{{- if not $kinds }}
{{- fail "files/crds holds no CRDs: run hack/sync-chart-crds" }}
{{- end }}
{{- toJson $kinds }}
{{- end }}

{{/*
Namespaces the operator watches, as a JSON list: watchNamespaces plus the older single
watchNamespace, without duplicates. Empty: all namespaces.
*/}}
{{- define "ecs-operator.watchNamespaces" -}}
{{- $namespaces := .Values.watchNamespaces | default list }}
{{- with .Values.watchNamespace }}
{{- $namespaces = append $namespaces . }}
{{- end }}
{{- toJson ($namespaces | uniq) }}
{{- end }}

{{/* Names of the operator's CRDs (for --install-crds). */}}
{{- define "ecs-operator.crdNames" -}}
{{- $names := list }}
{{- /* Every CRD the chart ships, the grants' included (installed, never written as objects). */}}
{{- range $path, $_ := .Files.Glob "files/crds/*.ecs-operator.dev.yaml" }}
{{- $names = append $names (base $path | trimSuffix ".yaml") }}
{{- end }}
{{- toJson $names }}
{{- end }}

{{/*
Rules for the custom resources in the namespaces the operator watches: read and watch them,
patch or update them (finalizers, which kube-runtime's finalizer helper sets by JSON patch on
metadata.finalizers), write their status, update their finalizers subresource, and record
events (events.k8s.io: created, then patched as a series). No create, and delete only for
ECSTask (ttlSecondsAfterFinished): the operator never creates its own objects.
*/}}
{{- define "ecs-operator.resourceRules" -}}
{{- $kinds := include "ecs-operator.kinds" . | fromJsonArray -}}
- apiGroups: ["ecs-operator.dev"]
  resources: {{ toJson $kinds }}
  verbs: ["get", "list", "watch", "patch", "update"]
- apiGroups: ["ecs-operator.dev"]
  resources:
  {{- range $kinds }}
    - {{ . }}/status
  {{- end }}
  verbs: ["patch", "update"]
- apiGroups: ["ecs-operator.dev"]
  resources:
  {{- range $kinds }}
    - {{ . }}/finalizers
  {{- end }}
  verbs: ["update"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- if has "ecstasks" $kinds }}
# The one delete: an ECSTask with ttlSecondsAfterFinished deletes itself once finished.
- apiGroups: ["ecs-operator.dev"]
  resources: ["ecstasks"]
  verbs: ["delete"]
{{- end }}
{{- end }}

{{/* Checks of value combinations that the schema cannot express. */}}
{{- define "ecs-operator.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail "replicaCount > 1 needs leaderElection.enabled=true: two active operators would fight over the same AWS resources" }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.service.enabled) }}
{{- fail "metrics.serviceMonitor.enabled needs metrics.service.enabled" }}
{{- end }}
{{- if eq (int .Values.metrics.port) (int .Values.health.port) }}
{{- fail "metrics.port and health.port must differ" }}
{{- end }}
{{- end }}

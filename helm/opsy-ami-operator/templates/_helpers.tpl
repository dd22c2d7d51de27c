{{/*
Names, labels and per-controller settings. Templates range over the two controller keys and call
these helpers with a context dict: (dict "root" $ "key" "packerBuilder").
*/}}

{{- define "opsy.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "opsy.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The controller keys in values, in render order. */}}
{{- define "opsy.controllerKeys" -}}
packerBuilder amiRefresher
{{- end -}}

{{/* The component name of a controller key: packer-builder, ami-refresher. */}}
{{- define "opsy.component" -}}
{{- if eq .key "packerBuilder" -}}packer-builder{{- else if eq .key "amiRefresher" -}}ami-refresher{{- else -}}{{- fail (printf "unknown controller %s" .key) -}}{{- end -}}
{{- end -}}

{{/* The binary (and container) name of a controller key. */}}
{{- define "opsy.binary" -}}
{{- if eq .key "packerBuilder" -}}packer-builder-controller{{- else -}}ami-refresh-controller{{- end -}}
{{- end -}}

{{- define "opsy.componentFullname" -}}
{{- printf "%s-%s" (include "opsy.fullname" .root) (include "opsy.component" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "opsy.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of chart-wide objects; takes the root context. */}}
{{- define "opsy.labels" -}}
helm.sh/chart: {{ include "opsy.chart" . }}
app.kubernetes.io/name: {{ include "opsy.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: opsy-ami-operator
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "opsy.selectorLabels" -}}
app.kubernetes.io/name: {{ include "opsy.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ include "opsy.component" . }}
{{- end -}}

{{/* Labels of one controller's objects. */}}
{{- define "opsy.componentLabels" -}}
{{ include "opsy.labels" .root }}
app.kubernetes.io/component: {{ include "opsy.component" . }}
{{- end -}}

{{- define "opsy.values" -}}
{{- toYaml (index .root.Values .key) -}}
{{- end -}}

{{- define "opsy.serviceAccountName" -}}
{{- $c := index .root.Values .key -}}
{{- if $c.serviceAccount.create -}}
{{- default (include "opsy.componentFullname" .) $c.serviceAccount.name -}}
{{- else -}}
{{- default "default" $c.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "opsy.image" -}}
{{- $c := index .root.Values .key -}}
{{- printf "%s:%s" $c.image.repository (default .root.Chart.AppVersion ($c.image.tag | toString)) -}}
{{- end -}}

{{/* "true" when the controller elects a leader: asked for, or more than one replica. */}}
{{- define "opsy.leaderElect" -}}
{{- $c := index .root.Values .key -}}
{{- if or $c.leaderElection.enabled (gt (int $c.replicaCount) 1) -}}true{{- end -}}
{{- end -}}

{{- define "opsy.leaderElectionNamespace" -}}
{{- $c := index .root.Values .key -}}
{{- default .root.Release.Namespace $c.leaderElection.namespace -}}
{{- end -}}

{{- define "opsy.leaderElectionId" -}}
{{- $c := index .root.Values .key -}}
{{- default (printf "%s.ami.refresh.ops" (include "opsy.component" .)) $c.leaderElection.id -}}
{{- end -}}

{{/*
The namespaced rules each controller needs, as its code uses them; leases are granted separately,
in the leader election namespace only. Keep tests/helm/check_chart.py in step.
*/}}
{{- define "opsy.rules" -}}
{{- if eq .key "packerBuilder" -}}
- apiGroups: [ami.refresh.ops]
  resources: [packerbuilders]
  verbs: [get, list, watch, patch, update]
- apiGroups: [ami.refresh.ops]
  resources: [packerbuilders/status]
  verbs: [patch]
- apiGroups: [ami.refresh.ops]
  resources: [amirefreshers]
  verbs: [get, list, watch]
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, create, delete]
- apiGroups: [""]
  resources: [pods]
  verbs: [list]
- apiGroups: [""]
  resources: [pods/log]
  verbs: [get]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
- apiGroups: [""]
  resources: [serviceaccounts]
  verbs: [get]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- if .root.Values.packerBuilder.rbac.ownerReferencesPermissionEnforcement }}
- apiGroups: [ami.refresh.ops]
  resources: [packerbuilders/finalizers]
  verbs: [update]
{{- end }}
{{- else -}}
- apiGroups: [ami.refresh.ops]
  resources: [amirefreshers]
  verbs: [get, list, watch]
- apiGroups: [ami.refresh.ops]
  resources: [amirefreshers/status]
  verbs: [patch]
- apiGroups: [ami.refresh.ops]
  resources: [packerbuilders]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end -}}
{{- end -}}

{{/* "true" when the controller serves /metrics over HTTPS behind a token check. */}}
{{- define "opsy.metricsSecure" -}}
{{- $c := index .root.Values .key -}}
{{- if $c.metrics.secure -}}true{{- end -}}
{{- end -}}

{{/* Where metrics.certSecret is mounted. */}}
{{- define "opsy.metricsCertPath" -}}
/etc/opsy/metrics-certs
{{- end -}}

{{/*
The metrics Service's DNS name, which a certificate from metrics.certSecret must hold for a
scraper that verifies it.
*/}}
{{- define "opsy.metricsServiceName" -}}
{{- printf "%s-metrics" (include "opsy.componentFullname" .) -}}
{{- end -}}

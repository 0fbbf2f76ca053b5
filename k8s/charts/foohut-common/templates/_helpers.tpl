{{/*
Names and labels. They are a contract with hut's Kubernetes runtime, which
creates the Deployments (foohut-SERVICE and one per revision) and finds the
chart's objects by these names and labels: change them only together.
*/}}

{{/* foohut-SERVICE, e.g. foohut-backend. */}}
{{- define "foohut-common.fullname" -}}
{{- printf "foohut-%s" (required "service is required (backend or frontend)" .Values.service) -}}
{{- end -}}

{{- define "foohut-common.namespace" -}}
{{- required "namespace is required: pass -f k8s/values/ENV.yaml" .Values.namespace -}}
{{- end -}}

{{- define "foohut-common.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* What the Service, the PDB and hut select pods by: nothing else, so that
every revision's pods are behind them. */}}
{{- define "foohut-common.selectorLabels" -}}
app.kubernetes.io/name: {{ include "foohut-common.fullname" . }}
{{- end -}}

{{/* Pod labels: without helm.sh/chart, so that a chart bump alone rolls no pods. */}}
{{- define "foohut-common.podLabels" -}}
{{ include "foohut-common.selectorLabels" . }}
app.kubernetes.io/part-of: foohut
app.kubernetes.io/managed-by: hut
hut.foohut.dev/service: {{ .Values.service }}
{{- end -}}

{{/* On every object. managed-by is hut, not Helm: hut owns the workloads. */}}
{{- define "foohut-common.labels" -}}
{{ include "foohut-common.podLabels" . }}
helm.sh/chart: {{ include "foohut-common.chart" . }}
{{- end -}}

{{- define "foohut-common.metadata" -}}
namespace: {{ include "foohut-common.namespace" . }}
labels:
  {{- include "foohut-common.labels" . | nindent 2 }}
{{- end -}}

{{/*
Container security (ADR-009 "Container Security", Pod Security Standard
"restricted"), shared with the hut chart. Takes the chart's `securityContext`
values: {runAsUser, runAsGroup, fsGroup}.
*/}}
{{- define "foohut-common.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .runAsUser }}
runAsGroup: {{ .runAsGroup }}
fsGroup: {{ .fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "foohut-common.containerSecurityContext" -}}
runAsNonRoot: true
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
capabilities:
  drop: [ALL]
{{- end -}}

{{/* Probe timing: takes the `health` values. */}}
{{- define "foohut-common.probeTiming" -}}
periodSeconds: {{ .periodSeconds }}
timeoutSeconds: {{ .timeoutSeconds }}
failureThreshold: {{ .failureThreshold }}
{{- end -}}

{{/* The image, tag defaulting to the chart's appVersion. */}}
{{- define "foohut-common.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) -}}
{{- end -}}

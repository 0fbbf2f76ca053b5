{{- define "monitoring.labels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/part-of: foohut
app.kubernetes.io/component: monitoring
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" | trunc 63 }}
{{- end -}}

{{- define "monitoring.environment" -}}
{{- required "environment is required: pass -f k8s/values/ENV.yaml" .Values.environment -}}
{{- end -}}

{{- define "monitoring.namespace" -}}
{{- required "namespace is required: pass -f k8s/values/ENV.yaml" .Values.namespace -}}
{{- end -}}

{{/* A file of this folder that hut generates: its text, or a clear failure. */}}
{{- define "monitoring.generated" -}}
{{- $text := .root.Files.Get .path -}}
{{- if not $text -}}
{{- fail (printf "monitoring/%s is missing: generate it with `%s`" .path .how) -}}
{{- end -}}
{{- $text -}}
{{- end -}}

{{- define "monitoring.image" -}}
{{- printf "%s:%s" .repository .tag -}}
{{- end -}}

{{/* The restricted pods' tmp volume and mount (read-only root filesystem). */}}
{{- define "monitoring.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- end -}}

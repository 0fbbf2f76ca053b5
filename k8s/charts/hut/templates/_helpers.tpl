{{- define "hut.labels" -}}
app.kubernetes.io/name: hut
app.kubernetes.io/part-of: foohut
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 }}
{{- end -}}

{{- define "hut.selectorLabels" -}}
app.kubernetes.io/name: hut
{{- end -}}

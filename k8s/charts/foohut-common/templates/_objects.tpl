{{/*
The objects of one foohut service (foohut-backend, foohut-frontend). An app
chart's templates/foohut.yaml is `{{ include "foohut-common.app" . }}`.
*/}}
{{- define "foohut-common.app" -}}
{{ include "foohut-common.service" . }}
---
{{ include "foohut-common.configmap" . }}
{{- if .Values.autoscaling.enabled }}
---
{{ include "foohut-common.hpa" . }}
{{- end }}
---
{{ include "foohut-common.pdb" . }}
{{- with include "foohut-common.route" . }}
---
{{ . }}
{{- end }}
{{- if .Values.workload.render }}
---
{{ include "foohut-common.deployment" . }}
{{- end }}
{{- end -}}

{{- define "foohut-common.service" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "foohut-common.fullname" . }}
  {{- include "foohut-common.metadata" . | nindent 2 }}
spec:
  type: ClusterIP
  selector:
    {{- include "foohut-common.selectorLabels" . | nindent 4 }}
  ports:
    - name: http
      port: {{ .Values.port }}
      targetPort: http
      protocol: TCP
{{- end -}}

{{/* Non-sensitive configuration only (secrets come from External Secrets). No
version here: every revision's pods share this ConfigMap. */}}
{{- define "foohut-common.configmapData" -}}
FOOHUT_ENV: {{ required "environment is required" .Values.environment | quote }}
FOOHUT_LOG_LEVEL: {{ .Values.logging.level | quote }}
FOOHUT_LOG_FORMAT: {{ .Values.logging.format | quote }}
{{- with .Values.telemetry.otlpEndpoint }}
OTEL_EXPORTER_OTLP_ENDPOINT: {{ . | quote }}
OTEL_SERVICE_NAME: {{ $.Values.service | quote }}
{{- end }}
{{- range $k, $v := .Values.config }}
{{ $k }}: {{ $v | toString | quote }}
{{- end }}
{{- end -}}

{{- define "foohut-common.configmap" -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "foohut-common.fullname" . }}-config
  {{- include "foohut-common.metadata" . | nindent 2 }}
data:
  {{- include "foohut-common.configmapData" . | nindent 2 }}
{{- end -}}

{{/* With hut: its ServiceScale foohut-SERVICE, whose count hut carries into
     every revision's Deployment (the HPA writing a Deployment's replicas
     would fight hut's rollouts). Without: this chart's Deployment. */}}
{{- define "foohut-common.hpa" -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "foohut-common.fullname" . }}
  {{- include "foohut-common.metadata" . | nindent 2 }}
spec:
  scaleTargetRef:
    {{- if .Values.workload.render }}
    apiVersion: apps/v1
    kind: Deployment
    {{- else }}
    apiVersion: hut.foohut.dev/v1
    kind: ServiceScale
    {{- end }}
    name: {{ include "foohut-common.fullname" . }}
  minReplicas: {{ .Values.autoscaling.minReplicas }}
  maxReplicas: {{ .Values.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ .Values.autoscaling.targetCPUUtilizationPercentage }}
    - type: Resource
      resource:
        name: memory
        target:
          type: Utilization
          averageUtilization: {{ .Values.autoscaling.targetMemoryUtilizationPercentage }}
{{- end -}}

{{/* Selects as the Service does, so it spans every revision's pods. */}}
{{- define "foohut-common.pdb" -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "foohut-common.fullname" . }}
  {{- include "foohut-common.metadata" . | nindent 2 }}
spec:
  maxUnavailable: {{ .Values.podDisruptionBudget.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "foohut-common.selectorLabels" . | nindent 6 }}
{{- end -}}

{{/* router.kind: gateway-api (HTTPRoute), alb (Ingress), replicas (none).
hut replaces the route's backends with its per-revision Services and weights. */}}
{{- define "foohut-common.route" -}}
{{- $kind := .Values.router.kind -}}
{{- if eq $kind "gateway-api" -}}
{{ include "foohut-common.httproute" . }}
{{- else if eq $kind "alb" -}}
{{ include "foohut-common.ingress" . }}
{{- else if ne $kind "replicas" -}}
{{- fail (printf "router.kind %q is not gateway-api, alb or replicas" $kind) -}}
{{- end -}}
{{- end -}}

{{- define "foohut-common.httproute" -}}
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: {{ include "foohut-common.fullname" . }}
  {{- include "foohut-common.metadata" . | nindent 2 }}
spec:
  parentRefs:
    - group: gateway.networking.k8s.io
      kind: Gateway
      name: {{ .Values.router.gateway }}
      namespace: {{ .Values.router.gatewayNamespace | default (include "foohut-common.namespace" .) }}
  hostnames:
    - {{ required "domain is required" .Values.domain | quote }}
  rules:
    - matches:
        - path:
            type: PathPrefix
            value: {{ .Values.router.pathPrefix }}
      backendRefs:
        - name: {{ include "foohut-common.fullname" . }}
          port: {{ .Values.port }}
          weight: 100
{{- end -}}

{{/* AWS Load Balancer Controller: the rule's backend names the forward action
of the same name (port use-annotation); hut rewrites that action's weights.
group.name puts both services on one ALB; group.order puts /api before /. */}}
{{- define "foohut-common.ingress" -}}
{{- $name := include "foohut-common.fullname" . -}}
{{- $forward := dict "type" "forward" "forwardConfig" (dict "targetGroups" (list (dict "serviceName" $name "servicePort" (toString .Values.port) "weight" 100))) -}}
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ $name }}
  {{- include "foohut-common.metadata" . | nindent 2 }}
  annotations:
    alb.ingress.kubernetes.io/scheme: internet-facing
    alb.ingress.kubernetes.io/target-type: ip
    alb.ingress.kubernetes.io/group.name: {{ include "foohut-common.namespace" . }}
    alb.ingress.kubernetes.io/group.order: {{ .Values.router.alb.groupOrder | quote }}
    alb.ingress.kubernetes.io/healthcheck-path: {{ .Values.health.readinessPath }}
    alb.ingress.kubernetes.io/actions.{{ $name }}: {{ toJson $forward | squote }}
    {{- with .Values.router.alb.annotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  ingressClassName: alb
  rules:
    - host: {{ required "domain is required" .Values.domain | quote }}
      http:
        paths:
          - path: {{ .Values.router.pathPrefix }}
            pathType: Prefix
            backend:
              service:
                name: {{ $name }}
                port:
                  name: use-annotation
{{- end -}}

{{/* Only for clusters without hut (workload.render: true): hut creates and owns
this Deployment otherwise. Replicas are left to the HPA when it is on. */}}
{{- define "foohut-common.deployment" -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "foohut-common.fullname" . }}
  {{- include "foohut-common.metadata" . | nindent 2 }}
spec:
  {{- if not .Values.autoscaling.enabled }}
  replicas: {{ .Values.workload.replicas }}
  {{- end }}
  revisionHistoryLimit: 10
  progressDeadlineSeconds: {{ .Values.workload.progressDeadlineSeconds }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: {{ .Values.workload.maxSurge }}
      maxUnavailable: {{ .Values.workload.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "foohut-common.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "foohut-common.podLabels" . | nindent 8 }}
      annotations:
        # a config change rolls the pods (envFrom is read at start only)
        checksum/config: {{ include "foohut-common.configmapData" . | sha256sum }}
    spec:
      automountServiceAccountToken: false
      terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
      securityContext:
        {{- include "foohut-common.podSecurityContext" .Values.securityContext | nindent 8 }}
      {{- if .Values.multiAZ }}
      topologySpreadConstraints:
        - maxSkew: 1
          topologyKey: topology.kubernetes.io/zone
          whenUnsatisfiable: ScheduleAnyway
          labelSelector:
            matchLabels:
              {{- include "foohut-common.selectorLabels" . | nindent 14 }}
      {{- end }}
      containers:
        - name: {{ .Values.service }}
          image: {{ include "foohut-common.image" . }}
          imagePullPolicy: {{ .Values.image.pullPolicy }}
          ports:
            - name: http
              containerPort: {{ .Values.containerPort }}
              protocol: TCP
          env:
            - name: PORT
              value: {{ .Values.containerPort | quote }}
            - name: FOOHUT_VERSION
              value: {{ .Values.image.tag | default .Chart.AppVersion | toString | quote }}
          envFrom:
            - configMapRef:
                name: {{ include "foohut-common.fullname" . }}-config
          readinessProbe:
            httpGet:
              path: {{ .Values.health.readinessPath }}
              port: http
            {{- include "foohut-common.probeTiming" .Values.health | nindent 12 }}
          livenessProbe:
            httpGet:
              path: {{ .Values.health.livenessPath }}
              port: http
            {{- include "foohut-common.probeTiming" .Values.health | nindent 12 }}
          # start_period in foohut.yaml: liveness counts only once this passed
          startupProbe:
            httpGet:
              path: {{ .Values.health.livenessPath }}
              port: http
            periodSeconds: {{ .Values.health.periodSeconds }}
            timeoutSeconds: {{ .Values.health.timeoutSeconds }}
            failureThreshold: {{ div .Values.health.startPeriodSeconds .Values.health.periodSeconds | max 1 }}
          resources:
            {{- toYaml .Values.resources | nindent 12 }}
          securityContext:
            {{- include "foohut-common.containerSecurityContext" . | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      volumes:
        # the only writable path: the root filesystem is read-only
        - name: tmp
          emptyDir:
            sizeLimit: 64Mi
{{- end -}}

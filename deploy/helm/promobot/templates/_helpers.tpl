{{/* vim: set filetype=mustache: */}}

{{- define "promobot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name prefix of every resource. Kept to 40 characters so that the
longest derived names (<fullname>-nats-headless, StatefulSet pod names with
their controller-revision-hash label) stay within Kubernetes' limits.
*/}}
{{- define "promobot.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "promobot.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every resource; (dict "root" $ "component" "webhook"). */}}
{{- define "promobot.labels" -}}
helm.sh/chart: {{ include "promobot.chart" .root }}
{{ include "promobot.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Values.image.tag | default .root.Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: promobot
{{- end }}

{{/* Selector labels; (dict "root" $ "component" "webhook"). */}}
{{- define "promobot.selectorLabels" -}}
app.kubernetes.io/name: {{ include "promobot.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end }}

{{- define "promobot.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}
{{- end }}

{{- define "promobot.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "promobot.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "promobot.secretName" -}}
{{- default (include "promobot.fullname" .) .Values.credentials.existingSecret }}
{{- end }}

{{- define "promobot.configMapName" -}}
{{- default (include "promobot.fullname" .) .Values.config.existingConfigMap }}
{{- end }}

{{/* The promobot components of the mode in force. */}}
{{- define "promobot.components" -}}
{{- if eq .Values.mode "single" }}server{{ else }}webhook worker{{ end }}
{{- end }}

{{/* True (non-empty) when the chart runs its own NATS cluster. */}}
{{- define "promobot.natsInChart" -}}
{{- if and (eq .Values.mode "scaled") (not .Values.nats.url) (not .Values.nats.urlSecret.name) }}true{{ end }}
{{- end }}

{{- define "promobot.natsName" -}}
{{- printf "%s-nats" (include "promobot.fullname" .) }}
{{- end }}

{{/* The --public-url value: promobot.publicUrl, else the Ingress' URL. */}}
{{- define "promobot.publicURL" -}}
{{- if .Values.promobot.publicUrl }}
{{- .Values.promobot.publicUrl }}
{{- else if .Values.ingress.enabled }}
{{- printf "https://%s%s" .Values.ingress.host .Values.ingress.path }}
{{- end }}
{{- end }}

{{/* The --nats-url value; empty when it comes from nats.urlSecret. */}}
{{- define "promobot.natsURL" -}}
{{- if .Values.nats.url }}
{{- .Values.nats.url }}
{{- else if not .Values.nats.urlSecret.name }}
{{- printf "nats://%s.%s.svc:4222" (include "promobot.natsName" .) .Release.Namespace }}
{{- end }}
{{- end }}

{{/*
JetStream replicas of promobot's streams and buckets (--stream-replicas):
nats.streamReplicas, or the chart cluster's servers (at most 5), or 1 with an
external NATS.
*/}}
{{- define "promobot.streamReplicas" -}}
{{- $n := .Values.nats }}
{{- if not (kindIs "invalid" $n.streamReplicas) }}
{{- int64 $n.streamReplicas }}
{{- else if or $n.url $n.urlSecret.name }}
{{- 1 }}
{{- else }}
{{- min 5 (int64 $n.cluster.replicas) }}
{{- end }}
{{- end }}

{{/*
Configuration errors the schema cannot express. `fail` does not stop
`helm lint`, which renders with the chart's defaults.
*/}}
{{- define "promobot.validate" -}}
{{- $c := .Values.credentials }}
{{- if not $c.existingSecret }}
{{- if not $c.webhookSecret }}
{{- fail "credentials: set credentials.existingSecret to a Secret you manage, or let the chart create one: credentials.webhookSecret plus credentials.appId and credentials.privateKey (auth=app) or credentials.token (auth=token)" }}
{{- end }}
{{- if eq $c.auth "app" }}
{{- if or (not $c.appId) (not $c.privateKey) }}
{{- fail "credentials: auth=app needs credentials.appId and credentials.privateKey (--set-file credentials.privateKey=key.pem), or credentials.existingSecret" }}
{{- end }}
{{- if not (hasPrefix "-----BEGIN" (trim $c.privateKey)) }}
{{- fail "credentials.privateKey: not a PEM private key (pass the file with --set-file credentials.privateKey=key.pem)" }}
{{- end }}
{{- else if not $c.token }}
{{- fail "credentials: auth=token needs credentials.token, or credentials.existingSecret" }}
{{- end }}
{{- end }}
{{- if and (not .Values.config.existingConfigMap) (not (hasKey .Values.config.files .Values.config.rulesKey)) }}
{{- fail (printf "config: config.files has no %q (config.rulesKey)" .Values.config.rulesKey) }}
{{- end }}
{{- if and .Values.promobot.githubOauthClientId (not $c.existingSecret) (not $c.oauthClientSecret) }}
{{- fail "credentials: promobot.githubOauthClientId needs credentials.oauthClientSecret, or credentials.existingSecret" }}
{{- end }}
{{- if and .Values.promobot.githubOauthClientId (not (include "promobot.publicURL" .)) }}
{{- fail "promobot.githubOauthClientId needs promobot.publicUrl or the Ingress: GitHub sends signed-in users back to its /auth/callback" }}
{{- end }}
{{- if and .Values.promobot.githubOauthClientId .Values.ingress.enabled }}
{{- $site := (urlParse (include "promobot.publicURL" . | trimSuffix "/" | trimSuffix "/webhook")).path }}
{{- if $site }}
{{- fail (printf "promobot.githubOauthClientId: the status page and its /auth/callback live at the root of the host, but the public URL (promobot.publicUrl, else https://<ingress.host><ingress.path>) puts them under %q, which the Ingress does not route: use https://HOST or https://HOST/webhook" $site) }}
{{- end }}
{{- end }}
{{- if and .Values.nats.url .Values.nats.urlSecret.name }}
{{- fail "nats: set nats.url or nats.urlSecret.name, not both" }}
{{- end }}
{{- if and (eq .Values.mode "scaled") .Values.worker.autoscaling.enabled (gt (int .Values.worker.autoscaling.minReplicas) (int .Values.worker.autoscaling.maxReplicas)) }}
{{- fail "worker.autoscaling: minReplicas is above maxReplicas" }}
{{- end }}
{{- end }}

{{/*
promobot's command line for one component (server, webhook, worker):
(dict "root" $ "component" "worker" "values" .Values.worker).
*/}}
{{- define "promobot.args" -}}
{{- $root := .root }}
{{- $v := $root.Values }}
{{- $p := $v.promobot }}
{{- $github := ne .component "webhook" }}
{{- $webhook := ne .component "worker" }}
- {{ get (dict "server" "serve" "webhook" "webhook" "worker" "worker") .component }}
- --rules=/config/{{ $v.config.rulesKey }}
- --listen=:{{ $p.port }}
{{- if $github }}
- --data-dir=/data
{{- end }}
{{- if ne .component "server" }}
{{- with include "promobot.natsURL" $root }}
- --nats-url={{ . }}
{{- end }}
- --stream-replicas={{ include "promobot.streamReplicas" $root }}
{{- end }}
{{- if $github }}
{{- with $p.githubApiUrl }}
- --github-api-url={{ . }}
{{- end }}
{{- if eq $v.credentials.auth "app" }}
- --private-key-file=/secrets/private-key.pem
{{- end }}
{{- end }}
{{- if $webhook }}
- --webhook-secret-file=/secrets/webhook-secret
{{- end }}
- --log-format={{ $p.logFormat }}
- --log-level={{ $p.logLevel }}
{{- with $p.repoConfigPath }}
- --repo-config-path={{ . }}
{{- end }}
{{- with $p.ackWait }}
- --ack-wait={{ . }}
{{- end }}
{{- with $p.leaseTTL }}
- --lease-ttl={{ . }}
{{- end }}
{{- if $github }}
{{- if not (kindIs "invalid" .values.concurrency) }}
- --workers={{ int64 .values.concurrency }}
{{- end }}
{{- with $p.githubPace }}
- --github-pace={{ . }}
{{- end }}
{{- if not (kindIs "invalid" $p.githubWritesPerMinute) }}
- --github-writes-per-minute={{ int64 $p.githubWritesPerMinute }}
{{- end }}
{{- if not (kindIs "invalid" $p.githubWritesPerHour) }}
- --github-writes-per-hour={{ int64 $p.githubWritesPerHour }}
{{- end }}
{{- with $p.redeliverInterval }}
- --redeliver-interval={{ . }}
{{- end }}
{{- with include "promobot.publicURL" $root }}
- --public-url={{ . }}
{{- end }}
{{- with $p.githubOauthClientId }}
- --github-oauth-client-id={{ . }}
- --github-oauth-client-secret-file=/secrets/oauth-client-secret
{{- end }}
{{- end }}
{{- with .values.extraArgs }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Environment of one component; same argument as promobot.args. */}}
{{- define "promobot.env" -}}
{{- $root := .root }}
{{- $v := $root.Values }}
{{- $secret := include "promobot.secretName" $root }}
{{- if ne .component "webhook" }}
{{- if eq $v.credentials.auth "app" }}
- name: PROMOBOT_APP_ID
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $v.credentials.keys.appId }}
{{- else }}
- name: PROMOBOT_GITHUB_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $v.credentials.keys.token }}
{{- end }}
{{- end }}
{{- if and (ne .component "server") $v.nats.urlSecret.name (not $v.nats.url) }}
- name: PROMOBOT_NATS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $v.nats.urlSecret.name }}
      key: {{ $v.nats.urlSecret.key }}
{{- end }}
{{- with .values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
The pod template of one promobot component:
(dict "root" $ "component" "worker" "values" .Values.worker "dataVolume" <yaml or "">).
dataVolume is the volume source of /data ("" for none, "claim" for a
volumeClaimTemplate named data).
*/}}
{{- define "promobot.podTemplate" -}}
{{- $root := .root }}
{{- $v := $root.Values }}
{{- $vals := .values }}
{{- $ctx := dict "root" $root "component" .component }}
{{- $github := ne .component "webhook" }}
{{- $webhook := ne .component "worker" }}
{{- $secretItems := list }}
{{- if $webhook }}
{{- $secretItems = append $secretItems (dict "key" $v.credentials.keys.webhookSecret "path" "webhook-secret") }}
{{- end }}
{{- if and $github (eq $v.credentials.auth "app") }}
{{- $secretItems = append $secretItems (dict "key" $v.credentials.keys.privateKey "path" "private-key.pem") }}
{{- end }}
{{- if and $github $v.promobot.githubOauthClientId }}
{{- $secretItems = append $secretItems (dict "key" $v.credentials.keys.oauthClientSecret "path" "oauth-client-secret") }}
{{- end }}
{{- $annotations := dict }}
{{- /* No checksum of the rules ConfigMap: promobot reloads the rules in place. */}}
{{- if not $v.credentials.existingSecret }}
{{- $_ := set $annotations "checksum/credentials" (include (print $root.Template.BasePath "/secret.yaml") $root | sha256sum) }}
{{- end }}
{{- $annotations = merge $annotations ($vals.podAnnotations | default dict) }}
metadata:
  labels:
    {{- merge (include "promobot.labels" $ctx | fromYaml) ($vals.podLabels | default dict) | toYaml | nindent 4 }}
  {{- with $annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  serviceAccountName: {{ include "promobot.serviceAccountName" $root }}
  automountServiceAccountToken: false
  # promobot reads PROMOBOT_* variables: no Docker-link variables of Services
  # (a Service named promobot would inject PROMOBOT_PORT and the like).
  enableServiceLinks: false
  {{- with $v.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $vals.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  terminationGracePeriodSeconds: {{ $vals.terminationGracePeriodSeconds }}
  securityContext:
    {{- toYaml $v.podSecurityContext | nindent 4 }}
  containers:
    - name: promobot
      image: {{ include "promobot.image" $root }}
      imagePullPolicy: {{ $v.image.pullPolicy }}
      args:
        {{- include "promobot.args" . | trim | nindent 8 }}
      {{- with include "promobot.env" . | trim }}
      env:
        {{- . | nindent 8 }}
      {{- end }}
      ports:
        - name: http
          containerPort: {{ $v.promobot.port }}
          protocol: TCP
      startupProbe:
        # /healthz answers once NATS and the queue are open and the rules loaded.
        httpGet: { path: /healthz, port: http }
        periodSeconds: 5
        failureThreshold: 60
      livenessProbe:
        httpGet: { path: /healthz, port: http }
        periodSeconds: 10
        timeoutSeconds: 3
        failureThreshold: 3
      readinessProbe:
        # NATS and the intent stream reachable, rules loaded.
        httpGet: { path: /readyz, port: http }
        periodSeconds: 5
        timeoutSeconds: 3
        failureThreshold: 2
      {{- /* Webhook pods, and worker pods serving the status page, drain from the Service first. */}}
      {{- if and (or (eq .component "webhook") (and (eq .component "worker") $v.promobot.githubOauthClientId)) (gt (int $vals.preStopSleepSeconds) 0) }}
      lifecycle:
        preStop:
          sleep:
            seconds: {{ $vals.preStopSleepSeconds }}
      {{- end }}
      resources:
        {{- toYaml $vals.resources | nindent 8 }}
      securityContext:
        {{- toYaml $v.securityContext | nindent 8 }}
      volumeMounts:
        - name: config
          mountPath: /config
          readOnly: true
        {{- if $secretItems }}
        - name: credentials
          mountPath: /secrets
          readOnly: true
        {{- end }}
        {{- if .dataVolume }}
        - name: data
          mountPath: /data
        {{- end }}
        - name: tmp
          mountPath: /tmp
  volumes:
    - name: config
      configMap:
        name: {{ include "promobot.configMapName" $root }}
    {{- if $secretItems }}
    - name: credentials
      secret:
        secretName: {{ include "promobot.secretName" $root }}
        defaultMode: 288 # 0440: readable by the pod's fsGroup
        items:
          {{- toYaml $secretItems | nindent 10 }}
    {{- end }}
    {{- if and .dataVolume (ne .dataVolume "claim") }}
    - name: data
      {{- .dataVolume | nindent 6 }}
    {{- end }}
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
  {{- with $vals.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $vals.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $vals.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $vals.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- range . }}
    - {{ toYaml (merge (dict "labelSelector" (dict "matchLabels" (include "promobot.selectorLabels" $ctx | fromYaml))) .) | nindent 6 | trim }}
    {{- end }}
  {{- end }}
{{- end }}

{{/* The in-chart NATS servers' configuration file. */}}
{{- define "promobot.natsConf" -}}
server_name: $POD_NAME
listen: 0.0.0.0:4222
http: 0.0.0.0:8222
pid_file: /var/run/nats/nats.pid
lame_duck_duration: {{ .Values.nats.cluster.lameDuckDuration }}
jetstream {
  store_dir: /data
  max_file_store: {{ .Values.nats.cluster.maxFileStore }}
  max_memory_store: {{ .Values.nats.cluster.maxMemoryStore }}
}
cluster {
  name: {{ include "promobot.natsName" . }}
  listen: 0.0.0.0:6222
  # Pods reach each other by name; clients connect through the Service.
  no_advertise: true
  routes: [
    {{- range $i := until (int .Values.nats.cluster.replicas) }}
    nats://{{ include "promobot.natsName" $ }}-{{ $i }}.{{ include "promobot.natsName" $ }}-headless.{{ $.Release.Namespace }}.svc:6222
    {{- end }}
  ]
}
{{- end }}

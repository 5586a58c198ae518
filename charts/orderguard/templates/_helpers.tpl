{{/*
The prefix of every object name. The release name by default (what earlier
versions of the chart used, so an upgrade keeps its objects); suffixes such as
"-operator-metrics" and "-webhook-tls" must still fit a DNS label, hence the
45-character bound, which fails loudly rather than truncating into a name
another release may hold.
*/}}
{{- define "orderguard.fullname" -}}
{{- $name := "" -}}
{{- if .Values.fullnameOverride -}}
{{- $name = .Values.fullnameOverride -}}
{{- else if and .Values.nameOverride (not (contains .Values.nameOverride .Release.Name)) -}}
{{- $name = printf "%s-%s" .Release.Name .Values.nameOverride -}}
{{- else -}}
{{- $name = .Release.Name -}}
{{- end -}}
{{- if gt (len $name) 45 -}}
{{- fail (printf "the name prefix %q is longer than 45 characters: set fullnameOverride to a shorter one" $name) -}}
{{- end -}}
{{- $name -}}
{{- end -}}

{{- define "orderguard.name" -}}{{ .Values.nameOverride | default .Chart.Name }}{{- end -}}

{{- define "orderguard.labels" -}}
app.kubernetes.io/name: {{ include "orderguard.name" . }}
app.kubernetes.io/part-of: orderguard
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{/* Selector labels: immutable on Deployments and DaemonSets, so never changed. */}}
{{- define "orderguard.selector" -}}
{{- dict "app.kubernetes.io/instance" .root.Release.Name "app.kubernetes.io/component" .component | toJson -}}
{{- end -}}

{{- define "orderguard.webhookSecret" -}}
{{ .Values.webhook.certificates.secretName | default (printf "%s-webhook-tls" (include "orderguard.fullname" .)) }}
{{- end -}}

{{/* Namespaces the webhook is never called for: the values' list plus the release namespace. */}}
{{- define "orderguard.excludedNamespaces" -}}
{{- append .Values.webhook.excludedNamespaces .Release.Namespace | uniq | toJson -}}
{{- end -}}

{{/*
A component's image: <registry>/<repository>@<digest>, else <registry>/<repository>:<tag>.
Each part falls back to the chart-wide image.* value; an empty registry leaves the
repository as it is (for a repository that names its own registry).
*/}}
{{- define "orderguard.image" -}}
{{- $c := .c.image -}}
{{- $global := .root.Values.image -}}
{{- $registry := $c.registry | default $global.registry -}}
{{- $repository := $c.repository -}}
{{- if $registry }}{{ $repository = printf "%s/%s" (trimSuffix "/" $registry) $repository }}{{ end -}}
{{- if $c.digest -}}
{{ $repository }}@{{ $c.digest }}
{{- else -}}
{{ $repository }}:{{ $c.tag | default $global.tag | default .root.Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{- define "orderguard.pullPolicy" -}}
{{ .c.image.pullPolicy | default .root.Values.image.pullPolicy }}
{{- end -}}

{{/*
Pod metadata and the scheduling part of a pod spec shared by the three
components and the uninstall Job: labels (the selector's win over podLabels),
annotations, pull secrets, security context, node placement.
Arguments: root, c (the component's values), component (its name).
*/}}
{{- define "orderguard.podMetadata" -}}
{{- $selector := include "orderguard.selector" . | fromJson -}}
{{- $labels := merge (dict) $selector (dict "app.kubernetes.io/name" (include "orderguard.name" .root) "app.kubernetes.io/part-of" "orderguard") (.c.podLabels | default dict) -}}
labels: {{- toYaml $labels | nindent 2 }}
{{- with .c.podAnnotations }}
annotations: {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "orderguard.podScheduling" -}}
{{- $secrets := concat (.root.Values.imagePullSecrets | default list) (.c.imagePullSecrets | default list) -}}
{{- with $secrets }}
imagePullSecrets: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .c.podSecurityContext }}
securityContext: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .c.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .c.nodeSelector }}
nodeSelector: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .c.affinity }}
affinity: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .c.tolerations }}
tolerations: {{- toYaml . | nindent 2 }}
{{- end }}
{{- $selector := include "orderguard.selector" . | fromJson -}}
{{- $spread := list -}}
{{- range .c.topologySpreadConstraints -}}
{{- $constraint := deepCopy . -}}
{{- if not (hasKey $constraint "labelSelector") -}}
{{- $_ := set $constraint "labelSelector" (dict "matchLabels" $selector) -}}
{{- end -}}
{{- $spread = append $spread $constraint -}}
{{- end -}}
{{- with $spread }}
topologySpreadConstraints: {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
Why a cluster-scoped object this release would create cannot be its own, or ""
when it can: it does not exist yet, or this release already owns it. Used by
checks.yaml. lookup answers nothing under `helm template` and client-side dry
runs, so those render as before.
Arguments: root, apiVersion, kind, name.
*/}}
{{- define "orderguard.ownerProblem" -}}
{{- $live := lookup .apiVersion .kind "" .name -}}
{{- if $live -}}
{{- $annotations := $live.metadata.annotations | default dict -}}
{{- $release := index $annotations "meta.helm.sh/release-name" | default "" -}}
{{- $namespace := index $annotations "meta.helm.sh/release-namespace" | default "" -}}
{{- if not $release -}}
{{- printf "%s %s exists and no Helm release manages it (to let this release take it over: kubectl annotate %s %s meta.helm.sh/release-name=%s meta.helm.sh/release-namespace=%s; kubectl label %s %s app.kubernetes.io/managed-by=Helm)" .kind .name (lower .kind) .name .root.Release.Name .root.Release.Namespace (lower .kind) .name -}}
{{- else if or (ne $release .root.Release.Name) (ne $namespace .root.Release.Namespace) -}}
{{- printf "%s %s belongs to Helm release %s in namespace %s" .kind .name $release $namespace -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The NetworkPolicy of a component: ingress on the given ports, egress only when listed. */}}
{{- define "orderguard.networkPolicy" -}}
{{- $np := .c.networkPolicy -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ .name }}
  namespace: {{ .root.Release.Namespace }}
  labels: {{- include "orderguard.labels" .root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
spec:
  podSelector:
    matchLabels: {{- include "orderguard.selector" . | fromJson | toYaml | nindent 6 }}
  policyTypes: [Ingress{{ if $np.egress }}, Egress{{ end }}]
  ingress:
  {{- range .ports }}
    - ports: [{port: {{ .port }}, protocol: TCP}]
      {{- with .from }}
      from: {{- toYaml . | nindent 8 }}
      {{- end }}
  {{- end }}
  {{- with $np.egress }}
  egress: {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

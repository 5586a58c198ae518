{{- define "orderguard.name" -}}{{ .Release.Name }}{{- end -}}
{{- define "orderguard.image" -}}
{{ .root.Values.image.registry }}/{{ .name }}:{{ .root.Values.image.tag | default .root.Chart.AppVersion }}
{{- end -}}
{{- define "orderguard.labels" -}}
app.kubernetes.io/part-of: orderguard
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}
{{- define "orderguard.webhookSecret" -}}
{{ .Values.webhook.certificates.secretName | default (printf "%s-webhook-tls" .Release.Name) }}
{{- end -}}

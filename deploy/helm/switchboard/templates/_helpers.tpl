{{/* The name of every object: the release name, plus the chart name when it is not already in it. */}}
{{- define "switchboard.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels that select the pods (never change between upgrades). */}}
{{- define "switchboard.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "switchboard.labels" -}}
{{ include "switchboard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The Secret holding the PostgreSQL URL: the one the chart creates from database.url, or an existing one. */}}
{{- define "switchboard.databaseSecret" -}}
{{- if .Values.database.url -}}
{{- printf "%s-database" (include "switchboard.fullname" .) -}}
{{- else if .Values.database.existingSecret -}}
{{- .Values.database.existingSecret -}}
{{- else -}}
{{- fail "database.existingSecret (a Secret holding the PostgreSQL URL) or database.url is required: a Switchboard cluster stores its state in PostgreSQL" -}}
{{- end -}}
{{- end -}}

{{/*
Checks the shutdown budget: after the preStop pause, Switchboard drains and hands its shards
over, which may take up to a lease TTL; Kubernetes kills the pod when the grace period ends.
*/}}
{{- define "switchboard.checkShutdown" -}}
{{- $needMs := add (mul (int .Values.preStopSleepSeconds) 1000) (int .Values.switchboard.leaseTtlMs) -}}
{{- if le (mul (int .Values.terminationGracePeriodSeconds) 1000) $needMs -}}
{{- fail (printf "terminationGracePeriodSeconds (%v s) must be longer than preStopSleepSeconds plus the lease TTL (%v ms): otherwise a stopping pod is killed before it has handed its shards over" .Values.terminationGracePeriodSeconds $needMs) -}}
{{- end -}}
{{- end -}}

{{/*
Expand the name of the chart.
*/}}
{{- define "terminology.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Create a default fully qualified app name, truncated to 63 characters (the DNS name limit).
If the release name contains the chart name it is used as the full name.
*/}}
{{- define "terminology.fullname" -}}
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

{{/*
Create chart name and version as used by the chart label.
*/}}
{{- define "terminology.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels.
*/}}
{{- define "terminology.labels" -}}
helm.sh/chart: {{ include "terminology.chart" . }}
{{ include "terminology.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: terminology
{{- end }}

{{/*
Selector labels.
*/}}
{{- define "terminology.selectorLabels" -}}
app.kubernetes.io/name: {{ include "terminology.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Name of the service account to use.
*/}}
{{- define "terminology.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "terminology.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image reference: repository:tag, plus @digest when one is given.
*/}}
{{- define "terminology.image" -}}
{{- $ref := printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- if .Values.image.digest }}
{{- $ref = printf "%s@%s" $ref .Values.image.digest }}
{{- end }}
{{- $ref }}
{{- end }}

{{/*
Number of replicas that will run at least (decides whether a PDB makes sense).
*/}}
{{- define "terminology.minReplicas" -}}
{{- if .Values.autoscaling.enabled }}{{ .Values.autoscaling.minReplicas }}{{ else }}{{ .Values.replicaCount }}{{ end }}
{{- end }}

{{/*
Directory where the auth Secret is mounted.
*/}}
{{- define "terminology.authDir" -}}
/etc/terminology/auth
{{- end }}

{{/*
TERMINOLOGY_CONTENT_DIRS for mounted content (empty for the image's own content).
*/}}
{{- define "terminology.contentDirs" -}}
{{- $c := .Values.content }}
{{- if ne $c.source "image" }}
{{- $dirs := list }}
{{- if $c.includeBundled }}
{{- $dirs = concat $dirs $c.bundledDirs }}
{{- end }}
{{- range $c.dirs }}
{{- $dirs = append $dirs (clean (printf "%s/%s" $c.mountPath .)) }}
{{- end }}
{{- join ":" $dirs }}
{{- end }}
{{- end }}

{{/*
Fail early on settings that cannot work together.
*/}}
{{- define "terminology.validate" -}}
{{- if and (ne .Values.content.source "image") (not .Values.content.name) }}
{{- fail "content.name must name the existing ConfigMap, Secret or PersistentVolumeClaim when content.source is not image" }}
{{- end }}
{{- if and .Values.ncciIndex.enabled (not .Values.ncciIndex.existingClaim) }}
{{- fail "ncciIndex.existingClaim must name the PersistentVolumeClaim holding the NCCI index" }}
{{- end }}
{{- if eq .Values.auth.mode "static" }}
{{- if not .Values.auth.existingSecret }}
{{- fail "auth.mode=static needs auth.existingSecret (a Secret holding the token hash file)" }}
{{- end }}
{{- end }}
{{- if eq .Values.auth.mode "jwt" }}
{{- if not (and .Values.auth.jwt.issuer .Values.auth.jwt.audience) }}
{{- fail "auth.mode=jwt needs auth.jwt.issuer and auth.jwt.audience" }}
{{- end }}
{{- if not (or .Values.auth.jwt.jwksUrl .Values.auth.existingSecret) }}
{{- fail "auth.mode=jwt needs auth.jwt.jwksUrl or auth.existingSecret holding the JWKS" }}
{{- end }}
{{- end }}
{{- if ge (int .Values.server.gracefulTimeout) (int .Values.terminationGracePeriodSeconds) }}
{{- fail "server.gracefulTimeout must be shorter than terminationGracePeriodSeconds" }}
{{- end }}
{{- end }}

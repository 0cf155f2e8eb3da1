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
{{- $index := .Values.ncciIndex }}
{{- $copy := or $index.copyFrom.url $index.copyFrom.existingSecret }}
{{- if $index.enabled }}
{{- if and (not $index.existingClaim) (not $copy) }}
{{- fail "ncciIndex.enabled needs ncciIndex.existingClaim (the PersistentVolumeClaim holding the NCCI index) or ncciIndex.copyFrom.url / .existingSecret (a prebuilt index to copy)" }}
{{- end }}
{{- if and $index.existingClaim $copy }}
{{- fail "ncciIndex: give either existingClaim or copyFrom, not both" }}
{{- end }}
{{- if and $index.copyFrom.url $index.copyFrom.existingSecret }}
{{- fail "ncciIndex.copyFrom: give either url or existingSecret, not both" }}
{{- end }}
{{- end }}
{{- $import := .Values.ncciImport }}
{{- if $import.enabled }}
{{- if not (and $index.enabled $index.existingClaim) }}
{{- fail "ncciImport needs ncciIndex.enabled with ncciIndex.existingClaim: the Job writes the index into that claim (ReadWriteMany)" }}
{{- end }}
{{- if not (or $import.ptp $import.mue) }}
{{- fail "ncciImport.enabled needs at least one ncciImport.ptp or ncciImport.mue entry" }}
{{- end }}
{{- if and (include "terminology.ncciImportNeedsClaim" .) (not $import.filesClaim) }}
{{- fail "ncciImport: files that are not URLs are read from ncciImport.filesClaim, which is not set" }}
{{- end }}
{{- end }}
{{- $sharedStore := .Values.database.existingSecret }}
{{- if and $sharedStore (gt (mul 2 (int .Values.database.timeoutSeconds)) (int .Values.server.timeout)) }}
{{- fail "database.timeoutSeconds must be at most half of server.timeout: a request waiting for the database must answer 503 well before gunicorn replaces its worker" }}
{{- end }}
{{- if and $sharedStore .Values.ehr.feedback.existingClaim }}
{{- fail "database.existingSecret keeps CDS feedback in PostgreSQL: leave ehr.feedback.existingClaim empty" }}
{{- end }}
{{- if and (not $sharedStore) (ge (int (include "terminology.minReplicas" .)) 2) }}
{{- if .Values.ehr.feedback.existingClaim }}
{{- fail "ehr.feedback.existingClaim holds an SQLite file that one replica writes: with more than one replica set database.existingSecret (PostgreSQL), or run one replica" }}
{{- end }}
{{- if .Values.ehr.cdsJwt.enabled }}
{{- fail "ehr.cdsJwt with more than one replica needs database.existingSecret: the JWT replay list must be shared, or a token replayed to another replica passes" }}
{{- end }}
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

{{/*
Where a file of ncciImport is read: URLs are fetched into /work, other names come from the files claim.
*/}}
{{- define "terminology.ncciImportPath" -}}
{{- if or (hasPrefix "https://" .) (hasPrefix "http://" .) }}
{{- printf "/work/%s" (base (urlParse .).path) }}
{{- else }}
{{- printf "/cms/%s" (clean .) }}
{{- end }}
{{- end }}

{{/*
The URLs among ncciImport's files (downloaded by the Job first).
*/}}
{{- define "terminology.ncciImportUrls" -}}
{{- $urls := list }}
{{- range .Values.ncciImport.ptp }}
{{- range .files }}
{{- if or (hasPrefix "https://" .) (hasPrefix "http://" .) }}{{ $urls = append $urls . }}{{ end }}
{{- end }}
{{- end }}
{{- range .Values.ncciImport.mue }}
{{- if or (hasPrefix "https://" .file) (hasPrefix "http://" .file) }}{{ $urls = append $urls .file }}{{ end }}
{{- end }}
{{- join " " $urls }}
{{- end }}

{{/*
"true" when some ncciImport file is not a URL (so the files claim is mounted).
*/}}
{{- define "terminology.ncciImportNeedsClaim" -}}
{{- $local := false }}
{{- range .Values.ncciImport.ptp }}
{{- range .files }}
{{- if not (or (hasPrefix "https://" .) (hasPrefix "http://" .)) }}{{ $local = true }}{{ end }}
{{- end }}
{{- end }}
{{- range .Values.ncciImport.mue }}
{{- if not (or (hasPrefix "https://" .file) (hasPrefix "http://" .file)) }}{{ $local = true }}{{ end }}
{{- end }}
{{- if $local }}true{{ end }}
{{- end }}

{{/*
The NCCI import script: fetch the URLs, import each PTP edition and MUE table, list the index.
*/}}
{{- define "terminology.ncciImportScript" -}}
{{- $import := .Values.ncciImport }}
{{- $common := printf "--replace --lock-timeout %d" (int $import.lockTimeoutSeconds) }}
{{- range $import.extraArgs }}{{ $common = printf "%s %s" $common (squote .) }}{{ end -}}
set -eu
{{- with include "terminology.ncciImportUrls" . }}
terminology fetch --into /work{{ range splitList " " . }} {{ squote . }}{{ end }}
{{- end }}
{{- range $import.ptp }}
terminology import ncci-ptp {{ $common }}{{ with .setting }} --setting {{ . }}{{ end }}{{ with .edition }} --edition {{ . }}{{ end }}{{ range .files }} {{ include "terminology.ncciImportPath" . | squote }}{{ end }}
{{- end }}
{{- range $import.mue }}
terminology import mue {{ $common }}{{ with .setting }} --setting {{ . }}{{ end }}{{ with .effective }} --effective {{ . }}{{ end }} {{ include "terminology.ncciImportPath" .file | squote }}
{{- end }}
terminology ncci list
{{- end }}

{{/*
The feedback store's SQLite file, or nothing when PostgreSQL (database.existingSecret) holds it.
*/}}
{{- define "terminology.feedbackFile" -}}
{{- if not .Values.database.existingSecret }}
{{- printf "%s/feedback.sqlite" (trimSuffix "/" .Values.ehr.feedback.mountPath) }}
{{- end }}
{{- end }}

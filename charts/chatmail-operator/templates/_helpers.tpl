{{/* The chart's name, or nameOverride. */}}
{{- define "chatmail-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The full name of the release's objects. */}}
{{- define "chatmail-operator.fullname" -}}
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

{{/* Labels of every object. */}}
{{- define "chatmail-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "chatmail-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: chatmail
{{- end }}

{{/* Labels that select the operator's Pods. */}}
{{- define "chatmail-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "chatmail-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The ServiceAccount's name. */}}
{{- define "chatmail-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "chatmail-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* imagesEnv KEY: the value of KEY in files/images.env (a copy of
images/images.env, kept in step by hack/chart.sh). */}}
{{- define "chatmail-operator.imagesEnv" -}}
{{- $line := regexFind (printf "(?m)^%s=.*$" .key) (.ctx.Files.Get "files/images.env") }}
{{- if not $line }}{{ fail (printf "files/images.env has no %s" .key) }}{{ end }}
{{- trimPrefix (printf "%s=" .key) $line | trim }}
{{- end }}

{{/* The operator's image: values, else images.env; @digest when pinned. */}}
{{- define "chatmail-operator.image" -}}
{{- $default := regexReplaceAll "@.*$" (include "chatmail-operator.imagesEnv" (dict "ctx" . "key" "OPERATOR")) "" }}
{{- $repo := regexReplaceAll ":[^:/]+$" $default "" }}
{{- if eq $repo $default }}{{ fail "files/images.env: OPERATOR has no tag" }}{{ end }}
{{- $tag := trimPrefix (printf "%s:" $repo) $default }}
{{- printf "%s:%s" (default $repo .Values.image.repository) (default $tag .Values.image.tag) }}
{{- with .Values.image.digest }}@{{ . }}{{ end }}
{{- end }}

{{/* rbacDoc N: the Nth YAML document of files/rbac/role.yaml (a copy
of crds/rbac/role.yaml), parsed. */}}
{{- define "chatmail-operator.rbacDoc" -}}
{{- $docs := regexSplit "(?m)^---\\s*$" (.ctx.Files.Get "files/rbac/role.yaml") -1 }}
{{- index $docs .n | fromYaml | toJson }}
{{- end }}

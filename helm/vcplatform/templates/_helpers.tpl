{{/* Common labels. */}}
{{- define "vc.labels" -}}
app.kubernetes.io/part-of: {{ .Chart.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | quote }}
{{- end -}}

{{/* Full name of one service's objects: <release>-<service>. */}}
{{- define "vc.fullname" -}}
{{- printf "%s-%s" .root.Release.Name .name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The address a service reaches the other one at. */}}
{{- define "vc.peerAddr" -}}
{{- $peer := index .root.Values.services .peer -}}
{{- printf "%s-%s:%v" .root.Release.Name .peer $peer.grpcPort -}}
{{- end -}}

{{/* Environment shared by the service and its migration job. */}}
{{- define "vc.dbEnv" -}}
- name: VC_DB_HOST
  value: {{ .root.Values.database.host | quote }}
- name: VC_DB_PORT
  value: {{ .root.Values.database.port | quote }}
- name: VC_DB_USER
  value: {{ .svc.user | quote }}
- name: VC_DB_NAME
  value: {{ .svc.database | quote }}
- name: VC_DB_PASSWORD_FILE
  value: /etc/vc/db/{{ .name }}
- name: VC_JWT_SECRET_FILE
  value: /etc/vc/jwt/jwt
{{- end -}}

{{- define "vc.secretMounts" -}}
- name: db
  mountPath: /etc/vc/db
  readOnly: true
- name: jwt
  mountPath: /etc/vc/jwt
  readOnly: true
{{- end -}}

{{- define "vc.secretVolumes" -}}
- name: db
  secret:
    secretName: {{ .root.Values.database.secret }}
- name: jwt
  secret:
    secretName: {{ .root.Values.jwtSecret.name }}
{{- end -}}

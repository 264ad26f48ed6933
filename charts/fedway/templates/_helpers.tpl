{{/* Labels of every object of a component: include "fedway.labels" "fedway-hub" */}}
{{- define "fedway.labels" -}}
app.kubernetes.io/name: {{ . }}
app.kubernetes.io/part-of: fedway
{{- end }}

{{/* A component's image and pull policy: include "fedway.image" (list $ "fedway-hub") */}}
{{- define "fedway.image" -}}
{{- $root := index . 0 -}}
image: {{ $root.Values.image.registry }}/{{ index . 1 }}:{{ $root.Values.image.tag | default $root.Chart.AppVersion }}
{{- with $root.Values.image.pullPolicy }}
imagePullPolicy: {{ . }}
{{- end }}
{{- end }}

{{/* The pod template's metadata: include "fedway.podMetadata" (list $ "fedway-hub" $extraAnnotations) */}}
{{- define "fedway.podMetadata" -}}
{{- $root := index . 0 -}}
{{- $annotations := merge (dict) (index . 2) $root.Values.podAnnotations -}}
labels:
  {{- include "fedway.labels" (index . 1) | nindent 2 }}
{{- with $annotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* A pod's placement from a component's values: include "fedway.scheduling" .Values.hub */}}
{{- define "fedway.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
The liveness probe every binary answers: GET /healthz on its metrics port,
served by the process beside its controllers (a process that stopped
answering HTTP is restarted; a stuck reconcile shows in the metrics).
*/}}
{{- define "fedway.livenessProbe" -}}
livenessProbe:
  httpGet:
    path: /healthz
    port: metrics
  periodSeconds: 10
  timeoutSeconds: 2
  failureThreshold: 3
{{- end }}

{{/* The non-root pod security context the images are built for (UID 65532). */}}
{{- define "fedway.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
fedway-dns's replica count: dns.replicas, else 2; exactly 1 when it reports
DNSPolicy status (two writers would overwrite each other's reports).
*/}}
{{- define "fedway.dnsReplicas" -}}
{{- $dns := .Values.dns -}}
{{- if $dns.reportPolicyStatus -}}
{{- if and (not (kindIs "invalid" $dns.replicas)) (ne (int $dns.replicas) 1) -}}
{{- fail (printf "dns.replicas is %v, but dns.reportPolicyStatus needs exactly 1 replica (one writer of DNSPolicy status)" $dns.replicas) -}}
{{- end -}}
1
{{- else if kindIs "invalid" $dns.replicas -}}
2
{{- else -}}
{{- $dns.replicas -}}
{{- end -}}
{{- end }}

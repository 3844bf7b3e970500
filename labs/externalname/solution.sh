#!/usr/bin/env bash
# Solves every task of the externalname lab; idempotent. Runs in the toolbox pod.
set -euo pipefail

# Tasks 1 and 2: payments, an alias for api.payments.example, with a port that does nothing.
kubectl apply -f - <<'YAML'
apiVersion: v1
kind: Service
metadata: { name: payments }
spec:
  type: ExternalName
  externalName: api.payments.example
  ports: [{ name: http, port: 80 }]
YAML

# Task 3: web-alias, an alias the cluster DNS server can follow to web's cluster IP.
kubectl apply -f - <<'YAML'
apiVersion: v1
kind: Service
metadata: { name: web-alias }
spec:
  type: ExternalName
  externalName: web.default.svc.cluster.local
YAML

kubectl rollout status deployment/web --timeout=120s
for _ in $(seq 1 30); do
  curl -s -m 2 http://web-alias/ | grep -q '^pod: web-' && break
  sleep 1
done
dig +noall +answer payments.default.svc.cluster.local CNAME
dig _http._tcp.payments.default.svc.cluster.local SRV | grep status
dig +noall +answer web-alias.default.svc.cluster.local
curl -s -m 2 http://web-alias/

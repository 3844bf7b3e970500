#!/usr/bin/env bash
# Solves every task of the env-discovery lab; idempotent. Runs in the toolbox pod.
set -euo pipefail

# Task 1: the Service web, created after web's pods.
kubectl apply -f - <<'YAML'
apiVersion: v1
kind: Service
metadata: { name: web, labels: { app: web } }
spec:
  selector: { app: web }
  ports: [{ port: 80, targetPort: 8080 }]
YAML

# Task 2: new pods, started after the Service, get WEB_SERVICE_HOST and WEB_SERVICE_PORT.
kubectl rollout status deployment/web --timeout=120s
stale=0
for pod in $(kubectl get pods -l app=web -o jsonpath='{.items[*].metadata.name}'); do
  kubectl exec "$pod" -- printenv WEB_SERVICE_HOST >/dev/null 2>&1 || stale=1
done
if [ "$stale" = 1 ]; then
  kubectl rollout restart deployment/web
fi
kubectl rollout status deployment/web --timeout=120s

# Task 3: quiet, whose pods get no Service variables.
kubectl apply -f - <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: { name: quiet, labels: { app: quiet } }
spec:
  replicas: 1
  selector: { matchLabels: { app: quiet } }
  template:
    metadata: { labels: { app: quiet } }
    spec:
      enableServiceLinks: false
      terminationGracePeriodSeconds: 1
      containers:
        - name: echo
          image: ${ECHO_IMAGE}
          imagePullPolicy: Never
YAML
kubectl rollout status deployment/quiet --timeout=120s

# The old pods may still be terminating: wait until only the new ones are left.
for _ in $(seq 1 60); do
  [ "$(kubectl get pods -l app=web --no-headers 2>/dev/null | wc -l)" -le 2 ] && break
  sleep 1
done
kubectl exec deploy/web -- env | grep ^WEB_ | sort
kubectl exec deploy/quiet -- env | grep _SERVICE_ | sort

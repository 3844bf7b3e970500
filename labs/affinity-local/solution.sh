#!/usr/bin/env bash
# Solves every task of the affinity-local lab; idempotent. Runs in the toolbox pod.
set -euo pipefail

# Task 1: session affinity by client IP, remembered for 10 minutes.
kubectl patch service web -p '{"spec":{"sessionAffinity":"ClientIP","sessionAffinityConfig":{"clientIP":{"timeoutSeconds":600}}}}'

# Task 2: outside traffic to web-np only goes to the node's own pods, unmasqueraded.
kubectl patch service web-np -p '{"spec":{"externalTrafficPolicy":"Local"}}'

# Task 3: web-local, cluster-IP traffic only to pods on the client's own node.
kubectl apply -f - <<'YAML'
apiVersion: v1
kind: Service
metadata: { name: web-local, labels: { app: web } }
spec:
  selector: { app: web }
  internalTrafficPolicy: Local
  ports: [{ port: 80, targetPort: 8080 }]
YAML

kubectl rollout status deployment/web --timeout=120s
for _ in $(seq 1 30); do
  curl -s -m 2 http://web/ | grep -q '^pod: web-' && break
  sleep 1
done
for i in 1 2 3 4 5 6; do curl -s -m 2 http://web/ | grep '^pod:'; done
kubectl get svc web web-np web-local
curl -s -m 3 http://web-local/ || echo "web-local: no answer from the control-plane node, as expected"

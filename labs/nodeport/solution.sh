#!/usr/bin/env bash
# Solves every task of the nodeport lab; idempotent. Runs in the toolbox pod.
set -euo pipefail

# Task 1: web-np, a NodePort Service whose node port the API server picks.
if ! kubectl get service web-np >/dev/null 2>&1; then
  kubectl expose deployment web --name=web-np --type=NodePort --port=80 --target-port=8080
fi

# Task 3: web-fixed, node port 30080.
kubectl apply -f - <<'YAML'
apiVersion: v1
kind: Service
metadata: { name: web-fixed }
spec:
  type: NodePort
  selector: { app: web }
  ports: [{ port: 80, targetPort: 8080, nodePort: 30080 }]
YAML

kubectl rollout status deployment/web --timeout=180s

# Task 2: both node ports answer on every node (once kube-proxy has written the rules).
PORT=$(kubectl get service web-np -o jsonpath='{.spec.ports[0].nodePort}')
IPS=$(kubectl get nodes -o jsonpath='{.items[*].status.addresses[?(@.type=="InternalIP")].address}')
for _ in $(seq 1 60); do
  ok=1
  for ip in $IPS; do
    for p in "$PORT" 30080; do
      curl -s --max-time 2 "http://$ip:$p/" | grep -q '^pod:' || ok=0
    done
  done
  [ "$ok" = 1 ] && break
  sleep 1
done
for ip in $IPS; do
  echo "== $ip:$PORT"
  curl -s --max-time 2 "http://$ip:$PORT/" | grep -E '^(pod|node|client):' || true
done

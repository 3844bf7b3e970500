#!/usr/bin/env bash
# Solves every task of the loadbalancer lab; idempotent. Runs in the toolbox pod.
set -euo pipefail

# Waits until Service $1 shows a load balancer address, and prints it.
ingress_ip() {
  local ip=''
  for _ in $(seq 1 60); do
    ip=$(kubectl get service "$1" -o jsonpath='{.status.loadBalancer.ingress[0].ip}')
    [ -n "$ip" ] && break
    sleep 1
  done
  [ -n "$ip" ] || { echo "Service $1 got no EXTERNAL-IP within 60 s" >&2; exit 1; }
  echo "$ip"
}

# Task 1: web-lb, a LoadBalancer Service for web.
if ! kubectl get service web-lb >/dev/null 2>&1; then
  kubectl expose deployment web --name=web-lb --type=LoadBalancer --port=80 --target-port=8080
fi

# Task 3: web-lb-private, which only clients in the pod network may use.
kubectl apply -f - <<'YAML'
apiVersion: v1
kind: Service
metadata: { name: web-lb-private }
spec:
  type: LoadBalancer
  selector: { app: web }
  ports: [{ port: 80, targetPort: 8080 }]
  loadBalancerSourceRanges: [10.244.0.0/16]
YAML

kubectl rollout status deployment/web --timeout=180s
LB=$(ingress_ip web-lb)
PRIVATE=$(ingress_ip web-lb-private)
kubectl get service web-lb web-lb-private

# Task 2: the address answers (from here, inside the cluster, as soon as kube-proxy has the rule).
for _ in $(seq 1 60); do
  curl -s --max-time 2 "http://$LB/" | grep -q '^pod:' && curl -s --max-time 2 "http://$PRIVATE/" | grep -q '^pod:' && break
  sleep 1
done
curl -s --max-time 2 "http://$LB/" | grep -E '^(pod|node|client):' || true

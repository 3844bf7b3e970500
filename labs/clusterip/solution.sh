#!/usr/bin/env bash
# Solves every task of the clusterip lab; idempotent. Runs in the toolbox pod.
set -euo pipefail

# Task 1: three echo pods.
if ! kubectl get deployment web >/dev/null 2>&1; then
  kubectl create deployment web --image="$ECHO_IMAGE" --replicas=3 --port=8080
fi
kubectl scale deployment web --replicas=3

# Task 2: the ClusterIP Service web, port 80 -> 8080, selector app=web.
if ! kubectl get service web >/dev/null 2>&1; then
  kubectl expose deployment web --port=80 --target-port=8080
fi

# Task 4: shop's selector has a typo (app=shpo).
kubectl patch service shop -p '{"spec":{"selector":{"app":"shop"}}}'

kubectl rollout status deployment/web --timeout=180s
kubectl rollout status deployment/shop --timeout=180s

# Task 3: requests by name land on every pod, once kube-proxy has all the endpoints.
for _ in $(seq 1 60); do
  web=$(for _ in $(seq 1 15); do curl -s --max-time 2 http://web/ | grep '^pod:' || true; done | sort -u | wc -l)
  shop=$(for _ in $(seq 1 10); do curl -s --max-time 2 http://shop/ | grep '^pod:' || true; done | sort -u | wc -l)
  [ "$web" -ge 3 ] && [ "$shop" -ge 2 ] && break
  sleep 1
done
kubectl get endpointslices -l kubernetes.io/service-name=web -o wide
for _ in $(seq 1 12); do curl -s --max-time 2 http://web/ | grep '^pod:' || true; done | sort | uniq -c

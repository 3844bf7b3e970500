#!/usr/bin/env bash
# Solves every task of the iptables-chains lab; idempotent. Runs in the toolbox pod.
# The answers (chain name, probability, mark) are read from a node by each answer's `solve`.
set -euo pipefail

# Task 1: web with two replicas behind the Service web.
if ! kubectl get deployment web >/dev/null 2>&1; then
  kubectl create deployment web --image="$ECHO_IMAGE" --replicas=2 --port=8080
  kubectl rollout status deployment/web --timeout=180s
fi
if ! kubectl get service web >/dev/null 2>&1; then
  kubectl expose deployment web --port=80 --target-port=8080
fi

# Task 2: three endpoints.
kubectl scale deployment web --replicas=3
kubectl rollout status deployment/web --timeout=180s

# Wait until kube-proxy spreads web over three KUBE-SEP chains (one connection per pod is
# enough to know the endpoints are in, since every pod must have answered).
for _ in $(seq 1 60); do
  n=$(for _ in $(seq 1 15); do curl -s --max-time 2 http://web/ | grep '^pod:' || true; done | sort -u | wc -l)
  [ "$n" -ge 3 ] && break
  sleep 1
done
kubectl get endpointslices -l kubernetes.io/service-name=web -o wide

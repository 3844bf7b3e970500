#!/usr/bin/env bash
# Solves every task of the proxy-modes lab; idempotent. Runs in the toolbox pod.
# The answers (mode, rules per Service, nat rule count) are read from a node by each answer's `solve`.
set -euo pipefail

kubectl rollout status deployment/web --timeout=180s

# Task 2: one more Service in front of web's 3 pods; task 3: nine more.
for i in $(seq 1 10); do
  if ! kubectl get service "web-$i" >/dev/null 2>&1; then
    kubectl expose deployment web --name="web-$i" --port=80 --target-port=8080
  fi
done

# Wait until kube-proxy has every endpoint of the last ones (all three pods answer).
for _ in $(seq 1 60); do
  n1=$(for _ in $(seq 1 15); do curl -s --max-time 2 http://web-1/ | grep '^pod:' || true; done | sort -u | wc -l)
  n10=$(for _ in $(seq 1 15); do curl -s --max-time 2 http://web-10/ | grep '^pod:' || true; done | sort -u | wc -l)
  [ "$n1" -ge 3 ] && [ "$n10" -ge 3 ] && break
  sleep 1
done
kubectl get services -l app=web

#!/usr/bin/env bash
# Solves every task of the manual-endpoints lab; idempotent. Runs in the toolbox pod.
set -euo pipefail

# Task 1: the Service legacy-db, without a selector, one unnamed port 5432.
kubectl apply -f - <<'YAML'
apiVersion: v1
kind: Service
metadata: { name: legacy-db }
spec:
  ports: [{ port: 5432, protocol: TCP }]
YAML

# Task 2: its EndpointSlice, by hand, pointing at db-vm.
kubectl wait --for=condition=Ready pod/db-vm --timeout=180s
IP=$(kubectl get pod db-vm -o jsonpath='{.status.podIP}')
kubectl apply -f - <<YAML
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: legacy-db-1
  labels:
    kubernetes.io/service-name: legacy-db
addressType: IPv4
ports:
  - port: 5432
    protocol: TCP
endpoints:
  - addresses: ["$IP"]
    conditions:
      ready: true
YAML

# Task 3: the Service legacy-cache and an Endpoints object, mirrored into a slice.
kubectl apply -f - <<YAML
apiVersion: v1
kind: Service
metadata: { name: legacy-cache }
spec:
  ports: [{ port: 6379, protocol: TCP }]
---
apiVersion: v1
kind: Endpoints
metadata: { name: legacy-cache }
subsets:
  - addresses: [{ ip: "$IP" }]
    ports: [{ port: 6379, protocol: TCP }]
YAML

# Wait for the mirrored slice and for kube-proxy's rules.
for _ in $(seq 1 60); do
  kubectl get endpointslices -o name \
    -l kubernetes.io/service-name=legacy-cache,endpointslice.kubernetes.io/managed-by=endpointslicemirroring-controller.k8s.io | grep -q . \
    && curl -s --max-time 2 http://legacy-db:5432/ | grep -q '^pod: db-vm' \
    && curl -s --max-time 2 http://legacy-cache:6379/ | grep -q '^pod: db-vm' && break
  sleep 1
done
kubectl get endpointslices -l 'kubernetes.io/service-name in (legacy-db,legacy-cache)' --show-labels
curl -s --max-time 2 http://legacy-db:5432/

#!/usr/bin/env bash
# Solves every task of the headless-dns lab; idempotent. Runs in the toolbox pod.
set -euo pipefail

# Task 1: the headless Service nginx.
kubectl apply -f - <<'YAML'
apiVersion: v1
kind: Service
metadata: { name: nginx }
spec:
  clusterIP: None
  selector: { app: nginx }
  ports: [{ name: http, port: 80, targetPort: 8080 }]
YAML

# Task 2: the StatefulSet web, whose pods get web-N.nginx.default.svc.cluster.local.
kubectl apply -f - <<YAML
apiVersion: apps/v1
kind: StatefulSet
metadata: { name: web }
spec:
  serviceName: nginx
  replicas: 2
  selector: { matchLabels: { app: nginx } }
  template:
    metadata: { labels: { app: nginx } }
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: echo
          image: ${ECHO_IMAGE}
          imagePullPolicy: Never
          ports: [{ name: http, containerPort: 8080 }]
YAML

# Task 3: publish db's pods although they are not ready.
kubectl patch service db -p '{"spec":{"publishNotReadyAddresses":true}}'

kubectl rollout status statefulset/web --timeout=180s
# db's pods never become ready: wait until their names are published instead.
for _ in $(seq 1 90); do
  n=$(dig +short db.default.svc.cluster.local | wc -l)
  [ "$n" -ge 2 ] && dig +short db-0.db.default.svc.cluster.local | grep -q . && break
  sleep 2
done
dig +noall +answer nginx.default.svc.cluster.local
dig +noall +answer _http._tcp.nginx.default.svc.cluster.local SRV
dig +noall +answer db.default.svc.cluster.local

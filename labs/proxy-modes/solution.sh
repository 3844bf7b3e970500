#!/usr/bin/env bash
# Solves every task of the proxy-modes lab; idempotent. Runs in the toolbox pod and ends,
# as the lab asks, with kube-proxy back in iptables mode. Answers that can only be read in
# a mode the cluster leaves again (the nftables chain, the userspace client address) are
# kept in /tmp/proxy-modes for the answer checks' `solve`; the others are read at the end.
set -euo pipefail
mkdir -p /tmp/proxy-modes
cd /tmp/proxy-modes

kubectl rollout status deployment/web --timeout=180s
kubectl get service web-1 >/dev/null 2>&1 || kubectl expose deployment web --name=web-1 --port=80 --target-port=8080

# Task thousand-services: one kubectl create of a generated List.
if ! kubectl get service bulk-1000 >/dev/null 2>&1; then
  seq -f 'bulk-%04g' 1000 | awk 'BEGIN { print "apiVersion: v1\nkind: List\nitems:" }
    { print "- {apiVersion: v1, kind: Service, metadata: {name: " $1 ", labels: {bulk: \"true\"}}, spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}}" }' > bulk.yaml
  kubectl create -f bulk.yaml | tail -1
fi

# kube-proxy has the last Service's endpoints once bulk-1000 answers from all three pods.
answers_from_all() {
  local n
  n=$(for _ in $(seq 1 15); do curl -s --max-time 2 "http://$1/" | grep '^pod:' || true; done | sort -u | wc -l)
  [ "$n" -ge 3 ]
}
for _ in $(seq 1 120); do answers_from_all bulk-1000 && answers_from_all web-1 && break; sleep 1; done

set_mode() {
  kubectl -n kube-system get configmap kube-proxy -o yaml | sed "s/^    mode: .*/    mode: $1/" | kubectl replace -f - >/dev/null
  kubectl -n kube-system rollout restart daemonset svclab-kube-proxy
  kubectl -n kube-system rollout status daemonset svclab-kube-proxy --timeout=180s
}

# Task nftables: the chain web-1's element of the service-ips map jumps to.
set_mode nftables
for _ in $(seq 1 60); do
  chain=$(kubectl -n kube-system exec ds/svclab-kube-proxy -c kube-proxy -- nft list map ip kube-proxy service-ips 2>/dev/null | grep -o 'service-[A-Z0-9]*-default/web-1/tcp/' | head -1 || true)
  [ -n "$chain" ] && break
  sleep 1
done
echo "$chain" > nft-chain

# Task userspace: the client address web-1's pod reports behind the proxy.
set_mode userspace
for _ in $(seq 1 60); do
  client=$(curl -s --max-time 2 http://web-1/ | sed -n 's/^client: *//p' | sed 's/:[0-9]*$//' || true)
  [ -n "$client" ] && [ "$client" != "$(hostname -i | awk '{print $1}')" ] && break
  sleep 1
done
echo "$client" > userspace-client

# Task back-to-iptables.
set_mode iptables
for _ in $(seq 1 120); do answers_from_all bulk-1000 && answers_from_all web-1 && break; sleep 1; done
echo "nftables chain: $(cat nft-chain); userspace client: $(cat userspace-client)"

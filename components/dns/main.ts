// svclab's cluster DNS (Deployment kube-system/svclab-dns behind Service kube-dns at
// 10.96.0.10): answers like CoreDNS with kubeadm's Corefile (`kubernetes cluster.local
// in-addr.arpa ip6.arpa { pods insecure; fallthrough in-addr.arpa ip6.arpa; ttl 30 }`,
// forward to the node's resolv.conf, health :8080, ready :8181, metrics :9153).
// DNS_PODS is the Corefile's `pods insecure|verified|disabled`.
import { parsePodMode } from '../../runner/core/dns/backend.ts';
import { startDns } from '../../runner/dns/run.ts';
import { loadKubeConfig } from '../../runner/kube/client.ts';

const pods = parsePodMode(process.env.DNS_PODS ?? 'insecure', 'DNS_PODS');
if (typeof pods !== 'string') {
  console.error(`svclab-dns: ${pods.error}`);
  process.exit(1);
}

const dns = await startDns({
  zones: [process.env.CLUSTER_DOMAIN ?? 'cluster.local', 'in-addr.arpa', 'ip6.arpa'],
  ttl: Number(process.env.DNS_TTL ?? 30),
  pods,
  endpointPodNames: false,
  listen: { host: '0.0.0.0', port: 53 },
  source: { kind: 'live', kubeconfig: loadKubeConfig() },
  health: { host: '0.0.0.0', port: 8080 },
  ready: { host: '0.0.0.0', port: 8181 },
  metrics: { host: '0.0.0.0', port: 9153 },
});
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    // CoreDNS's health lameduck: keep answering for a moment while the endpoint is removed.
    setTimeout(() => void dns.close().then(() => process.exit(0)), 2000);
  });
}

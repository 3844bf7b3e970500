// svclab's CNI agent (DaemonSet, hostNetwork): writes this node's CNI config from its
// podCIDR and routes pod traffic to the other nodes, so pods on different nodes reach
// each other without any overlay.
import { runAgent } from '../../runner/cni/agent.ts';
import { loadKubeConfig } from '../../runner/kube/client.ts';

const nodeName = process.env.NODE_NAME;
if (!nodeName) {
  console.error('cni-agent: NODE_NAME is not set (the DaemonSet passes it from spec.nodeName)');
  process.exit(1);
}
const stop = await runAgent(loadKubeConfig(), {
  nodeName,
  clusterCIDR: process.env.CLUSTER_CIDR ?? '10.244.0.0/16',
  cniConfDir: process.env.CNI_CONF_DIR ?? '/host/etc/cni/net.d',
});
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => void stop().then(() => process.exit(0)));

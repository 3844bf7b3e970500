// svclab's LoadBalancer controller (DaemonSet, hostNetwork, NET_ADMIN): hands out
// addresses of the kind Docker network to Services of type LoadBalancer and makes one node
// answer for each of them; see runner/lb/controller.ts for how and why.
import { formatPool, formatSubnet, parsePool, parseSubnet, poolBlocks, poolInSubnet, type Pool } from '../../runner/core/lb/pool.ts';
import { oneLine } from '../../runner/errors.ts';
import { loadKubeConfig } from '../../runner/kube/client.ts';
import { nodeNetwork, runController } from '../../runner/lb/controller.ts';

const fail = (msg: string): never => {
  console.error(`lb-controller: ${msg}`);
  process.exit(1);
};

const nodeName = process.env.NODE_NAME || fail('NODE_NAME is not set (the DaemonSet passes it from spec.nodeName)');
const identity = process.env.POD_NAME || fail('POD_NAME is not set (the DaemonSet passes it from metadata.name)');
const nodeIP = process.env.NODE_IP || fail('NODE_IP is not set (the DaemonSet passes it from status.hostIP)');

try {
  const net = await nodeNetwork(nodeIP);
  const subnet = parseSubnet(net.cidr)!;
  let pool: Pool;
  const given = process.env.SVCLAB_LB_POOL?.trim();
  if (given) {
    const p = parsePool(given);
    pool = 'error' in p ? fail(`SVCLAB_LB_POOL: ${p.error}`) : p;
  } else {
    // Installed without `svclab cluster up` choosing a block: the top block of this network.
    pool = poolBlocks(subnet)[0] ?? fail(`the node network ${formatSubnet(subnet)} is too small for an address pool: set SVCLAB_LB_POOL to FIRST-LAST`);
  }
  if (!poolInSubnet(pool, subnet)) console.error(`lb-controller: warning: pool ${formatPool(pool)} is not inside the node network ${formatSubnet(subnet)}; hosts on that network will not reach it`);
  const stop = await runController(loadKubeConfig(), { nodeName, identity, pool, iface: net.iface });
  let stopping = false;
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.on(sig, () => {
      if (stopping) return;
      stopping = true;
      void stop().then(() => process.exit(0));
    });
  }
} catch (err) {
  fail(oneLine(err));
}

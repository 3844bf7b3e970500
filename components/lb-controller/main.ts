// svclab's LoadBalancer controller (DaemonSet, hostNetwork, NET_ADMIN): hands out
// addresses of the kind Docker network to Services of type LoadBalancer and makes one node
// answer for each of them; see runner/lb/controller.ts for how and why.
import { formatPool, formatSubnet, parsePool, parseSubnet, poolBlocks, poolInSubnet, type Pool } from '../../runner/core/lb/pool.ts';
import { oneLine } from '../../runner/errors.ts';
import { loadKubeConfig } from '../../runner/kube/client.ts';
import { nodeNetwork, runController } from '../../runner/lb/controller.ts';
import { parseDuration } from '../../runner/core/duration.ts';
import { parseArgs } from 'node:util';

const fail = (msg: string): never => {
  console.error(`lb-controller: ${msg}`);
  process.exit(1);
};

const nodeName = process.env.NODE_NAME || fail('NODE_NAME is not set (the DaemonSet passes it from spec.nodeName)');
const identity = process.env.POD_NAME || fail('POD_NAME is not set (the DaemonSet passes it from metadata.name)');
const nodeIP = process.env.NODE_IP || fail('NODE_IP is not set (the DaemonSet passes it from status.hostIP)');

// kube-controller-manager's leader election flags; runController's defaults are its too (15s, 10s, 2s).
const LEADER_ELECT = ['lease-duration', 'renew-deadline', 'retry-period'] as const;
let flags: Partial<Record<(typeof LEADER_ELECT)[number], string>>;
try {
  const { values } = parseArgs({ options: Object.fromEntries(LEADER_ELECT.map((f) => [`leader-elect-${f}`, { type: 'string' as const }])), strict: true });
  flags = Object.fromEntries(LEADER_ELECT.map((f) => [f, values[`leader-elect-${f}`] as string | undefined]));
} catch (err) {
  fail(`${(err as Error).message.split('\n')[0]} (the flags are ${LEADER_ELECT.map((f) => `--leader-elect-${f}`).join(', ')})`);
}
const durationMs = (f: (typeof LEADER_ELECT)[number]): number | undefined => {
  const raw = flags[f];
  if (raw === undefined) return undefined;
  const ms = parseDuration(raw);
  return ms && ms > 0 ? ms : fail(`invalid --leader-elect-${f}=${raw}: give a duration such as 15s`);
};
const leaseDurationMs = durationMs('lease-duration');
const renewDeadlineMs = durationMs('renew-deadline');
const retryPeriodMs = durationMs('retry-period');

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
  const stop = await runController(loadKubeConfig(), { nodeName, identity, pool, iface: net.iface, leaseDurationSeconds: leaseDurationMs && Math.ceil(leaseDurationMs / 1000), renewDeadlineMs, retryPeriodMs });
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

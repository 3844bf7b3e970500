import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { KubeConfig, V1Node } from '@kubernetes/client-node';
import { planNode, type Route } from '../core/cni/plan.ts';
import { run } from '../exec.ts';
import { watchKind } from '../kube/informers.ts';
import { detectIptablesMode, iptablesCommand, type IptablesMode } from '../net/iptables-mode.ts';

export interface AgentOptions {
  nodeName: string;
  clusterCIDR: string;
  /** Where the node's /etc/cni/net.d is mounted. */
  cniConfDir: string;
  resyncSeconds?: number;
  log?: (msg: string) => void;
}

/** Routes the agent owns are tagged with this protocol number, so stale ones can be found. */
const ROUTE_PROTO = '142';
const MASQ_CHAIN = 'SVCLAB-CNI-MASQ';

/**
 * The CNI agent: keeps this node's CNI config, its routes to other nodes' pod CIDRs,
 * and masquerading of pod traffic leaving the cluster network, in line with the Nodes.
 */
export async function runAgent(kc: KubeConfig, opts: AgentOptions): Promise<() => Promise<void>> {
  const log = opts.log ?? ((m: string) => console.log(`cni-agent: ${m}`));
  const confPath = `${opts.cniConfDir}/10-svclab.conflist`;
  const mode = await detectIptablesMode();
  let timer: NodeJS.Timeout | undefined;
  let running = Promise.resolve();

  const reconcile = async () => {
    const plan = planNode(watcher.list() as V1Node[], opts.nodeName);
    if (plan.conflist) await writeIfChanged(confPath, plan.conflist, log);
    await syncRoutes(plan.routes, log);
    await ensureMasquerade(mode, opts.clusterCIDR);
  };
  const schedule = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      running = running.then(reconcile).catch((err) => log(`reconcile failed: ${(err as Error).message}`));
    }, 200);
  };

  const watcher = watchKind(kc, 'Node', {
    onEvent: schedule,
    onSynced: () => {
      log(`watching nodes as ${opts.nodeName}`);
      schedule();
    },
    onError: (err) => log(`node watch: ${(err as Error)?.message ?? err}`),
  });
  const resync = setInterval(schedule, (opts.resyncSeconds ?? 30) * 1000);
  return async () => {
    clearInterval(resync);
    if (timer) clearTimeout(timer);
    await watcher.stop();
    await running;
  };
}

async function writeIfChanged(path: string, content: string, log: (m: string) => void): Promise<void> {
  if (existsSync(path) && (await readFile(path, 'utf8')) === content) return;
  await mkdir(dirname(path), { recursive: true });
  await writeFile(`${path}.tmp`, content);
  await rename(`${path}.tmp`, path);
  log(`wrote ${path}`);
}

async function syncRoutes(desired: Route[], log: (m: string) => void): Promise<void> {
  const current = (await run('ip', ['-4', 'route', 'show', 'proto', ROUTE_PROTO])).stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 3 && f[1] === 'via')
    .map((f) => ({ cidr: f[0]!, via: f[2]! }));
  for (const r of desired) {
    if (current.some((c) => c.cidr === r.cidr && c.via === r.via)) continue;
    await run('ip', ['-4', 'route', 'replace', r.cidr, 'via', r.via, 'proto', ROUTE_PROTO]);
    log(`route ${r.cidr} via ${r.via} (${r.node})`);
  }
  for (const c of current) {
    if (desired.some((r) => r.cidr === c.cidr)) continue;
    await run('ip', ['-4', 'route', 'del', c.cidr, 'proto', ROUTE_PROTO], { allowFailure: true });
    log(`removed route ${c.cidr} via ${c.via}`);
  }
}

/** Pod traffic to anything outside the pod network (the Docker network, the host) leaves with the node's address. */
async function ensureMasquerade(mode: IptablesMode, clusterCIDR: string): Promise<void> {
  const rules = [
    '*nat',
    `:${MASQ_CHAIN} - [0:0]`,
    `-A ${MASQ_CHAIN} -d ${clusterCIDR} -m comment --comment "svclab-cni: pod-to-pod traffic keeps its source" -j RETURN`,
    `-A ${MASQ_CHAIN} -m comment --comment "svclab-cni: pod traffic leaving the pod network" -j MASQUERADE`,
    'COMMIT',
    '',
  ].join('\n');
  await run(iptablesCommand(mode, 'iptables-restore'), ['--noflush'], { input: rules });
  const jump = ['POSTROUTING', '-s', clusterCIDR, '-m', 'addrtype', '!', '--dst-type', 'LOCAL', '-m', 'comment', '--comment', 'svclab-cni: masquerade pod traffic leaving the cluster', '-j', MASQ_CHAIN];
  const iptables = iptablesCommand(mode, 'iptables');
  const has = await run(iptables, ['-t', 'nat', '-C', ...jump], { allowFailure: true });
  if (has.code !== 0) await run(iptables, ['-t', 'nat', '-A', ...jump]);
}

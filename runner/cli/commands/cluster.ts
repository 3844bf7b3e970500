import type { Command} from 'commander';
import { Option } from 'commander';
import { CoreV1Api } from '@kubernetes/client-node';
import { readFile } from 'node:fs/promises';
import { validateClusterName, validateWorkers } from '../../core/cluster/kind-config.ts';
import { clusterUp } from '../../cluster/create.ts';
import { deleteCluster } from '../../cluster/delete.ts';
import { knownClusters, kubeconfigPath, readRecord } from '../../cluster/state.ts';
import { nodeReady } from '../../cluster/wait.ts';
import { requireDocker } from '../../docker.ts';
import { UserError } from '../../errors.ts';
import type { SourceChoice } from '../../images/build.ts';
import { loadKubeConfig } from '../../kube/client.ts';
import { PROXY_MODES, type ProxyMode } from '../../proxy/mode.ts';
import { Status } from '../status.ts';

export const DEFAULT_CLUSTER = 'svclab';

function clusterName(raw: string): string {
  const problem = validateClusterName(raw);
  if (problem) throw new UserError(problem);
  return raw;
}

function parseDuration(raw: string): number {
  const m = /^(\d+)(ms|s|m)?$/.exec(raw);
  if (!m) throw new UserError(`invalid duration "${raw}": use e.g. 90s or 5m`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000;
}

async function requireRecord(name: string) {
  const rec = await readRecord(name);
  if (!rec) throw new UserError(`no svclab cluster named "${name}": run 'svclab cluster up${name === DEFAULT_CLUSTER ? '' : ` --name ${name}`}'`);
  return rec;
}

export interface UpCliOptions {
  name: string;
  workers?: string;
  source: SourceChoice;
  retain: boolean;
  wait: string;
  proxyMode?: string;
  lean?: boolean;
  verbose: boolean;
}

/** `svclab cluster up` (and the cluster half of `svclab up`). */
export async function upAction(opts: UpCliOptions): Promise<void> {
  const name = clusterName(opts.name);
  const workers = opts.workers === undefined ? undefined : validateWorkers(opts.workers);
  if (typeof workers === 'string') throw new UserError(workers);
  const waitMs = parseDuration(opts.wait);
  const docker = await requireDocker();
  const started = Date.now();
  const rec = await clusterUp(docker, {
    name,
    workers,
    source: opts.source,
    retain: opts.retain,
    waitMs,
    proxyMode: opts.proxyMode as ProxyMode | undefined,
    lean: opts.lean,
    status: new Status(),
    onLine: opts.verbose ? (l) => process.stderr.write(`   ${l}\n`) : undefined,
  });
  const secs = ((Date.now() - started) / 1000).toFixed(0);
  console.log(`Cluster "${rec.name}" is ready (${rec.workers + 1} node${rec.workers ? 's' : ''}, kube-proxy in ${rec.proxyMode ?? 'iptables'} mode, ${rec.imageSource} images, ${secs}s).`);
  console.log(`kubeconfig: ${kubeconfigPath(rec.name)}`);
  console.log(`Try: kubectl --kubeconfig ${kubeconfigPath(rec.name)} get nodes`);
}

export function addUpOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--name <name>', 'cluster name').default(DEFAULT_CLUSTER))
    .option('--workers <n>', 'number of worker nodes (default: 2 for a new cluster, unchanged for an existing one)')
    .addOption(new Option('--source <source>', 'where images come from: pull from a registry, or build everything locally').choices(['auto', 'online', 'offline']).default('auto'))
    .addOption(new Option('--proxy-mode <mode>', 'kube-proxy\'s mode (default: iptables for a new cluster, unchanged for an existing one)').choices([...PROXY_MODES]))
    .option('--lean', 'a new cluster with less idle CPU (no leader election in the controller manager and scheduler, no kubelet local-storage eviction pass), as classroom learner clusters are made', false)
    .option('--retain', 'keep a cluster whose creation failed, for debugging', false)
    .option('--wait <duration>', 'how long to wait for nodes and components', '5m')
    .option('-v, --verbose', 'show the output of kind and image builds', false);
}

export function registerCluster(program: Command): void {
  const cluster = program.command('cluster').description('create, inspect and delete the kind cluster the labs run in');
  const nameOption = () => new Option('--name <name>', 'cluster name').default(DEFAULT_CLUSTER);

  addUpOptions(cluster.command('up').description('create the lab cluster (idempotent): kind with svclab\'s CNI agent, kube-proxy and DNS; waits until everything is ready')).action(upAction);

  cluster
    .command('down')
    .description('delete the lab cluster and everything svclab made for it (containers, network, kubeconfig, host kernel settings)')
    .addOption(nameOption())
    .option('-v, --verbose', 'show the output of kind', false)
    .action(async (opts: { name: string; verbose: boolean }) => {
      const name = clusterName(opts.name);
      const docker = await requireDocker();
      const status = new Status();
      const r = await status.step(`Deleting cluster "${name}"`, () => deleteCluster(docker, name, opts.verbose ? (l) => process.stderr.write(`   ${l}\n`) : undefined));
      if (!r.deleted) console.log(`No cluster "${name}" was running; its svclab state (if any) is removed.`);
      else console.log(`Cluster "${name}" deleted.`);
      if (r.removedNetwork) console.log('Removed the kind Docker network.');
      const restored = Object.entries(r.restoredSysctls);
      if (restored.length) console.log(`Restored host kernel settings: ${restored.map(([k, v]) => `${k.replace('/', '.')}=${v}`).join(', ')}`);
    });

  cluster
    .command('status')
    .description('show the nodes of the lab cluster and whether they are Ready')
    .addOption(nameOption())
    .option('-o, --output <format>', 'text or json', 'text')
    .action(async (opts: { name: string; output: string }) => {
      const name = clusterName(opts.name);
      const rec = await requireRecord(name);
      const kc = loadKubeConfig(kubeconfigPath(name));
      let nodes;
      try {
        nodes = (await kc.makeApiClient(CoreV1Api).listNode()).items;
      } catch (err) {
        throw new UserError(`cluster "${name}" does not answer (${(err as Error).message.split('\n')[0]}): is Docker running? try 'svclab cluster up --name ${name}'`);
      }
      const rows = nodes.map((n) => ({
        name: n.metadata?.name ?? '',
        status: nodeReady(n) ? 'Ready' : 'NotReady',
        roles: Object.keys(n.metadata?.labels ?? {}).filter((l) => l.startsWith('node-role.kubernetes.io/')).map((l) => l.split('/')[1]).join(',') || '<none>',
        internalIP: n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address ?? '',
        podCIDR: n.spec?.podCIDR ?? '',
        version: n.status?.nodeInfo?.kubeletVersion ?? '',
      }));
      if (opts.output === 'json') {
        console.log(JSON.stringify({ cluster: rec, nodes: rows }, null, 2));
      } else {
        printTable(['NAME', 'STATUS', 'ROLES', 'INTERNAL-IP', 'POD-CIDR', 'VERSION'], rows.map((r) => [r.name, r.status, r.roles, r.internalIP, r.podCIDR, r.version]));
      }
      if (rows.some((r) => r.status !== 'Ready')) process.exitCode = 1;
    });

  cluster
    .command('set-proxy-mode')
    .description('switch kube-proxy on every node to another mode (the kube-system/kube-proxy ConfigMap\'s mode:, then a restart of its pods); the old mode\'s rules are removed')
    .argument('<mode>', `one of ${PROXY_MODES.join(', ')}`)
    .addOption(nameOption())
    .option('--wait <duration>', 'how long to wait for every node to run the new mode', '3m')
    .action(async (mode: string, opts: { name: string; wait: string }) => {
      const { setProxyModeAction } = await import('./set-proxy-mode.ts');
      await setProxyModeAction(clusterName(opts.name), mode, parseDuration(opts.wait));
    });

  cluster
    .command('kubeconfig')
    .description('print the path of the lab cluster\'s kubeconfig (or its contents with --raw)')
    .addOption(nameOption())
    .option('--raw', 'print the file\'s contents', false)
    .action(async (opts: { name: string; raw: boolean }) => {
      const name = clusterName(opts.name);
      await requireRecord(name);
      console.log(opts.raw ? (await readFile(kubeconfigPath(name), 'utf8')).trimEnd() : kubeconfigPath(name));
    });

  cluster
    .command('list')
    .description('list the clusters svclab created')
    .action(async () => {
      for (const n of await knownClusters()) console.log(n);
    });
}

export function printTable(headers: string[], rows: string[][]): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]! + 3))).join('');
  console.log(fmt(headers));
  for (const r of rows) console.log(fmt(r));
}

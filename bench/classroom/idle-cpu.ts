// Idle CPU and memory of svclab clusters on the local Docker engine, from the node
// containers' own cgroups (cgroup v1 cpuacct and memory), split by pod.
//
//   npx tsx bench/classroom/idle-cpu.ts --clusters a,b [--seconds 60] [--json out.json]
//
// CPU: the delta of cpuacct.usage (nanoseconds of CPU the cgroup and its children used)
// over the window, as percent of one core. Per pod: the pod's slice under the node's
// kubelet.slice; "node agents" is the rest of the container (kubelet, containerd, systemd,
// the containerd shims; also a pod that appeared during the window). Memory: what
// `docker stats` shows (usage minus inactive file cache).
// The host's load average and busy CPU over the same window are printed with the figures.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kubeconfigPath } from '../../runner/cluster/state.ts';

const CPUACCT = '/sys/fs/cgroup/cpuacct/docker';
const MEMORY = '/sys/fs/cgroup/memory/docker';
const MiB = 1024 * 1024;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

const clusters = (arg('clusters') ?? '').split(',').filter(Boolean);
const seconds = Number(arg('seconds') ?? 60);
if (!clusters.length || !(seconds > 0)) {
  console.error('usage: idle-cpu.ts --clusters NAME[,NAME…] [--seconds 60] [--json FILE]');
  process.exit(2);
}
if (!existsSync(CPUACCT)) {
  console.error(`${CPUACCT} does not exist: this script reads cgroup v1 with Docker's cgroupfs driver`);
  process.exit(1);
}

interface Node {
  cluster: string;
  name: string;
  id: string;
}

function nodesOf(cluster: string): Node[] {
  const out = execFileSync('docker', ['ps', '--no-trunc', '--filter', `label=io.x-k8s.kind.cluster=${cluster}`, '--format', '{{.ID}} {{.Names}}'], { encoding: 'utf8' });
  return out.trim().split('\n').filter(Boolean).map((l) => {
    const [id, name] = l.split(' ');
    return { cluster, id: id!, name: name! };
  });
}

/** Pod UID (as in cgroup names: '_' for '-') → namespace/name; static pods by their config hash. */
function podNames(cluster: string): Map<string, string> {
  const names = new Map<string, string>();
  try {
    const out = execFileSync('kubectl', ['--kubeconfig', kubeconfigPath(cluster), 'get', 'pods', '-A', '-o', 'json'], { encoding: 'utf8', timeout: 30_000 });
    for (const p of (JSON.parse(out) as { items: { metadata: { uid: string; name: string; namespace: string; annotations?: Record<string, string> } }[] }).items) {
      const label = `${p.metadata.namespace}/${p.metadata.name}`;
      names.set(p.metadata.uid.replaceAll('-', '_'), label);
      const hash = p.metadata.annotations?.['kubernetes.io/config.hash'];
      if (hash) names.set(hash, label);
    }
  } catch (err) {
    console.error(`${cluster}: could not list pods (${(err as Error).message.split('\n')[0]}); pods are shown by UID`);
  }
  return names;
}

/** cpuacct.usage of the container and of each pod slice in it, in ns. */
function cpuSample(node: Node): { total: number; pods: Map<string, number> } {
  const root = join(CPUACCT, node.id);
  const read = (dir: string) => Number(readFileSync(join(dir, 'cpuacct.usage'), 'utf8'));
  const pods = new Map<string, number>();
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      const m = /-pod([0-9a-f_]+)\.slice$/.exec(e.name);
      if (m) pods.set(m[1]!, read(join(dir, e.name)));
      else walk(join(dir, e.name));
    }
  };
  const kubepods = join(root, 'kubelet.slice');
  if (existsSync(kubepods)) walk(kubepods);
  return { total: read(root), pods };
}

function memoryBytes(node: Node): number {
  const dir = join(MEMORY, node.id);
  const usage = Number(readFileSync(join(dir, 'memory.usage_in_bytes'), 'utf8'));
  const inactive = Number(/^total_inactive_file (\d+)$/m.exec(readFileSync(join(dir, 'memory.stat'), 'utf8'))?.[1] ?? 0);
  return usage - inactive;
}

function hostBusy(): { busy: number; all: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3]! + f[4]!;
  const all = f.reduce((a, b) => a + b, 0);
  return { busy: all - idle, all };
}

const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const memAvailableMiB = () => Math.round(Number(/^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))![1]) / 1024);

const nodes = clusters.flatMap(nodesOf);
for (const c of clusters) if (!nodes.some((n) => n.cluster === c)) {
  console.error(`no running node container of cluster "${c}" (label io.x-k8s.kind.cluster=${c})`);
  process.exit(1);
}
const names = new Map(clusters.map((c) => [c, podNames(c)]));

const startedAt = new Date().toISOString();
const load0 = loadavg();
const host0 = hostBusy();
const t0 = process.hrtime.bigint();
const before = new Map(nodes.map((n) => [n.name, cpuSample(n)]));
await new Promise((r) => setTimeout(r, seconds * 1000));
const after = new Map(nodes.map((n) => [n.name, cpuSample(n)]));
const wallNs = Number(process.hrtime.bigint() - t0);
const host1 = hostBusy();
const load1 = loadavg();

const pct = (ns: number) => Math.round((ns / wallNs) * 1000) / 10;
const result = {
  startedAt,
  seconds: Math.round(wallNs / 1e8) / 10,
  host: {
    cpus: Number(execFileSync('nproc', { encoding: 'utf8' }).trim()),
    loadAverageBefore: load0,
    loadAverageAfter: load1,
    busyPercentOfAllCores: Math.round(((host1.busy - host0.busy) / (host1.all - host0.all)) * 1000) / 10,
    memAvailableMiB: memAvailableMiB(),
  },
  clusters: clusters.map((c) => {
    const own = nodes.filter((n) => n.cluster === c);
    const parts: Record<string, number> = {};
    let total = 0;
    let memory = 0;
    for (const n of own) {
      const b = before.get(n.name)!;
      const a = after.get(n.name)!;
      total += a.total - b.total;
      memory += memoryBytes(n);
      let inPods = 0;
      for (const [uid, v] of a.pods) {
        const d = v - (b.pods.get(uid) ?? v);
        inPods += d;
        const label = names.get(c)!.get(uid) ?? `pod ${uid}`;
        parts[label] = (parts[label] ?? 0) + d;
      }
      parts[`${n.name}: node agents (kubelet, containerd, systemd)`] = a.total - b.total - inPods;
    }
    return {
      cluster: c,
      nodes: own.length,
      cpuPercentOfOneCore: pct(total),
      memoryMiB: Math.round(memory / MiB),
      parts: Object.fromEntries(Object.entries(parts).sort((x, y) => y[1] - x[1]).map(([k, v]) => [k, pct(v)])),
    };
  }),
};

console.log(`${result.startedAt}, ${result.seconds} s; load average ${load0} -> ${load1}; host busy ${result.host.busyPercentOfAllCores} % of ${result.host.cpus} cores; MemAvailable ${result.host.memAvailableMiB} MiB`);
for (const c of result.clusters) {
  console.log(`\n${c.cluster} (${c.nodes} node${c.nodes === 1 ? '' : 's'}): ${c.cpuPercentOfOneCore} % of one core, ${c.memoryMiB} MiB`);
  for (const [k, v] of Object.entries(c.parts)) console.log(`  ${String(v).padStart(5)} %  ${k}`);
}
if (result.clusters.length > 1) {
  const each = result.clusters.map((c) => c.cpuPercentOfOneCore);
  console.log(`\nall ${each.length}: ${Math.round(each.reduce((a, b) => a + b, 0) * 10) / 10} % of one core (each ${Math.min(...each)}–${Math.max(...each)} %)`);
}
const json = arg('json');
if (json) writeFileSync(json, `${JSON.stringify(result, null, 2)}\n`);

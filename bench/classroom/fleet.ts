// Many one-node learner clusters at once on the local Docker engine: can this machine hold
// them, and does each still answer quickly?
//
//   npx tsx bench/classroom/fleet.ts --count 20 [--lean] [--prefix h8-fleet] [--settle 60]
//       [--seconds 60] [--probe 3] [--reserve-mib 2048] [--keep] [--json out.json]
//
// 1. Makes COUNT clusters named PREFIX-1 … PREFIX-COUNT one at a time with
//    `svclab cluster up --workers 0 [--lean]` (the code learner clusters are made with),
//    recording each one's creation time and the host's MemAvailable and load average after
//    it. Stops making more if MemAvailable falls below --reserve-mib, or once the clock
//    passes --until (an ISO time, e.g. 2026-12-02T20:20Z). A creation that fails is
//    recorded (svclab deletes the failed cluster) and the next one is tried.
// 2. Waits --settle seconds, then measures all of them for --seconds with idle-cpu.ts
//    (cgroup v1 cpuacct of the node containers, split by pod; memory; host busy CPU).
// 3. While all of them run: in --probe of them (first, middle, last), 5 times each,
//    `kubectl get nodes` and `kubectl exec` of `true` in the toolbox pod, timed end to end
//    (a kubectl process start included, as a learner's terminal pays it too).
// 4. Deletes every cluster it made (`svclab cluster down`) unless --keep, also after a
//    failure or Ctrl-C.
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { kubeconfigPath } from '../../runner/cluster/state.ts';

const run = promisify(execFile);
const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '20' },
    lean: { type: 'boolean', default: false },
    prefix: { type: 'string', default: 'h8-fleet' },
    settle: { type: 'string', default: '60' },
    seconds: { type: 'string', default: '60' },
    probe: { type: 'string', default: '3' },
    'reserve-mib': { type: 'string', default: '2048' },
    until: { type: 'string' },
    keep: { type: 'boolean', default: false },
    json: { type: 'string' },
  },
});
const count = Number(values.count);
const reserveMiB = Number(values['reserve-mib']);
const repo = join(import.meta.dirname, '..', '..');
const svclab = join(repo, 'svclab');
const made: string[] = [];
/** The clusters that came up (made may also hold failed ones, deleted again at the end). */
const ready: string[] = [];
const log = (m: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${m}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const memAvailableMiB = () => Math.round(Number(/^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))![1]) / 1024);
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

let cleaning = false;
async function cleanup(): Promise<void> {
  if (cleaning || values.keep) return;
  cleaning = true;
  for (const name of [...made].reverse()) {
    log(`deleting ${name}`);
    try {
      await run(svclab, ['cluster', 'down', '--name', name], { cwd: repo, timeout: 180_000 });
    } catch (err) {
      log(`could not delete ${name}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => void cleanup().then(() => process.exit(130)));

async function timed(cmd: string, args: string[]): Promise<number> {
  const t = Date.now();
  await run(cmd, args, { timeout: 60_000 });
  return Date.now() - t;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const result: Record<string, unknown> = {
  host: { cpus: Number(execFileSync('nproc', { encoding: 'utf8' }).trim()), memAvailableMiBBefore: memAvailableMiB(), loadAverageBefore: loadavg(), otherNodeContainers: execFileSync('docker', ['ps', '--filter', 'label=io.x-k8s.kind.cluster', '--format', '{{.Names}}'], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).length },
  lean: values.lean,
};
try {
  const creations: { name: string; seconds: number; memAvailableMiB: number; loadAverage: string }[] = [];
  const failures: { name: string; seconds: number; error: string }[] = [];
  result.creations = creations;
  result.failures = failures;
  for (let i = 1; i <= count; i++) {
    if (memAvailableMiB() < reserveMiB) {
      log(`MemAvailable ${memAvailableMiB()} MiB < --reserve-mib ${reserveMiB}: not making more than ${ready.length}`);
      break;
    }
    if (values.until && Date.now() > Date.parse(values.until)) {
      log(`past --until ${values.until}: not making more than ${ready.length}`);
      break;
    }
    const name = `${values.prefix}-${i}`;
    made.push(name);
    const t = Date.now();
    log(`making ${name}${values.lean ? ' (lean)' : ''}`);
    try {
      await run(svclab, ['cluster', 'up', '--name', name, '--workers', '0', ...(values.lean ? ['--lean'] : [])], { cwd: repo, timeout: 900_000 });
    } catch (err) {
      const msg = ((err as { stderr?: string }).stderr ?? (err as Error).message).trim().split('\n').slice(-3).join(' | ');
      failures.push({ name, seconds: Math.round((Date.now() - t) / 100) / 10, error: msg });
      log(`${name} failed: ${msg}`);
      continue;
    }
    const c = { name, seconds: Math.round((Date.now() - t) / 100) / 10, memAvailableMiB: memAvailableMiB(), loadAverage: loadavg() };
    creations.push(c);
    ready.push(name);
    log(`${name} ready in ${c.seconds} s; MemAvailable ${c.memAvailableMiB} MiB; load ${c.loadAverage}`);
  }

  log(`settling ${values.settle} s`);
  await sleep(Number(values.settle) * 1000);
  const idleJson = `/tmp/fleet-idle-${process.pid}.json`;
  if (!ready.length) throw new Error('no cluster came up');
  log(`measuring idle CPU of ${ready.length} clusters for ${values.seconds} s`);
  const idle = await run('npx', ['tsx', join(import.meta.dirname, 'idle-cpu.ts'), '--clusters', ready.join(','), '--seconds', values.seconds!, '--json', idleJson], { cwd: repo, timeout: 600_000 });
  process.stderr.write(idle.stdout);
  const measured = JSON.parse(readFileSync(idleJson, 'utf8')) as { host: unknown; clusters: { cluster: string; cpuPercentOfOneCore: number; memoryMiB: number }[] };
  const cpu = measured.clusters.map((c) => c.cpuPercentOfOneCore);
  const mem = measured.clusters.map((c) => c.memoryMiB);
  result.idle = {
    host: measured.host,
    clusters: measured.clusters.length,
    cpuPercentOfOneCoreTotal: Math.round(cpu.reduce((a, b) => a + b, 0) * 10) / 10,
    cpuPercentOfOneCoreEach: { min: Math.min(...cpu), median: median(cpu), max: Math.max(...cpu) },
    memoryMiBTotal: mem.reduce((a, b) => a + b, 0),
    memoryMiBEach: { min: Math.min(...mem), median: median(mem), max: Math.max(...mem) },
    perCluster: measured.clusters,
  };

  const n = Math.min(Number(values.probe), ready.length);
  const picks = [...new Set(n >= 3 ? [ready[0]!, ready[Math.floor(ready.length / 2)]!, ready.at(-1)!, ...ready.slice(1, n - 2)] : ready.slice(0, n))];
  const probes: Record<string, { getNodesMs: number[]; execMs: number[] }> = {};
  for (const name of picks) {
    const kc = ['--kubeconfig', kubeconfigPath(name)];
    const p = { getNodesMs: [] as number[], execMs: [] as number[] };
    for (let k = 0; k < 5; k++) {
      p.getNodesMs.push(await timed('kubectl', [...kc, 'get', 'nodes']));
      p.execMs.push(await timed('kubectl', [...kc, '-n', 'svclab', 'exec', 'deploy/toolbox', '--', 'true']));
    }
    probes[name] = p;
    log(`${name}: kubectl get nodes ${p.getNodesMs.join(' ')} ms; exec ${p.execMs.join(' ')} ms`);
  }
  const all = (k: 'getNodesMs' | 'execMs') => Object.values(probes).flatMap((p) => p[k]);
  result.responsiveness = {
    probes,
    getNodesMs: { median: median(all('getNodesMs')), max: Math.max(...all('getNodesMs')) },
    execMs: { median: median(all('execMs')), max: Math.max(...all('execMs')) },
    memAvailableMiB: memAvailableMiB(),
    loadAverage: loadavg(),
  };
  console.log(JSON.stringify(result, null, 2));
  if (values.json) writeFileSync(values.json, `${JSON.stringify(result, null, 2)}\n`);
} catch (err) {
  log(`failed: ${(err as Error).message}`);
  process.exitCode = 1;
  if (values.json) writeFileSync(values.json, `${JSON.stringify({ ...result, error: (err as Error).message }, null, 2)}\n`);
} finally {
  await cleanup();
}

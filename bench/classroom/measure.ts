// Benchmark: what a classroom learner costs, with the real runner (in this process) and real
// kind clusters on the local Docker engine.
//   cold   a class without a warm pool: one learner joins; time from the join request to a
//          usable terminal (the shell echoes a command back); memory of that one-node cluster;
//          the grid's latency (the learner passes clusterip/create-deployment by typing the
//          kubectl command; time from typing, and from the learner's own task event, to the
//          instructor's grid event).
//   warm   a class with --warm 1: the spare cluster is made first, then a learner joins and gets
//          it (time to a usable terminal); the pool refills (a second spare): memory per one-node
//          cluster over the two.
//   three  a class with 2 workers per learner: one learner joins; memory of a three-node cluster.
// At most 3 learner clusters exist at once (the warm phase has 2); every cluster this script
// made is deleted at the end, also after a failure or Ctrl-C.
//
//   npx tsx bench/classroom/measure.ts [--phases cold,warm,three] [--settle 30] [--json out.json]
//
// Memory: `docker stats --no-stream` of the cluster's node containers (their cgroup's usage),
// and the host's MemAvailable before the cluster was made and after it settled (other work on
// the machine moves the latter; both are reported). Server: the RSS and CPU time of this
// process, which hosts the runner and little else (a few WebSocket clients).
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { deleteCluster } from '../../runner/cluster/delete.ts';
import { knownClusters } from '../../runner/cluster/state.ts';
import { dockerClient } from '../../runner/docker.ts';
import { enginesFrom } from '../../runner/server/classroom/provisioner.ts';
import { labEngine } from '../../runner/server/lab-engine.ts';
import { startRunner, type Runner } from '../../runner/server/runner.ts';

const { values } = parseArgs({ options: { phases: { type: 'string', default: 'cold,warm,three' }, settle: { type: 'string', default: '30' }, json: { type: 'string' } } });
const phases = new Set(values.phases!.split(','));
const settleMs = Number(values.settle) * 1000;
const GiB = 2 ** 30;
const MiB = 2 ** 20;
const made = new Set<string>();
const runners: Runner[] = [];
const results: Record<string, unknown> = {};
const runnerLog: string[] = [];
/** The runner logs `class …: warm cluster NAME ready` when a spare is made. */
const spareReady = (name: string) => {
  if (runnerLog.some((m) => m.includes(`warm cluster ${name} failed`))) throw new Error(`the spare cluster ${name} failed`);
  return runnerLog.some((m) => m.includes(`warm cluster ${name} ready`));
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (m: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${m}`);

function memAvailable(): number {
  return Number(/^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))![1]) * 1024;
}

const UNITS: Record<string, number> = { B: 1, KiB: 1024, MiB, GiB, kB: 1000, MB: 1e6, GB: 1e9 };
/** Memory and CPU (percent of one core) of each node container of a cluster, from `docker stats --no-stream`. */
function nodeStats(cluster: string): { mem: Record<string, number>; cpu: Record<string, number> } {
  const names = execFileSync('docker', ['ps', '--filter', `label=io.x-k8s.kind.cluster=${cluster}`, '--format', '{{.Names}}'], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  if (names.length === 0) throw new Error(`no node containers for ${cluster}`);
  const mem: Record<string, number> = {};
  const cpu: Record<string, number> = {};
  for (const line of execFileSync('docker', ['stats', '--no-stream', '--format', '{{.Name}} {{.CPUPerc}} {{.MemUsage}}', ...names], { encoding: 'utf8' }).trim().split('\n')) {
    const m = /^(\S+) ([\d.]+)% ([\d.]+)(\w+) \//.exec(line);
    if (!m) continue;
    cpu[m[1]!] = Number(m[2]);
    mem[m[1]!] = Number(m[3]) * (UNITS[m[4]!] ?? NaN);
  }
  return { mem, cpu };
}

function proc(): { rss: number; cpuMs: number } {
  const rss = Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]) * 1024;
  const u = process.cpuUsage();
  return { rss, cpuMs: (u.user + u.system) / 1000 };
}

async function newRunner(warm: number, workers: number): Promise<Runner> {
  const r = await startRunner({
    cluster: 'svclab-unused',
    port: 0,
    host: '127.0.0.1',
    docker: dockerClient(),
    labs: await labEngine(),
    dataDir: mkdtempSync(join(tmpdir(), 'svclab-bench-class-')),
    classroom: { engines: enginesFrom([]), warm, workers, policy: { perCluster: (0.75 + 0.25 * workers) * GiB, reserve: 3 * GiB, maxLearners: 5 } },
    log: (m) => {
      runnerLog.push(m);
      log(`runner: ${m}`);
    },
  });
  runners.push(r);
  return r;
}

async function api<T>(r: Runner, path: string, token: string, body?: unknown): Promise<T> {
  const res = await fetch(`${r.url}${path.replace(/^\//, '')}`, { method: body === undefined ? 'GET' : 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const out = (await res.json()) as T & { error?: string };
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}: ${out.error}`);
  return out;
}

async function createClass(r: Runner, title: string) {
  const c = await api<{ class: { id: string; joinCode: string }; instructorToken: string }>(r, '/api/classes', r.adminToken!, { title, labs: ['clusterip'] });
  return c;
}

function collect(ws: WebSocket) {
  let text = '';
  const msgs: { at: number; m: { type: string; [k: string]: unknown } }[] = [];
  ws.on('message', (d, bin) => (bin ? (text += d.toString()) : msgs.push({ at: Date.now(), m: JSON.parse(d.toString()) })));
  return { text: () => text, msgs };
}

async function until<T>(f: () => T | undefined | false, ms: number, what: string): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`);
    await sleep(100);
  }
}

/** Joins a learner and waits until their terminal echoes a command; returns timings and sockets. */
async function joinAndUse(r: Runner, code: string, name: string) {
  const t0 = Date.now();
  const j = await api<{ token: string }>(r, '/api/join', '', { code, name });
  const l = r.store.learnerByToken(j.token)!;
  made.add(l.cluster);
  const wsBase = r.url.replace(/^http/, 'ws');
  const events = new WebSocket(`${wsBase}api/events?token=${j.token}`);
  const ev = collect(events);
  await until(() => ev.msgs.some((x) => x.m.type === 'cluster' && x.m.state === 'running'), 15 * 60_000, `${name}'s cluster`);
  const tRunning = Date.now();
  const term = new WebSocket(`${wsBase}api/terminal?token=${j.token}`);
  const tm = collect(term);
  await until(() => tm.msgs.some((x) => x.m.type === 'ready'), 60_000, `${name}'s shell`);
  term.send(JSON.stringify({ type: 'input', data: 'echo usable-$((40+2))\r' }));
  await until(() => tm.text().includes('usable-42'), 60_000, `${name}'s echo`);
  const tUsable = Date.now();
  return { token: j.token, learnerId: l.id, cluster: l.cluster, joinToRunningMs: tRunning - t0, joinToUsableMs: tUsable - t0, events, ev, term, tm };
}

async function clusterMemory(cluster: string, before: number) {
  await sleep(settleMs);
  const { mem: nodes, cpu } = nodeStats(cluster);
  const sum = Object.values(nodes).reduce((a, b) => a + b, 0);
  return { cpuPercentOfOneCore: Math.round(Object.values(cpu).reduce((a, b) => a + b, 0)), nodesMiB: Object.fromEntries(Object.entries(nodes).map(([k, v]) => [k, Math.round(v / MiB)])), totalMiB: Math.round(sum / MiB), memAvailableDropMiB: Math.round((before - memAvailable()) / MiB) };
}

async function cold() {
  const before = memAvailable();
  const p0 = proc();
  const r = await newRunner(0, 0);
  const c = await createClass(r, 'bench cold');
  const wsBase = r.url.replace(/^http/, 'ws');
  const grid = new WebSocket(`${wsBase}api/class/events?token=${c.instructorToken}`);
  const g = collect(grid);
  log('cold: a learner joins a class without a warm pool');
  const a = await joinAndUse(r, c.class.joinCode, 'Cold');
  log(`cold: usable terminal after ${a.joinToUsableMs} ms`);
  const mem = await clusterMemory(a.cluster, before);
  log(`cold: one-node cluster ${JSON.stringify(mem)}`);
  // The grid's latency: start the lab, type the first task's command.
  await api(r, '/api/labs/clusterip/start', a.token, {});
  const typed = Date.now();
  a.term.send(JSON.stringify({ type: 'input', data: 'kubectl create deployment web --image=$ECHO_IMAGE --replicas=3 --port=8080\r' }));
  const passedFor = (m: { type: string; [k: string]: unknown }) => {
    if (m.type === 'tasks') return (m.tasks as { id: string; state: string }[]).some((t) => t.id === 'create-deployment' && t.state === 'passed');
    if (m.type === 'learner') return (m.learner as { tasks: Record<string, { state: string }> }).tasks['clusterip/create-deployment']?.state === 'passed';
    return false;
  };
  const learnerEvent = await until(() => a.ev.msgs.find((x) => passedFor(x.m)), 180_000, 'the learner\'s passed event');
  const gridEvent = await until(() => g.msgs.find((x) => passedFor(x.m)), 30_000, 'the grid\'s passed event');
  const p1 = proc();
  results.cold = {
    joinToRunningMs: a.joinToRunningMs,
    joinToUsableMs: a.joinToUsableMs,
    oneNode: mem,
    grid: { typedToLearnerEventMs: learnerEvent.at - typed, typedToGridEventMs: gridEvent.at - typed, learnerEventToGridEventMs: gridEvent.at - learnerEvent.at },
    server: { rssMiB: Math.round(p1.rss / MiB), rssGrowthMiB: Math.round((p1.rss - p0.rss) / MiB), cpuSeconds: Math.round((p1.cpuMs - p0.cpuMs) / 100) / 10, wallSeconds: Math.round((Date.now() - typed + a.joinToUsableMs) / 1000) },
  };
  log(`cold: ${JSON.stringify(results.cold)}`);
  // Server cost while idle with one connected learner and an instructor: CPU over 60 s.
  const i0 = proc();
  await sleep(60_000);
  const i1 = proc();
  (results.cold as Record<string, unknown>).serverIdle = { cpuPercentOver60s: Math.round((i1.cpuMs - i0.cpuMs) / 600) / 1, rssMiB: Math.round(i1.rss / MiB) };
  log(`cold: idle server ${JSON.stringify((results.cold as Record<string, unknown>).serverIdle)}`);
  for (const ws of [a.events, a.term, grid]) ws.close();
  await r.close();
  runners.splice(runners.indexOf(r), 1);
  await destroy(a.cluster);
}

async function warm() {
  const before = memAvailable();
  const r = await newRunner(1, 0);
  const c = await createClass(r, 'bench warm');
  log('warm: waiting for the spare cluster');
  const pool = `${c.class.id}-pool-0`;
  made.add(pool);
  await until(() => spareReady(pool), 15 * 60_000, 'the spare cluster');
  const memOne = await clusterMemory(pool, before);
  log(`warm: spare ready; ${JSON.stringify(memOne)}`);
  const a = await joinAndUse(r, c.class.joinCode, 'Warm');
  log(`warm: usable terminal after ${a.joinToUsableMs} ms (cluster ${a.cluster})`);
  for (const ws of [a.events, a.term]) ws.close();
  // The pool refills: wait for the second spare, then measure the two one-node clusters.
  const refill = `${c.class.id}-pool-1`;
  made.add(refill);
  const before2 = memAvailable();
  await until(() => spareReady(refill), 15 * 60_000, 'the refilled spare');
  const memTwo = await clusterMemory(refill, before2);
  results.warm = { joinToUsableMs: a.joinToUsableMs, cluster: a.cluster, firstOneNode: memOne, secondOneNode: memTwo, memAvailable: Math.round(memAvailable() / MiB) };
  log(`warm: ${JSON.stringify(results.warm)}`);
  await r.close();
  runners.splice(runners.indexOf(r), 1);
  await destroy(pool);
  await destroy(refill);
}

async function three() {
  const before = memAvailable();
  const r = await newRunner(0, 2);
  const c = await createClass(r, 'bench three');
  log('three: a learner joins a class with three-node clusters');
  const a = await joinAndUse(r, c.class.joinCode, 'Three');
  const mem = await clusterMemory(a.cluster, before);
  results.three = { joinToUsableMs: a.joinToUsableMs, threeNode: mem };
  log(`three: ${JSON.stringify(results.three)}`);
  for (const ws of [a.events, a.term]) ws.close();
  await r.close();
  runners.splice(runners.indexOf(r), 1);
  await destroy(a.cluster);
}

async function destroy(name: string) {
  await deleteCluster(dockerClient(), name).catch((err: Error) => log(`delete ${name}: ${err.message}`));
  made.delete(name);
}

async function cleanup() {
  for (const r of runners.splice(0)) await r.close().catch(() => {});
  const ours = (await knownClusters()).filter((n) => [...made].some((m) => n === m));
  for (const n of new Set([...made, ...ours])) await destroy(n);
}

process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
process.on('uncaughtException', (err) => {
  log(`FAILED (uncaught): ${err.stack}`);
  void cleanup().then(() => process.exit(1));
});
results.host = { memTotalGiB: Math.round((Number(/^MemTotal:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))![1]) * 1024) / GiB * 10) / 10, cpus: Number(execFileSync('nproc', { encoding: 'utf8' }).trim()), memAvailableMiB: Math.round(memAvailable() / MiB) };
try {
  if (phases.has('cold')) await cold();
  if (phases.has('warm')) await warm();
  if (phases.has('three')) await three();
} catch (err) {
  log(`FAILED: ${(err as Error).stack}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
console.log(JSON.stringify(results, null, 2));
if (values.json) writeFileSync(values.json, `${JSON.stringify(results, null, 2)}\n`);

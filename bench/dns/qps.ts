// Benchmark: svclab's DNS server next to CoreDNS 1.12.1 (built from the Go module proxy),
// both reading the same local API server (real etcd + kube-apiserver on loopback) through
// their informers, with dnsperf on loopback. Per cluster size and query mix, each server
// in turn (back to back, so that whatever else runs on the machine weighs on both alike):
// a saturating dnsperf run (QPS, latency percentiles from dnsperf -v), the server's CPU
// time during it (queries per CPU-second: "QPS per core"), and a run at a fixed rate that
// both sustain (latency at equal load). Resident memory (VmRSS) is read once the server
// has synced, before any query.
//
//   npx tsx bench/dns/qps.ts [--services 1000,10000] [--duration 10] [--warmup 2]
//     [--mixes clusterip,headless,srv,nxdomain] [--servers svclab,coredns,svclab-state]
//     [--rate 10000] [--clients 8] [--outstanding 100] [--rounds 1] [--pin] [--json out.json]
//     [--svclab-bundle FILE] [--svclab-args '--flag value'] [--churn MS]
//
// --servers: svclab = `svclab dns run --kubeconfig` (informers), svclab-state = `svclab dns
// serve --state` on a `kubectl get -o json` dump of the same objects, coredns = CoreDNS with
// kubeadm's Corefile and the same kubeconfig. --pin puts each server on CPU 1 and dnsperf on
// CPU 0 (taskset); by default all share both cores, as in a kind node. svclab runs as one
// esbuild bundle of `svclab dns` (bench/dns/svclab-dns.ts), as the in-cluster component
// does, unless --svclab-bundle names another (e.g. one built from an older commit).
// --churn MS: during every dnsperf run, an EndpointSlice (of s0) changes every MS ms, as in a
// cluster with pods coming and going; each change makes svclab drop all its kept answers.
//
// Needs dnsperf (apt-get install dnsperf) and the binaries the integration tests use
// (kube-apiserver, etcd, kubectl; CoreDNS is built here if missing). Every dnsperf run is
// bounded by --duration; the whole run stops the processes it started, also on failure.
import { CoreV1Api, DiscoveryV1Api, type KubeConfig, type V1EndpointSlice, type V1Service } from '@kubernetes/client-node';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import dnsPacket from 'dns-packet';
import { bundleEntry } from '../../runner/images/components.ts';
import { ensureGoTarget, goBinary } from '../../runner/images/go-binaries.ts';
import { versions } from '../../runner/images/versions.ts';
import { loadKubeConfig } from '../../runner/kube/client.ts';
import { controlPlaneUnavailable, startControlPlane, type ControlPlane } from '../../tests/support/control-plane.ts';
import { pool } from '../../tests/support/pool.ts';

const { values } = parseArgs({
  options: {
    services: { type: 'string', default: '1000,10000' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    mixes: { type: 'string', default: 'clusterip,headless,srv,nxdomain' },
    servers: { type: 'string', default: 'svclab,coredns,svclab-state' },
    rate: { type: 'string', default: '10000' },
    clients: { type: 'string', default: '8' },
    outstanding: { type: 'string', default: '100' },
    rounds: { type: 'string', default: '1' },
    pin: { type: 'boolean', default: false },
    json: { type: 'string' },
    'svclab-args': { type: 'string', default: '' },
    'svclab-bundle': { type: 'string' },
    churn: { type: 'string', default: '0' },
  },
});

const MIXES = ['clusterip', 'headless', 'srv', 'nxdomain'] as const;
type Mix = (typeof MIXES)[number];
const SERVERS = ['svclab', 'coredns', 'svclab-state'] as const;
type ServerKind = (typeof SERVERS)[number];

function fail(msg: string): never {
  console.error(`bench/dns/qps.ts: ${msg}`);
  process.exit(2);
}
const numbers = (flag: string, s: string) => {
  const out = s.split(',').map(Number);
  if (out.some((n) => !Number.isInteger(n) || n <= 0)) fail(`--${flag} takes positive whole numbers separated by commas, e.g. --${flag} ${flag === 'services' ? '1000,10000' : '10'}`);
  return out;
};
const sizes = numbers('services', values.services!).sort((a, b) => a - b);
if (sizes[0]! < 10) fail('--services: at least 10 services per size (every 5th is headless), e.g. --services 1000,10000');
const [duration] = numbers('duration', values.duration!);
const warmup = Number(values.warmup);
const [rate] = numbers('rate', values.rate!);
const [clients] = numbers('clients', values.clients!);
const [outstanding] = numbers('outstanding', values.outstanding!);
const [rounds] = numbers('rounds', values.rounds!);
const churnMs = Number(values.churn);
if (!Number.isInteger(churnMs) || churnMs < 0) fail('--churn takes a whole number of milliseconds between EndpointSlice changes (0: none)');
const mixes = values.mixes!.split(',') as Mix[];
const servers = values.servers!.split(',') as ServerKind[];
for (const m of mixes) if (!MIXES.includes(m)) fail(`unknown mix "${m}": use ${MIXES.join(', ')}`);
for (const s of servers) if (!SERVERS.includes(s)) fail(`unknown server "${s}": use ${SERVERS.join(', ')}`);
if (!Number.isFinite(warmup) || warmup < 0) fail('--warmup takes a number of seconds (0 for none)');
if (spawnSync('dnsperf', ['-h']).error) fail('dnsperf is not installed: apt-get install dnsperf');
if (values.pin && spawnSync('taskset', ['-V']).error) fail('--pin needs taskset (apt-get install util-linux)');
const why = controlPlaneUnavailable();
if (why) fail(`cannot start a local control plane: ${why}`);

const root = new URL('../..', import.meta.url).pathname;
const H = '127.0.0.1';
const ZONE = 'cluster.local';
const NAMESPACES = 10;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (m: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${m}`);

// ---- the state: service i lives in bench-(i % 10); every 5th is headless with 10 ready
// endpoints, the others are ClusterIP services with 2; all have the named ports http and grpc ----

const isHeadless = (i: number) => i % 5 === 4;
const nsOf = (i: number) => `bench-${i % NAMESPACES}`;
const nameOf = (i: number) => `s${i}`;
const endpointCount = (i: number) => (isHeadless(i) ? 10 : 2);
const podIP = (i: number, k: number) => `10.${64 + k}.${Math.floor(i / 250)}.${(i % 250) + 1}`;
const ports = [
  { name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 },
  { name: 'grpc', port: 9090, protocol: 'TCP', targetPort: 9090 },
];

function service(i: number): V1Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { namespace: nsOf(i), name: nameOf(i) }, spec: { ...(isHeadless(i) ? { clusterIP: 'None' } : {}), ports, selector: { app: nameOf(i) } } };
}

function slice(i: number): V1EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { namespace: nsOf(i), name: `${nameOf(i)}-1`, labels: { 'kubernetes.io/service-name': nameOf(i) } },
    addressType: 'IPv4',
    ports: [
      { name: 'http', port: 8080, protocol: 'TCP' },
      { name: 'grpc', port: 9090, protocol: 'TCP' },
    ],
    endpoints: Array.from({ length: endpointCount(i) }, (_, k) => ({ addresses: [podIP(i, k)], conditions: { ready: true }, targetRef: { kind: 'Pod', namespace: nsOf(i), name: `${nameOf(i)}-${k}` } })),
  };
}


/** Creates services [from, to) and their EndpointSlices through the API. */
async function load(kc: KubeConfig, from: number, to: number): Promise<number> {
  const core = kc.makeApiClient(CoreV1Api);
  const discovery = kc.makeApiClient(DiscoveryV1Api);
  const t0 = performance.now();
  if (from === 0) for (let k = 0; k < NAMESPACES; k++) await core.createNamespace({ body: { metadata: { name: `bench-${k}` } } });
  await pool(
    Array.from({ length: to - from }, (_, k) => from + k),
    32,
    async (i) => {
      await core.createNamespacedService({ namespace: nsOf(i), body: service(i) });
      await discovery.createNamespacedEndpointSlice({ namespace: nsOf(i), body: slice(i) });
    },
  );
  return performance.now() - t0;
}

// ---- query files: every matching service once, in a fixed shuffled order; dnsperf loops over them ----

function shuffled<T>(xs: T[]): T[] {
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

function queries(mix: Mix, n: number): string[] {
  const ids = Array.from({ length: n }, (_, i) => i);
  const fq = (i: number) => `${nameOf(i)}.${nsOf(i)}.svc.${ZONE}`;
  switch (mix) {
    case 'clusterip':
      return shuffled(ids.filter((i) => !isHeadless(i)).map((i) => `${fq(i)} A`));
    case 'headless':
      return shuffled(ids.filter(isHeadless).map((i) => `${fq(i)} A`));
    case 'srv':
      return shuffled(ids.filter((i) => !isHeadless(i)).map((i) => `_http._tcp.${fq(i)} SRV`));
    case 'nxdomain':
      return shuffled(ids.map((i) => `nosuch${i}.${nsOf(i)}.svc.${ZONE} A`));
  }
}

/** What each mix must answer, checked on every server before it is measured. */
const expected: Record<Mix, { rcode: string; answers: number; additionals: number }> = {
  clusterip: { rcode: 'NOERROR', answers: 1, additionals: 0 },
  headless: { rcode: 'NOERROR', answers: 10, additionals: 0 },
  srv: { rcode: 'NOERROR', answers: 1, additionals: 1 },
  nxdomain: { rcode: 'NXDOMAIN', answers: 0, additionals: 0 },
};

// ---- processes ----

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, H, () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

/** The process and its descendants (svclab may run worker processes). */
function tree(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone
    }
  }
  const out = [pid];
  for (let k = 0; k < out.length; k++) for (const [child, p] of parent) if (p === out[k]) out.push(child);
  return out;
}

const TICK = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim() || 100);

/** CPU seconds (user + system, all threads) used so far by the process tree. */
function cpuSeconds(pid: number): number {
  let ticks = 0;
  for (const p of tree(pid)) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]);
    } catch {
      // gone
    }
  }
  return ticks / TICK;
}

/** Resident memory of the process tree, MiB. */
function rssMiB(pid: number): number {
  let kb = 0;
  for (const p of tree(pid)) {
    try {
      kb += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      // gone
    }
  }
  return kb / 1024;
}

interface Running {
  kind: ServerKind;
  port: number;
  proc: ChildProcess;
  logs: string[];
  stop(): Promise<void>;
}

const started = new Set<ChildProcess>();
const pinServer = (cmd: string, args: string[]): [string, string[]] => (values.pin ? ['taskset', ['-c', '1', cmd, ...args]] : [cmd, args]);

function startProcess(kind: ServerKind, cmd: string, args: string[], port: number): Running {
  const [c, a] = pinServer(cmd, args);
  const proc = spawn(c, a, { stdio: ['ignore', 'pipe', 'pipe'], cwd: root });
  started.add(proc);
  const logs: string[] = [];
  const keep = (b: Buffer) => {
    logs.push(b.toString());
    if (logs.length > 50) logs.shift();
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  return {
    kind,
    port,
    proc,
    logs,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        await Promise.race([new Promise((r) => proc.once('exit', r)), sleep(5000)]);
        if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      }
      started.delete(proc);
    },
  };
}

async function httpOk(url: string): Promise<boolean> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(1000) })).status === 200;
  } catch {
    return false;
  }
}

/** One UDP query; resolves to the decoded reply, or undefined after 1 s. */
function ask(port: number, name: string, type: string): Promise<ReturnType<typeof dnsPacket.decode> | undefined> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    const done = (r?: ReturnType<typeof dnsPacket.decode>) => {
      clearTimeout(timer);
      s.close();
      resolve(r);
    };
    const timer = setTimeout(() => done(), 1000);
    s.on('message', (m) => {
      try {
        done(dnsPacket.decode(m));
      } catch {
        done();
      }
    });
    s.on('error', () => done());
    s.send(dnsPacket.encode({ type: 'query', id: 7, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type: type as 'A' }] }), port, H);
  });
}

const rcodeOf = (r: ReturnType<typeof dnsPacket.decode>) => (r as unknown as { rcode: string }).rcode;

/** Waits until the server is ready and answers for the last service loaded as expected. */
async function waitAnswering(s: Running, n: number, readyUrl?: string): Promise<number> {
  const t0 = performance.now();
  if (n === 0) {
    // Nothing loaded yet: ready, and answering at all (NXDOMAIN).
    for (const deadline = Date.now() + 120_000; Date.now() < deadline; await sleep(250)) {
      if (s.proc.exitCode !== null) throw new Error(`${s.kind} exited: ${s.logs.join('').split('\n').slice(-5).join(' | ')}`);
      if ((!readyUrl || (await httpOk(readyUrl))) && (await ask(s.port, `nothing.default.svc.${ZONE}`, 'A'))) return performance.now() - t0;
    }
    throw new Error(`${s.kind} did not answer within 120 s`);
  }
  const last = n - 1;
  const lastHeadless = n >= 5 ? Math.floor((n - 5) / 5) * 5 + 4 : undefined;
  const deadline = Date.now() + 300_000;
  for (;;) {
    if (s.proc.exitCode !== null) throw new Error(`${s.kind} exited: ${s.logs.join('').split('\n').slice(-5).join(' | ')}`);
    if (Date.now() > deadline) throw new Error(`${s.kind} did not answer for ${n} services within 300 s`);
    if (!readyUrl || (await httpOk(readyUrl))) {
      const a = await ask(s.port, `${nameOf(last)}.${nsOf(last)}.svc.${ZONE}`, 'A');
      const b = lastHeadless === undefined ? undefined : await ask(s.port, `${nameOf(lastHeadless)}.${nsOf(lastHeadless)}.svc.${ZONE}`, 'A');
      const headlessOk = lastHeadless === undefined || (b && rcodeOf(b) === 'NOERROR' && b.answers?.length === 10);
      if (a && rcodeOf(a) === 'NOERROR' && a.answers?.length && headlessOk) return performance.now() - t0;
    }
    await sleep(250);
  }
}

async function startServer(kind: ServerKind, cp: ControlPlane, n: number, dir: string, upstreamPort: number): Promise<Running> {
  const [port, health, ready, metrics] = [await freePort(), await freePort(), await freePort(), await freePort()];
  let s: Running;
  if (kind === 'coredns') {
    const corefile = join(dir, 'Corefile');
    // kubeadm's Corefile (cmd/kubeadm/app/phases/addons/dns/manifests.go), on loopback ports;
    // `loop` and `reload` are left out (no upstream to loop through, no Corefile changes).
    writeFileSync(
      corefile,
      `.:${port} {
    bind ${H}
    errors
    health ${H}:${health} {
       lameduck 5s
    }
    ready ${H}:${ready}
    kubernetes ${ZONE} in-addr.arpa ip6.arpa {
       kubeconfig ${cp.kubeconfig} local
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus ${H}:${metrics}
    forward . ${H}:${upstreamPort} {
       max_concurrent 1000
    }
    cache 30 {
       disable success ${ZONE}
       disable denial ${ZONE}
    }
    loadbalance
}
`,
    );
    s = startProcess(kind, goBinary('coredns'), ['-conf', corefile], port);
  } else {
    const common = ['--listen', `${H}:${port}`, '--upstream', `${H}:${upstreamPort}`, '--zone', ZONE, ...(values['svclab-args'] ? values['svclab-args'].split(' ') : [])];
    const args =
      kind === 'svclab'
        ? ['dns', 'run', '--kubeconfig', cp.kubeconfig, '--health-addr', `${H}:${health}`, '--ready-addr', `${H}:${ready}`, '--metrics-addr', `${H}:${metrics}`, ...common]
        : ['dns', 'serve', '--state', join(dir, 'state.json'), ...common];
    s = startProcess(kind, process.execPath, [bundle, ...args], port);
  }
  try {
    await waitAnswering(s, n, kind === 'svclab-state' ? undefined : `http://${H}:${ready}/ready`);
  } catch (err) {
    await s.stop();
    throw err;
  }
  return s;
}

/** Flips one endpoint of s0 between ready and not ready every `ms` until stopped; resolves to the number of changes. */
function churn(kc: KubeConfig, ms: number): { stop(): Promise<number> } {
  if (ms === 0) return { stop: async () => 0 };
  const discovery = kc.makeApiClient(DiscoveryV1Api);
  let running = true;
  let changes = 0;
  const loop = (async () => {
    while (running) {
      const body = slice(0);
      body.endpoints[1]!.conditions = { ready: changes % 2 === 1 };
      await discovery.replaceNamespacedEndpointSlice({ namespace: nsOf(0), name: body.metadata!.name!, body }).then(
        () => changes++,
        () => {},
      );
      await sleep(ms);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      // Leave s0 as loaded.
      await discovery.replaceNamespacedEndpointSlice({ namespace: nsOf(0), name: `${nameOf(0)}-1`, body: slice(0) }).catch(() => {});
      return changes;
    },
  };
}

// ---- dnsperf ----

interface PerfResult {
  qps: number;
  sent: number;
  completed: number;
  lost: number;
  rcodes: string;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  /** Server CPU seconds per wall second during the run. */
  serverCores: number;
  /** dnsperf's own CPU seconds per wall second. */
  clientCores: number;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function dnsperf(s: Running, file: string, seconds: number, opts: { rate?: number; verbose: boolean }, out: string): Promise<PerfResult> {
  const args = ['-s', H, '-p', String(s.port), '-d', file, '-l', String(seconds), '-c', String(clients), '-q', String(outstanding), '-t', '2', ...(opts.rate ? ['-Q', String(opts.rate)] : []), ...(opts.verbose ? ['-v'] : [])];
  // The shell reports dnsperf's CPU time (its children's utime and stime, fields 16 and 17 of /proc/self/stat).
  const script = `${values.pin ? 'taskset -c 0 ' : ''}dnsperf "$@" > ${out}; s=$?; cat /proc/$$/stat >&2; exit $s`;
  const cpu0 = cpuSeconds(s.proc.pid!);
  const t0 = performance.now();
  const child = spawn('sh', ['-c', script, 'sh', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  started.add(child);
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  started.delete(child);
  const wall = (performance.now() - t0) / 1000;
  const cpu1 = cpuSeconds(s.proc.pid!);
  if (code !== 0) throw new Error(`dnsperf failed (exit ${code}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
  const statLine = stderr.trim().split('\n').pop()!;
  const f = statLine.slice(statLine.lastIndexOf(')') + 2).split(' ');
  const clientCpu = (Number(f[13]) + Number(f[14])) / TICK;
  const text = readFileSync(out, 'utf8');
  const num = (re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);
  const runTime = num(/Run time \(s\):\s+([\d.]+)/);
  const lat: number[] = [];
  if (opts.verbose) {
    for (const line of text.split('\n')) {
      if (line.charCodeAt(0) !== 62 /* > */) continue;
      const v = Number(line.slice(line.lastIndexOf(' ') + 1));
      if (Number.isFinite(v)) lat.push(v);
    }
  }
  const sorted = Float64Array.from(lat).sort();
  return {
    qps: num(/Queries per second:\s+([\d.]+)/),
    sent: num(/Queries sent:\s+(\d+)/),
    completed: num(/Queries completed:\s+(\d+)/),
    lost: num(/Queries lost:\s+(\d+)/),
    rcodes: /Response codes:\s+(.*)/.exec(text)?.[1]?.trim() ?? '',
    p50: percentile(sorted, 50) * 1000,
    p99: percentile(sorted, 99) * 1000,
    p999: percentile(sorted, 99.9) * 1000,
    max: sorted.length ? sorted[sorted.length - 1]! * 1000 : NaN,
    serverCores: (cpu1 - cpu0) / (Number.isFinite(runTime) ? runTime : wall),
    clientCores: clientCpu / wall,
  };
}

// ---- the run ----

/** `svclab dns run|serve` bundled into one file as the in-cluster component is (no tsx compiling at load). */
async function bundleSvclab(dir: string): Promise<string> {
  return bundleEntry(join(root, 'bench/dns/svclab-dns.ts'), join(dir, 'svclab-dns.mjs'));
}
let bundle = '';
let dir = '';

interface Row {
  services: number;
  server: ServerKind;
  mix: Mix;
  round: number;
  saturated: PerfResult;
  fixed: PerfResult;
}

const rows: Row[] = [];
const base = new Map<ServerKind, number>();
const memory: { services: number; server: ServerKind; rssMiB: number; rssAfterMiB: number; syncMs: number }[] = [];
let cp: ControlPlane | undefined;
const stopAll = () => {
  for (const p of started) if (p.exitCode === null) p.kill('SIGKILL');
};
process.on('SIGINT', () => {
  stopAll();
  if (dir) rmSync(dir, { recursive: true, force: true });
  void cp?.stop().finally(() => process.exit(130));
});

const fmt = (n: number, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : '–');

function report(): string {
  const lines: string[] = [];
  lines.push(`dnsperf ${duration} s per run, ${clients} clients, ${outstanding} queries outstanding${values.pin ? '; servers on CPU 1, dnsperf on CPU 0' : '; servers and dnsperf share both cores'}${churnMs ? `; an EndpointSlice change every ${churnMs} ms` : ''}`);
  lines.push('');
  lines.push('| services | mix | server | QPS | server cores | QPS per core | p50 ms | p99 ms | lost | p50 ms @ ' + rate + ' QPS | p99 ms @ ' + rate + ' QPS |');
  lines.push('|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const s = r.saturated;
    lines.push(`| ${r.services} | ${r.mix} | ${r.server}${rounds > 1 ? ` #${r.round + 1}` : ''} | ${fmt(s.qps)} | ${fmt(s.serverCores, 2)} | ${fmt(s.qps / s.serverCores)} | ${fmt(s.p50, 2)} | ${fmt(s.p99, 2)} | ${s.lost} | ${fmt(r.fixed.p50, 2)} | ${fmt(r.fixed.p99, 2)} |`);
  }
  lines.push('');
  lines.push('| services | server | VmRSS, nothing loaded | VmRSS after sync | per 1000 services | VmRSS after the runs | answering after |');
  lines.push('|---:|---|---:|---:|---:|---:|---:|');
  for (const m of memory) {
    const b = base.get(m.server) ?? NaN;
    lines.push(`| ${m.services} | ${m.server} | ${fmt(b, 1)} MiB | ${fmt(m.rssMiB, 1)} MiB | ${fmt(((m.rssMiB - b) / m.services) * 1000, 1)} MiB | ${fmt(m.rssAfterMiB, 1)} MiB | ${fmt(m.syncMs / 1000, 1)} s |`);
  }
  return lines.join('\n');
}

try {
  if (servers.includes('coredns')) {
    log(`CoreDNS ${versions.coredns}: ${existsSync(goBinary('coredns')) ? 'built' : 'building from the Go module proxy'}`);
    await ensureGoTarget('coredns');
  }
  dir = mkdtempSync(join(tmpdir(), 'svclab-dns-bench-'));
  bundle = values['svclab-bundle'] ?? (await bundleSvclab(dir));
  cp = await startControlPlane();
  const kc = loadKubeConfig(cp.kubeconfig);
  const upstreamPort = await freePort(); // nothing listens: nothing here is forwarded
  // Each server's memory with nothing loaded, the base of "per 1000 services".
  if (servers.includes('svclab-state')) writeFileSync(join(dir, 'state.json'), await cp.kubectl(['get', 'namespaces,services,endpointslices', '-A', '-o', 'json']));
  for (const kind of servers) {
    const s = await startServer(kind, cp, 0, dir, upstreamPort);
    base.set(kind, rssMiB(s.proc.pid!));
    await s.stop();
    log(`${kind} with nothing loaded: VmRSS ${fmt(base.get(kind)!, 1)} MiB`);
  }
  let loaded = 0;
  for (const n of sizes) {
    log(`loading services ${loaded}..${n - 1} (${n - loaded} Services and EndpointSlices) through the API`);
    const ms = await load(kc, loaded, n);
    loaded = n;
    log(`loaded in ${(ms / 1000).toFixed(1)} s`);
    if (servers.includes('svclab-state')) writeFileSync(join(dir, 'state.json'), await cp.kubectl(['get', 'namespaces,services,endpointslices', '-A', '-o', 'json']));
    const files = new Map<Mix, string>();
    for (const m of mixes) {
      const f = join(dir, `${m}-${n}.txt`);
      writeFileSync(f, `${queries(m, n).join('\n')}\n`);
      files.set(m, f);
    }
    const running = new Map<ServerKind, Running>();
    try {
      for (const kind of servers) {
        const t0 = performance.now();
        running.set(kind, await startServer(kind, cp, n, dir, upstreamPort));
        const syncMs = performance.now() - t0;
        memory.push({ services: n, server: kind, rssMiB: rssMiB(running.get(kind)!.proc.pid!), rssAfterMiB: NaN, syncMs });
        log(`${kind} answers for ${n} services after ${(syncMs / 1000).toFixed(1)} s, VmRSS ${fmt(memory.at(-1)!.rssMiB, 1)} MiB`);
      }
      for (let round = 0; round < rounds; round++) {
        for (const [mi, mix] of mixes.entries()) {
          // Alternate the order from one mix to the next, so that no server always goes first.
          const order = (mi + round) % 2 === 0 ? servers : [...servers].reverse();
          for (const kind of order) {
            const s = running.get(kind)!;
            const [probeName, probeType] = queries(mix, n)[0]!.split(' ') as [string, string];
            const probe = await ask(s.port, probeName, probeType);
            const want = expected[mix];
            if (!probe || rcodeOf(probe) !== want.rcode || probe.answers!.length !== want.answers || (probe.additionals?.length ?? 0) !== want.additionals) {
              throw new Error(`${kind} answered ${probeName} ${probeType} with ${probe ? `${rcodeOf(probe)}, ${probe.answers?.length} answers, ${probe.additionals?.length} additionals` : 'nothing'}; expected ${JSON.stringify(want)}`);
            }
            if (warmup > 0) await dnsperf(s, files.get(mix)!, warmup, { verbose: false }, join(dir, 'warmup.txt'));
            log(`${n} services, ${mix}, ${kind}: saturating for ${duration} s`);
            let changing = churn(kc, churnMs);
            const saturated = await dnsperf(s, files.get(mix)!, duration, { verbose: true }, join(dir, 'perf.txt'));
            const changes = await changing.stop();
            log(`  ${fmt(saturated.qps)} QPS on ${fmt(saturated.serverCores, 2)} cores, p50 ${fmt(saturated.p50, 2)} ms, p99 ${fmt(saturated.p99, 2)} ms, lost ${saturated.lost}; dnsperf ${fmt(saturated.clientCores, 2)} cores${churnMs ? `; ${changes} EndpointSlice changes` : ''}`);
            changing = churn(kc, churnMs);
            const fixed = await dnsperf(s, files.get(mix)!, duration, { verbose: true, rate }, join(dir, 'perf.txt'));
            await changing.stop();
            log(`  at ${rate} QPS: p50 ${fmt(fixed.p50, 2)} ms, p99 ${fmt(fixed.p99, 2)} ms, lost ${fixed.lost}`);
            rows.push({ services: n, server: kind, mix, round, saturated, fixed });
          }
        }
      }
      for (const m of memory) if (m.services === n) m.rssAfterMiB = rssMiB(running.get(m.server)!.proc.pid!);
    } finally {
      for (const s of running.values()) await s.stop();
    }
  }
  console.log(report());
  if (values.json) writeFileSync(values.json, JSON.stringify({ rows, memory, base: Object.fromEntries(base), churnMs, duration, clients, outstanding, rate, pinned: values.pin }, null, 2));
} finally {
  stopAll();
  await cp?.stop();
  // The state dump, query files and dnsperf output (tens of MB at 10 000 services).
  if (dir) rmSync(dir, { recursive: true, force: true });
}

// What the kube-proxy benchmarks (sync.ts, modes.ts) share: the generated cluster state
// (N ClusterIP Services, service i with 2 + i % 9 endpoints), loading it into the local
// API server, svclab's bundle, starting svclab's or upstream's proxy in a node network
// namespace, reading the proxy's own /metrics from inside that namespace, and formatting.
import { CoreV1Api, DiscoveryV1Api, type KubeConfig, type V1EndpointSlice, type V1Service } from '@kubernetes/client-node';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { bundleEntry } from '../../runner/images/components.ts';
import type { ControlPlane } from '../../tests/support/control-plane.ts';
import type { NetnsLab, Netns } from '../../tests/support/netns.ts';
import { pool } from '../../tests/support/pool.ts';
import { startUpstreamProxy } from '../../tests/integration/proxy/upstream.ts';

export const root = new URL('../..', import.meta.url).pathname;
export const NODE_NAME = 'node-a';
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- the state: service i has 2 + i % 9 endpoints (2–10, 6 on average) ----

export const serviceIP = (i: number) => `10.96.${100 + Math.floor(i / 250)}.${(i % 250) + 1}`;
export const podIP = (i: number, k: number) => `10.${64 + k}.${Math.floor(i / 250)}.${(i % 250) + 1}`;
export const endpointCount = (i: number) => 2 + (i % 9);

export function service(i: number): V1Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'bench', name: `s${i}` }, spec: { clusterIP: serviceIP(i), ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 }] } };
}

/** Service i's one slice; `extra` adds one more endpoint (the changes the benchmarks time). */
export function slice(i: number, extra = false): V1EndpointSlice {
  const n = endpointCount(i) + (extra ? 1 : 0);
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { namespace: 'bench', name: `s${i}-1`, labels: { 'kubernetes.io/service-name': `s${i}` } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: Array.from({ length: n }, (_, k) => ({ addresses: [podIP(i, k)], nodeName: k === 0 ? NODE_NAME : 'node-b', conditions: { ready: true } })),
  };
}

export const benchNode = (nodeIP: string) => ({ apiVersion: 'v1', kind: 'Node', metadata: { name: NODE_NAME }, status: { addresses: [{ type: 'InternalIP', address: nodeIP }] } });

/** The namespace `bench` and this node (with its address) in a fresh API server. */
export async function prepareApi(cp: ControlPlane, nodeIP: string): Promise<void> {
  const node = benchNode(nodeIP);
  await cp.kubectl(['create', 'namespace', 'bench']);
  await cp.kubectl(['create', '-f', '-'], JSON.stringify({ ...node, status: undefined }));
  await cp.kubectl(['patch', 'node', NODE_NAME, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: node.status })]);
}

/** Creates services [from, to) and their slices straight through the API (kubectl is one request at a time); returns ms. */
export async function loadServices(kc: KubeConfig, from: number, to: number): Promise<number> {
  const core = kc.makeApiClient(CoreV1Api);
  const discovery = kc.makeApiClient(DiscoveryV1Api);
  const t0 = performance.now();
  const ids = Array.from({ length: Math.max(0, to - from) }, (_, k) => from + k);
  await pool(ids, 32, async (i) => {
    await core.createNamespacedService({ namespace: 'bench', body: service(i) });
    await discovery.createNamespacedEndpointSlice({ namespace: 'bench', body: slice(i) });
  });
  return performance.now() - t0;
}

// ---- svclab's bundle ----

/**
 * svclab's in-cluster bundle (what the DaemonSet runs), built into a temporary directory:
 * from the working tree, or from a commit's files alone (`git archive`), so that the
 * figures belong to that commit and not to whatever else is being edited meanwhile.
 */
export async function bundleSvclab(commit?: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'svclab-bench-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  let src = root;
  if (commit) {
    src = join(dir, 'src');
    mkdirSync(src);
    const archive = spawnSync('sh', ['-c', 'git -C "$1" archive "$2" | tar -x -C "$3"', 'sh', root, commit, src], { encoding: 'utf8' });
    if (archive.status !== 0) throw new Error(`git archive ${commit}: ${archive.stderr.trim()}`);
    symlinkSync(join(root, 'node_modules'), join(src, 'node_modules'));
  }
  const out = await bundleEntry(join(src, 'components/kube-proxy/main.ts'), join(dir, 'kube-proxy.js'));
  if (commit) rmSync(src, { recursive: true, force: true });
  return out;
}

/** The commit HEAD names and whether the working tree differs from it. */
export function gitDescribe(): { commit: string; dirty: boolean } {
  const commit = spawnSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim();
  const status = spawnSync('git', ['-C', root, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).stdout.trim();
  return { commit, dirty: status !== '' };
}

// ---- one proxy process in a node namespace ----

export type ProxyName = 'svclab' | 'upstream';
export type Backend = 'nft' | 'legacy';

export interface StartedProxy {
  pid: number;
  /** The last 3 000 characters it logged. */
  tail(): string;
  /** Calls fn with every line it logs from now on; returns the unsubscribe function. */
  onLine(fn: (line: string) => void): () => void;
  stop(): Promise<void>;
}

/**
 * Starts svclab's bundle or upstream kube-proxy in `ns` (healthz on 127.0.0.1:10256, metrics
 * on 127.0.0.1:10249 inside it) against the local API server, with the same flags.
 */
export async function startProxy(lab: NetnsLab, ns: Netns, cp: ControlPlane, o: { proxy: ProxyName; bundle: string; mode: string; backend: Backend; flags: string[] }): Promise<StartedProxy> {
  const listeners = new Set<(line: string) => void>();
  let tail = '';
  let buf = '';
  const onData = (d: Buffer) => {
    buf += d.toString();
    tail = (tail + d.toString()).slice(-3000);
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      for (const fn of listeners) fn(line);
    }
  };
  const flags = [`--proxy-mode=${o.mode}`, ...o.flags];
  let pid: number;
  let stop: () => Promise<void>;
  if (o.proxy === 'upstream') {
    // startUpstreamProxy passes --proxy-mode=iptables first; a later --proxy-mode wins (pflag keeps the last value).
    const up = await startUpstreamProxy(lab, ns, cp, flags, { backend: o.backend });
    up.child.stderr!.on('data', onData);
    pid = up.child.pid!;
    stop = () => up.stop();
  } else {
    await lab.forwardLoopbackPort(ns, cp.port);
    const child = ns.spawn([process.execPath, o.bundle, `--kubeconfig=${cp.kubeconfig}`, '--healthz-bind-address=127.0.0.1:10256', '--metrics-bind-address=127.0.0.1:10249', ...flags]);
    child.stderr!.on('data', onData);
    pid = child.pid!;
    stop = async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await Promise.race([new Promise((r) => child.once('exit', r)), sleep(10_000)]);
    };
  }
  return {
    pid,
    tail: () => tail,
    onLine: (fn) => {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    stop,
  };
}

/** VmRSS and VmHWM of a process, MiB. */
export function memory(pid: number): { rss: number; peak: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
  } catch {
    return null;
  }
}

// ---- the proxy's own metrics, read inside the node ----

/** Inside the node: reads the proxy's /metrics on demand, or polls it until a sync newer than a timestamp. */
const PROBE = String.raw`
import http from 'node:http'; import { createInterface } from 'node:readline';
const agent = new http.Agent({ keepAlive: true });
const get = () => new Promise((resolve) => {
  const r = http.get({ host: '127.0.0.1', port: 10249, path: '/metrics', agent }, (res) => { let b = ''; res.on('data', (d) => (b += d)); res.on('end', () => resolve(b)); });
  r.on('error', () => resolve('')); r.setTimeout(10000, () => r.destroy());
});
const value = (lines, name, ...labels) => {
  const l = lines.find((l) => (l.startsWith(name + '{') || l.startsWith(name + ' ')) && labels.every((x) => l.includes(x)));
  return l === undefined ? null : Number(l.slice(l.lastIndexOf(' ') + 1));
};
const read = async () => {
  const lines = (await get()).split('\n').filter((l) => !l.startsWith('#'));
  const v4 = 'ip_family="IPv4"';
  return {
    fullCount: value(lines, 'kubeproxy_sync_full_proxy_rules_duration_seconds_count', v4),
    fullSum: value(lines, 'kubeproxy_sync_full_proxy_rules_duration_seconds_sum', v4),
    last: value(lines, 'kubeproxy_sync_proxy_rules_last_timestamp_seconds', v4),
    partialCount: value(lines, 'kubeproxy_sync_partial_proxy_rules_duration_seconds_count', v4),
    partialSum: value(lines, 'kubeproxy_sync_partial_proxy_rules_duration_seconds_sum', v4),
    allCount: value(lines, 'kubeproxy_sync_proxy_rules_duration_seconds_count', v4),
    allSum: value(lines, 'kubeproxy_sync_proxy_rules_duration_seconds_sum', v4),
    natRules: value(lines, 'kubeproxy_sync_proxy_rules_iptables_total', v4, 'table="nat"'),
  };
};
createInterface({ input: process.stdin }).on('line', async (line) => {
  const [cmd, arg, limit] = line.split(' ');
  if (cmd === 'read') { console.log(JSON.stringify(await read())); return; }
  const deadline = Date.now() + Number(limit);
  for (;;) {
    const m = await read();
    if ((m.last ?? 0) > Number(arg) || Date.now() > deadline) { console.log(JSON.stringify(m)); return; }
    await new Promise((r) => setTimeout(r, 5));
  }
});
console.log('ready');`;

/** The kubeproxy_* metrics the benchmarks read (IPv4); null where the proxy has none. */
export interface Metrics {
  fullCount: number | null;
  fullSum: number | null;
  last: number | null;
  partialCount: number | null;
  partialSum: number | null;
  /** kubeproxy_sync_proxy_rules_duration_seconds: every sync, full or partial. */
  allCount: number | null;
  allSum: number | null;
  natRules: number | null;
}

export class MetricsProbe {
  private readonly lines: string[] = [];
  private waiting: ((l: string) => void) | null = null;
  private readonly stdin: NodeJS.WritableStream | null;
  private exited: string | null = null;

  constructor(lab: NetnsLab, ns: Netns) {
    const child = spawn(ns.prefix[0]!, [...ns.prefix.slice(1), process.execPath, '--input-type=module', '-e', PROBE], { stdio: ['pipe', 'pipe', 'inherit'] });
    lab.track(child);
    this.stdin = child.stdin;
    child.once('exit', (code) => {
      this.exited = `the metrics probe exited (${code})`;
      this.waiting?.('');
    });
    createInterface({ input: child.stdout! }).on('line', (l) => {
      if (this.waiting) {
        const w = this.waiting;
        this.waiting = null;
        w(l);
      } else this.lines.push(l);
    });
  }

  private async next(): Promise<string> {
    const l = this.lines.shift() ?? (this.exited ? '' : await new Promise<string>((r) => (this.waiting = r)));
    if (this.exited && !l) throw new Error(this.exited);
    return l;
  }

  ready = () => this.next();

  async read(): Promise<Metrics> {
    this.stdin!.write('read\n');
    return JSON.parse(await this.next()) as Metrics;
  }

  /** Polls /metrics (every 5 ms, in the node) until the last sync is newer than `after` (seconds). */
  async syncAfter(after: number, limitMs: number): Promise<Metrics> {
    this.stdin!.write(`wait ${after} ${limitMs}\n`);
    return JSON.parse(await this.next()) as Metrics;
  }

  /**
   * Waits (bounded) for the first full sync and returns the metrics then, or null. A mode
   * without the full/partial split (upstream IPVS) counts every sync as full.
   */
  async firstFullSync(limitMs: number): Promise<Metrics | null> {
    const deadline = Date.now() + limitMs;
    const done = (m: Metrics) => ((m.fullCount ?? m.allCount) ?? 0) >= 1;
    let m = await this.read();
    while (!done(m) && Date.now() < deadline) {
      await sleep(200);
      m = await this.read();
    }
    return done(m) ? m : null;
  }
}

// ---- formatting ----

export const fmt = (ms: number | null | undefined) => (ms === null || ms === undefined ? '–' : ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(0)} ms`);

/** The lower median of the numbers among xs (nulls are left out), or null. */
export function median(xs: (number | null)[]): number | null {
  const ok = xs.filter((x): x is number => x !== null).sort((a, b) => a - b);
  return ok.length ? ok[Math.floor((ok.length - 1) / 2)]! : null;
}

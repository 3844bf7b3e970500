// Benchmark: svclab's kube-proxy next to upstream kube-proxy v1.34.4, as each really runs —
// one process in a fresh network namespace (a "node" with kubelet's chains), reading the
// same objects from the same local API server — on iptables-nft and iptables-legacy, at
// 10 / 100 / 1 000 / 10 000 ClusterIP services with 2–10 endpoints each. Per proxy and
// backend: the first full sync (the proxy's own kubeproxy_sync_full_proxy_rules_duration_seconds),
// resident memory after it, and the latency from an EndpointSlice change (an endpoint added,
// then removed again) to the rule being in place. svclab's render time is measured in-process.
//
//   npx tsx bench/proxy/sync.ts [--sizes 10,100,1000,10000] [--backends nft,legacy]
//     [--proxies svclab,upstream] [--sync-timeout 600] [--changes 3] [--json out.json]
//     [--svclab-bundle path/to/kube-proxy.js]
//
// Needs root (network namespaces) and the binaries the integration tests use. Every run is
// bounded by --sync-timeout seconds; a size that does not finish is reported as such. For
// each size and backend the svclab and upstream runs come back to back, so both see the
// same machine load. Progress goes to stderr, the Markdown tables to stdout; the figures
// and how they were taken are in bench/proxy/README.md.
import { CoreV1Api, DiscoveryV1Api, type KubeConfig, type V1EndpointSlice, type V1Service } from '@kubernetes/client-node';
import { bundleEntry } from '../../runner/images/components.ts';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { endpointChainName, servicePortChains } from '../../runner/core/proxy/chains.ts';
import { DEFAULT_SETTINGS } from '../../runner/core/proxy/options.ts';
import { renderSnapshot } from '../../runner/core/proxy/snapshot.ts';
import { loadKubeConfig } from '../../runner/kube/client.ts';
import { KUBELET_RULES, NetnsLab, type Netns } from '../../tests/support/netns.ts';
import { controlPlaneUnavailable, startControlPlane, type ControlPlane } from '../../tests/support/control-plane.ts';
import { startUpstreamProxy } from '../../tests/integration/proxy/upstream.ts';
import { pool } from '../../tests/support/pool.ts';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10,100,1000,10000' },
    backends: { type: 'string', default: 'nft,legacy' },
    proxies: { type: 'string', default: 'svclab,upstream' },
    'sync-timeout': { type: 'string', default: '600' },
    changes: { type: 'string', default: '3' },
    json: { type: 'string' },
    'svclab-bundle': { type: 'string' },
  },
});
const sizes = values.sizes!.split(',').map(Number);
const backends = values.backends!.split(',') as ('nft' | 'legacy')[];
const proxies = values.proxies!.split(',') as ('svclab' | 'upstream')[];
const syncTimeoutMs = Number(values['sync-timeout']) * 1000;
const changes = Number(values.changes);
const root = new URL('../..', import.meta.url).pathname;
const CLUSTER_CIDR = '10.64.0.0/10';
const NODE_IP = '192.168.8.2';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- the state: service i has 2 + i % 9 endpoints (2–10, 6 on average) ----

const serviceIP = (i: number) => `10.96.${100 + Math.floor(i / 250)}.${(i % 250) + 1}`;
const podIP = (i: number, k: number) => `10.${64 + k}.${Math.floor(i / 250)}.${(i % 250) + 1}`;
const endpointCount = (i: number) => 2 + (i % 9);

function service(i: number): V1Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'bench', name: `s${i}` }, spec: { clusterIP: serviceIP(i), ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 }] } };
}

function slice(i: number, extra = false): V1EndpointSlice {
  const n = endpointCount(i) + (extra ? 1 : 0);
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { namespace: 'bench', name: `s${i}-1`, labels: { 'kubernetes.io/service-name': `s${i}` } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: Array.from({ length: n }, (_, k) => ({ addresses: [podIP(i, k)], nodeName: k === 0 ? 'node-a' : 'node-b', conditions: { ready: true } })),
  };
}

const node = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a' }, status: { addresses: [{ type: 'InternalIP', address: NODE_IP }] } };


/** Creates services [from, to) and their slices straight through the API (kubectl is one request at a time). */
async function load(kc: KubeConfig, from: number, to: number): Promise<number> {
  const core = kc.makeApiClient(CoreV1Api);
  const discovery = kc.makeApiClient(DiscoveryV1Api);
  const t0 = performance.now();
  const ids = Array.from({ length: to - from }, (_, k) => from + k);
  await pool(ids, 32, async (i) => {
    await core.createNamespacedService({ namespace: 'bench', body: service(i) });
    await discovery.createNamespacedEndpointSlice({ namespace: 'bench', body: slice(i) });
  });
  return performance.now() - t0;
}

// ---- one proxy on one backend ----

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

interface Metrics {
  fullCount: number | null;
  fullSum: number | null;
  last: number | null;
  partialCount: number | null;
  partialSum: number | null;
  natRules: number | null;
}

class Probe {
  private readonly lines: string[] = [];
  private waiting: ((l: string) => void) | null = null;
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
  private readonly stdin: NodeJS.WritableStream | null;
  private exited: string | null = null;
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
}

interface Result {
  /** ms; null when it did not finish within the bound. */
  fullSync: number | null;
  natRules: number | null;
  rssMiB: number | null;
  peakMiB: number | null;
  /** ms, one per change; null entries did not land within the bound. */
  latencies: (number | null)[];
  /** ms, per change: the partial sync itself (the proxy's own duration metric), when exactly one ran. */
  syncTimes: (number | null)[];
  note?: string;
}

function memory(pid: number): { rss: number; peak: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
  } catch {
    return null;
  }
}

async function measure(cp: ControlPlane, kc: KubeConfig, bundle: string, proxy: 'svclab' | 'upstream', backend: 'nft' | 'legacy', n: number): Promise<Result> {
  const lab = new NetnsLab('kpb');
  try {
    const ns = await lab.netns('n');
    const peer = await lab.netns('p');
    await lab.link(ns, 'eth0', `${NODE_IP}/24`, peer, 'eth0', '192.168.8.1/24');
    await ns.exec([`iptables-${backend}-restore`, '--noflush'], { input: KUBELET_RULES });
    const probe = new Probe(lab, ns);
    await probe.ready();
    const flags = ['--hostname-override=node-a', `--cluster-cidr=${CLUSTER_CIDR}`];
    let pid: number;
    let stop: () => Promise<void>;
    let log = '';
    if (proxy === 'upstream') {
      const up = await startUpstreamProxy(lab, ns, cp, flags, { backend });
      pid = up.child.pid!;
      stop = () => up.stop();
      up.child.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-3000)));
    } else {
      await lab.forwardLoopbackPort(ns, cp.port);
      const child = ns.spawn([process.execPath, bundle, `--kubeconfig=${cp.kubeconfig}`, '--healthz-bind-address=127.0.0.1:10256', '--metrics-bind-address=127.0.0.1:10249', ...flags]);
      child.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-3000)));
      pid = child.pid!;
      stop = async () => {
        child.kill('SIGTERM');
        await Promise.race([new Promise((r) => child.once('exit', r)), sleep(10_000)]);
      };
    }
    try {
      // The first full sync: the proxy's own measure of it, once it has happened.
      const deadline = Date.now() + syncTimeoutMs;
      let m: Metrics = await probe.read();
      while (!(m.fullCount && m.fullCount >= 1) && Date.now() < deadline) {
        await sleep(200);
        m = await probe.read();
      }
      if (!(m.fullCount && m.fullCount >= 1)) {
        const mem = memory(pid);
        return { fullSync: null, natRules: null, rssMiB: mem?.rss ?? null, peakMiB: mem?.peak ?? null, latencies: [], syncTimes: [], note: `no full sync within ${syncTimeoutMs / 1000} s` };
      }
      const fullSync = m.fullSum! * 1000;
      const natRules = m.natRules;
      const mem = memory(pid);

      // Change → rule in place: one endpoint added to a slice, then removed again (the
      // state is as it was for the next proxy). The proxies rate-limit syncs to one per
      // --iptables-min-sync-period (1 s): each change comes when the last sync is older.
      const latencies: (number | null)[] = [];
      const syncTimes: (number | null)[] = [];
      const discovery = kc.makeApiClient(DiscoveryV1Api);
      for (let c = 0; c < changes; c++) {
        const i = Math.floor(((c + 0.5) * n) / changes);
        for (const add of [true, false]) {
          await sleep(1500);
          const m0 = await probe.read();
          const before = m0.last ?? 0;
          const t0 = Date.now();
          await discovery.replaceNamespacedEndpointSlice({ name: `s${i}-1`, namespace: 'bench', body: slice(i, add) });
          const after = await probe.syncAfter(before, syncTimeoutMs);
          if (!after.last || after.last <= before) {
            latencies.push(null);
            syncTimes.push(null);
            continue;
          }
          // The rule really is in place (or gone): the service chain's jump to the new
          // endpoint's chain. (Above 1 000 endpoints both proxies leave an unreferenced
          // KUBE-SEP chain behind until the next cleanup, as upstream does.)
          const sep = endpointChainName(`bench/s${i}:http`, 'tcp', `${podIP(i, endpointCount(i))}:8080`);
          const svc = servicePortChains(`bench/s${i}:http`, 'tcp').svc;
          const listed = await ns.exec([`iptables-${backend}`, '-w', '5', '-t', 'nat', '-S', svc], { allowFail: true, timeoutMs: 600_000 });
          const there = listed.stdout.includes(`-j ${sep}`);
          if (there !== add) throw new Error(`${proxy}/${backend}: after the sync, ${svc} ${there ? 'still jumps' : 'does not jump'} to ${sep}`);
          latencies.push(after.last * 1000 - t0);
          const oneSync = after.partialCount !== null && m0.partialCount !== null && after.partialCount === m0.partialCount + 1;
          syncTimes.push(oneSync ? (after.partialSum! - m0.partialSum!) * 1000 : null);
        }
      }
      const end = memory(pid);
      return { fullSync, natRules, rssMiB: mem?.rss ?? null, peakMiB: end?.peak ?? mem?.peak ?? null, latencies, syncTimes };
    } catch (err) {
      throw new Error(`${proxy}/${backend} at ${n}: ${(err as Error).message}; log: ${log.slice(-1000)}`);
    } finally {
      await stop();
    }
  } finally {
    await lab.dispose();
  }
}

/** svclab's in-cluster bundle (what the DaemonSet runs), built from this tree into a temporary directory. */
async function bundleSvclab(): Promise<string> {
  return bundleEntry(join(root, 'components/kube-proxy/main.ts'), join(mkdtempSync(join(tmpdir(), 'svclab-bench-')), 'kube-proxy.js'));
}

// ---- the run ----

const missing = controlPlaneUnavailable(['kube-proxy']);
if (missing) {
  console.error(`bench/proxy/sync.ts: ${missing}`);
  process.exit(1);
}
const bundle = values['svclab-bundle'] ?? (await bundleSvclab());
const cp = await startControlPlane();
const kc = loadKubeConfig(cp.kubeconfig);
const results: Record<string, unknown>[] = [];
const fmt = (ms: number | null | undefined) => (ms === null || ms === undefined ? '–' : ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(0)} ms`);
const median = (xs: (number | null)[]) => {
  const ok = xs.filter((x): x is number => x !== null).sort((a, b) => a - b);
  return ok.length ? ok[Math.floor((ok.length - 1) / 2)]! : null;
};
try {
  await cp.kubectl(['create', 'namespace', 'bench']);
  await cp.kubectl(['create', '-f', '-'], JSON.stringify({ ...node, status: undefined }));
  await cp.kubectl(['patch', 'node', 'node-a', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: node.status })]);
  let loaded = 0;
  for (const n of sizes) {
    const loadMs = await load(kc, loaded, n);
    loaded = Math.max(loaded, n);
    const objs = [node, ...Array.from({ length: n }, (_, i) => [service(i), slice(i)]).flat()];
    const times: number[] = [];
    let rules = 0;
    for (let k = 0; k < 3; k++) {
      const t0 = performance.now();
      const r = renderSnapshot(objs, { ...DEFAULT_SETTINGS, nodeName: 'node-a', clusterCIDRs: [CLUSTER_CIDR] }, () => {});
      times.push(performance.now() - t0);
      rules = r.natRulesTotal + r.filterRules;
    }
    const row: Record<string, unknown> = { services: n, endpoints: Array.from({ length: n }, (_, i) => endpointCount(i)).reduce((a, b) => a + b, 0), rules, renderMs: times.sort((a, b) => a - b)[1], loadMs };
    console.error(`# ${n} services loaded in ${fmt(loadMs)}; svclab renders ${rules} rules in ${fmt(row.renderMs as number)}`);
    for (const backend of backends) {
      for (const proxy of proxies) {
        const started = Date.now();
        const r = await measure(cp, kc, bundle, proxy, backend, n);
        row[`${proxy}/${backend}`] = r;
        console.error(`#   ${proxy}/${backend}: full sync ${r.fullSync === null ? r.note : fmt(r.fullSync)}, nat rules ${r.natRules}, RSS ${r.rssMiB?.toFixed(0)} MiB (peak ${r.peakMiB?.toFixed(0)}), change→rule ${r.latencies.map(fmt).join(' ')} (partial sync ${r.syncTimes.map(fmt).join(' ')}) [${((Date.now() - started) / 1000).toFixed(0)} s]`);
      }
    }
    results.push(row);
    if (values.json) writeFileSync(values.json, `${JSON.stringify(results, null, 2)}\n`);
  }
} finally {
  await cp.stop();
}

// Markdown: one table per backend.
for (const backend of backends) {
  console.log(`\n**iptables-${backend}**\n`);
  console.log('| services (endpoints) | svclab render | full sync: svclab | full sync: upstream | change → rule (median; of which the partial sync): svclab | upstream | RSS after sync: svclab | upstream |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const row of results) {
    const s = row[`svclab/${backend}`] as Result | undefined;
    const u = row[`upstream/${backend}`] as Result | undefined;
    const full = (r?: Result) => (!r ? '–' : r.fullSync === null ? `did not finish in ${syncTimeoutMs / 1000} s` : fmt(r.fullSync));
    const lat = (r?: Result) => (!r || r.fullSync === null ? '–' : `${fmt(median(r.latencies))} (${fmt(median(r.syncTimes))})`);
    const mem = (r?: Result) => (!r?.rssMiB ? '–' : `${r.rssMiB.toFixed(0)} MiB`);
    console.log(`| ${row.services} (${row.endpoints}) | ${fmt(row.renderMs as number)} | ${full(s)} | ${full(u)} | ${lat(s)} | ${lat(u)} | ${mem(s)} | ${mem(u)} |`);
  }
}

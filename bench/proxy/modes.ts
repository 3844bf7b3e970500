// Benchmark: every kube-proxy mode, svclab's next to upstream kube-proxy v1.34.4 in the
// same mode and the same run. Each proxy runs as one process in a fresh "node" network
// namespace with real pods around it (tests/integration/proxy/topology.ts), reading the
// same objects from one local API server: N ClusterIP Services with 2–10 endpoints each,
// plus one probe Service whose endpoints are real pods. Per mode, proxy and size:
//
//   - the first full sync, from the proxy's own kubeproxy_sync_full_proxy_rules_duration_seconds
//     (nftables mode has the same metric names upstream);
//   - what it wrote: nat + filter rules of iptables-save (iptables, userspace), rules and
//     set/map elements of `nft -j list table ip kube-proxy` (nftables);
//   - one endpoint added to (then removed from) a slice: the sync that follows
//     (kubeproxy_sync_proxy_rules_duration_seconds), and the time from the API write until
//     the rules (userspace: the proxy's endpoint list) show it;
//   - connect + first byte of fresh TCP connections from a pod to the probe's ClusterIP,
//     and the rate of a bulk TCP transfer through it;
//   - resident memory.
//
// IPVS is measured only where the kernel has it; otherwise its row says which check
// failed. Upstream has had no userspace mode since v1.26.
//
//   npx tsx bench/proxy/modes.ts [--modes iptables,nftables,userspace,ipvs] [--sizes 10,100,1000,10000]
//     [--proxies svclab,upstream] [--backend nft|legacy] [--sync-timeout 180] [--changes 2]
//     [--connections 200] [--transfer-seconds 2] [--json out.json]
//     [--svclab-commit HEAD | --svclab-working-tree | --svclab-bundle path/to/kube-proxy.js]
//
// Root; the binaries the integration tests use. Progress goes to stderr, Markdown tables
// to stdout; the figures and how they were taken are in bench/proxy/README.md.
import { DiscoveryV1Api, type KubeConfig } from '@kubernetes/client-node';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { endpointChainName, KUBE_SERVICES, servicePortChains } from '../../runner/core/proxy/chains.ts';
import { endpointNames, servicePortNames, TABLE } from '../../runner/core/proxy/nftables/names.ts';
import { KUBE_PORTALS_CONTAINER } from '../../runner/core/proxy/userspace/chains.ts';
import { loadKubeConfig } from '../../runner/kube/client.ts';
import { buildTopology, NODE_IP, PODS, type Topology } from '../../tests/integration/proxy/topology.ts';
import { controlPlaneUnavailable, startControlPlane, type ControlPlane } from '../../tests/support/control-plane.ts';
import { KUBELET_RULES, NetnsLab } from '../../tests/support/netns.ts';
import { BULK_PORT, bulkRate, firstByteTimes, quantile, startBulkServers } from './datapath.ts';
import { bundleSvclab, endpointCount, fmt, gitDescribe, loadServices, median, memory, MetricsProbe, podIP, prepareApi, slice, sleep, startProxy, type Backend, type Metrics, type ProxyName } from './harness.ts';
import { chainPosition, iptablesRuleCount, nftCounts } from './rules.ts';

const MODES = ['iptables', 'nftables', 'userspace', 'ipvs'] as const;
type Mode = (typeof MODES)[number];
const PROXIES = ['svclab', 'upstream'] as const;
const SCRIPT = 'bench/proxy/modes.ts';

function fail(message: string): never {
  console.error(`${SCRIPT}: ${message}`);
  process.exit(2);
}

function list<T extends string>(flag: string, value: string, allowed: readonly T[]): T[] {
  const items = value.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = items.find((s) => !(allowed as readonly string[]).includes(s));
  if (bad !== undefined || items.length === 0) fail(`--${flag} ${value}: expected a comma-separated list of ${allowed.join(', ')}`);
  return items as T[];
}

function positive(flag: string, value: string, integer = true): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) fail(`--${flag} ${value}: expected a positive ${integer ? 'whole ' : ''}number`);
  return n;
}

let values: ReturnType<typeof parse>['values'];
function parse() {
  return parseArgs({
    options: {
      modes: { type: 'string', default: MODES.join(',') },
      sizes: { type: 'string', default: '10,100,1000,10000' },
      proxies: { type: 'string', default: PROXIES.join(',') },
      backend: { type: 'string', default: 'nft' },
      'sync-timeout': { type: 'string', default: '180' },
      changes: { type: 'string', default: '2' },
      connections: { type: 'string', default: '200' },
      'transfer-seconds': { type: 'string', default: '2' },
      json: { type: 'string' },
      'svclab-commit': { type: 'string' },
      'svclab-working-tree': { type: 'boolean', default: false },
      'svclab-bundle': { type: 'string' },
    },
  });
}
try {
  values = parse().values;
} catch (err) {
  fail(`${(err as Error).message} (see the usage at the top of ${SCRIPT})`);
}
const modes = list('modes', values.modes!, MODES);
const proxies = list('proxies', values.proxies!, PROXIES);
const sizes = values.sizes!.split(',').map((s) => positive('sizes', s));
if (values.backend !== 'nft' && values.backend !== 'legacy') fail(`--backend ${values.backend}: expected nft or legacy (the iptables backend of the iptables and userspace modes)`);
const backend = values.backend as Backend;
const syncTimeoutMs = positive('sync-timeout', values['sync-timeout']!, false) * 1000;
const changes = positive('changes', values.changes!);
const connections = positive('connections', values.connections!);
const transferSeconds = positive('transfer-seconds', values['transfer-seconds']!, false);
if ([values['svclab-commit'], values['svclab-working-tree'] || undefined, values['svclab-bundle']].filter((v) => v !== undefined).length > 1) fail('give at most one of --svclab-commit, --svclab-working-tree and --svclab-bundle');

// Every address here is in it: the benchmark's endpoints (10.64–10.74), the topology's pods (10.244), so no pod traffic is masqueraded.
const CLUSTER_CIDR = '10.0.0.0/8';
/** The probe Service: real pods behind it. Its name sorts among the bench Services near the middle (svclab orders KUBE-SERVICES by name; upstream in map order). */
const NO_UPSTREAM_USERSPACE = 'upstream has no userspace mode since v1.26';
const PROBE = { name: 's5-probe', ip: '10.96.0.10', port: 80, targetPort: 8080 };

// ---- IPVS: only where the kernel has it ----

/** Why IPVS cannot be measured here (the checks and what they showed), or null when the kernel has it. */
function ipvsUnavailable(): string | null {
  if (existsSync('/proc/net/ip_vs')) return null;
  const found = ['no /proc/net/ip_vs'];
  try {
    const config = gunzipSync(readFileSync('/proc/config.gz')).toString();
    const line = /^(# CONFIG_IP_VS is not set|CONFIG_IP_VS=.*)$/m.exec(config)?.[1];
    if (line) found.push(`/proc/config.gz: "${line}"`);
    if (/^# CONFIG_MODULES is not set$/m.test(config)) found.push('"# CONFIG_MODULES is not set" (no module can be loaded)');
  } catch {
    // no kernel config to read
  }
  const ipvsadm = spawnSync('ipvsadm', ['-Ln'], { encoding: 'utf8' });
  if (!ipvsadm.error) found.push(`ipvsadm -Ln: "${(ipvsadm.stderr || ipvsadm.stdout).trim().split('\n')[0]}"`);
  return `not measurable here: no IP_VS in this kernel (${found.join('; ')})`;
}

// ---- one proxy in one mode ----

interface Change {
  /** ms from the API write to the proxy's last-sync timestamp passing it, the change verified in place; null: not within the bound. */
  latency: number | null;
  /** ms of the one sync that followed (kubeproxy_sync_proxy_rules_duration_seconds), and whether it was a full one. */
  sync: number | null;
  full: boolean;
  /** How many syncs ended between the write and the check, and their time together (ms). */
  syncs: number | null;
  syncsMs: number | null;
}

interface Result {
  note?: string;
  /** ms */
  fullSync: number | null;
  rules: string | null;
  /** The probe's rule in the chain the first packet walks (iptables: KUBE-SERVICES, userspace: KUBE-PORTALS-CONTAINER). */
  position: { position: number | null; of: number } | null;
  changes: Change[];
  /** ms, connect + first byte, one per connection. */
  firstByte: (number | null)[];
  /** MB/s, one per transfer. */
  rates: number[];
  dataErrors: string[];
  rssMiB: number | null;
  peakMiB: number | null;
  load: number;
  seconds: number;
}

const emptyResult = (note: string, load = loadavg()[0]!): Result => ({ note, fullSync: null, rules: null, position: null, changes: [], firstByte: [], rates: [], dataErrors: [], rssMiB: null, peakMiB: null, load, seconds: 0 });

async function countRules(mode: Mode, top: Topology): Promise<{ text: string | null; save: string | null }> {
  if (mode === 'nftables') {
    const r = await top.node.exec(['nft', '-j', 'list', 'table', 'ip', TABLE], { allowFail: true, timeoutMs: syncTimeoutMs });
    if (r.code !== 0) return { text: null, save: null };
    const c = nftCounts(r.stdout);
    return { text: `${c.rules} + ${c.elements}`, save: null };
  }
  const save = await top.node.exec([`iptables-${backend}-save`, '-t', 'nat'], { allowFail: true, timeoutMs: syncTimeoutMs });
  const filter = await top.node.exec([`iptables-${backend}-save`, '-t', 'filter'], { allowFail: true, timeoutMs: syncTimeoutMs });
  if (save.code !== 0 || filter.code !== 0) return { text: null, save: null };
  return { text: String(iptablesRuleCount(save.stdout) + iptablesRuleCount(filter.stdout)), save: save.stdout };
}

/** Whether the endpoint podIP(i, extra) is in service i's rules now (userspace: in the proxy's endpoint list, from its log). */
async function endpointPresent(mode: Mode, top: Topology, i: number, logged: string[]): Promise<boolean> {
  const endpoint = `${podIP(i, endpointCount(i))}:8080`;
  if (mode === 'iptables') {
    const sep = endpointChainName(`bench/s${i}:http`, 'tcp', endpoint);
    const listed = await top.node.exec([`iptables-${backend}`, '-w', '5', '-t', 'nat', '-S', servicePortChains(`bench/s${i}:http`, 'tcp').svc], { allowFail: true, timeoutMs: syncTimeoutMs });
    return listed.stdout.includes(`-j ${sep}`);
  }
  if (mode === 'nftables') {
    const chain = servicePortNames(`bench/s${i}`, 'http', 'tcp').clusterPolicy;
    const listed = await top.node.exec(['nft', 'list', 'chain', 'ip', TABLE, chain], { allowFail: true, timeoutMs: syncTimeoutMs });
    return listed.stdout.includes(endpointNames(`bench/s${i}`, 'http', 'tcp', endpoint).chain);
  }
  const last = logged.filter((l) => l.includes(`endpoints of bench/s${i}:http:`)).at(-1);
  if (last === undefined) throw new Error(`the userspace proxy logged no new endpoint list for bench/s${i}:http`);
  return last.includes(endpoint);
}

async function measure(cp: ControlPlane, kc: KubeConfig, bundle: string, proxy: ProxyName, mode: Mode, n: number): Promise<Result> {
  const started = Date.now();
  const load = loadavg()[0]!;
  const lab = new NetnsLab('kpm');
  try {
    const top = await buildTopology(lab);
    await top.node.exec([`iptables-${backend}-restore`, '--noflush'], { input: KUBELET_RULES });
    await startBulkServers(top.pods);
    const probe = new MetricsProbe(lab, top.node);
    await probe.ready();
    const running = await startProxy(lab, top.node, cp, { proxy, bundle, mode, backend, flags: ['--hostname-override=node-a', `--cluster-cidr=${CLUSTER_CIDR}`] });
    const logged: string[] = [];
    if (mode === 'userspace') running.onLine((l) => logged.push(l));
    try {
      const m = await probe.firstFullSync(syncTimeoutMs);
      if (!m) {
        const mem = memory(running.pid);
        return { ...emptyResult(`no full sync within ${syncTimeoutMs / 1000} s`, load), rssMiB: mem?.rss ?? null, peakMiB: mem?.peak ?? null, seconds: (Date.now() - started) / 1000 };
      }
      const fullSync = (m.fullSum ?? m.allSum!) * 1000;
      const mem = memory(running.pid);
      const rules = await countRules(mode, top);
      const position = rules.save === null ? null : chainPosition(rules.save, mode === 'userspace' ? KUBE_PORTALS_CONTAINER : KUBE_SERVICES, PROBE.ip, PROBE.port);

      // One endpoint added to a slice, then removed again (the state is as it was for the
      // next proxy). Syncs are rate-limited to one per --iptables-min-sync-period (1 s):
      // each change comes when the last sync is older.
      const discovery = kc.makeApiClient(DiscoveryV1Api);
      const measured: Change[] = [];
      for (let c = 0; c < changes; c++) {
        const i = Math.floor(((c + 0.5) * n) / changes);
        for (const add of [true, false]) {
          await sleep(1500);
          const m0: Metrics = await probe.read();
          const before = m0.last ?? 0;
          logged.length = 0;
          const t0 = Date.now();
          await discovery.replaceNamespacedEndpointSlice({ name: `s${i}-1`, namespace: 'bench', body: slice(i, add) });
          const after = await probe.syncAfter(before, syncTimeoutMs);
          if (!after.last || after.last <= before) {
            measured.push({ latency: null, sync: null, full: false, syncs: null, syncsMs: null });
            continue;
          }
          const there = await endpointPresent(mode, top, i, logged);
          if (there !== add) throw new Error(`after the sync, service s${i} ${there ? 'still has' : 'does not have'} endpoint ${podIP(i, endpointCount(i))}`);
          const syncs = after.allCount !== null && m0.allCount !== null ? after.allCount - m0.allCount : null;
          const syncsMs = syncs !== null ? (after.allSum! - m0.allSum!) * 1000 : null;
          measured.push({ latency: after.last * 1000 - t0, sync: syncs === 1 ? syncsMs : null, full: (after.fullCount ?? 0) > (m0.fullCount ?? 0), syncs, syncsMs });
        }
      }

      // Real packets from a pod through the probe's ClusterIP.
      const dataErrors: string[] = [];
      const firstByte = await firstByteTimes(top.podClient, PROBE.ip, PROBE.port, connections);
      const failed = firstByte.filter((x) => x === null).length;
      if (failed) dataErrors.push(`${failed} of ${firstByte.length} connections failed`);
      const rates: number[] = [];
      for (let k = 0; k < 3; k++) {
        const r = await bulkRate(top.podClient, PROBE.ip, BULK_PORT, transferSeconds);
        if (typeof r === 'number') rates.push(r);
        else dataErrors.push(`bulk transfer: ${r.error}`);
      }
      const end = memory(running.pid);
      return { fullSync, rules: rules.text, position, changes: measured, firstByte, rates, dataErrors, rssMiB: mem?.rss ?? null, peakMiB: end?.peak ?? mem?.peak ?? null, load, seconds: (Date.now() - started) / 1000 };
    } catch (err) {
      throw new Error(`${proxy}/${mode} at ${n}: ${(err as Error).message}; log: ${running.tail().slice(-1000)}`);
    } finally {
      await running.stop();
    }
  } finally {
    await lab.dispose();
  }
}

/** The same path without any kube-proxy: straight to a pod's address. */
async function directBaseline(): Promise<{ firstByte: (number | null)[]; rates: number[] }> {
  const lab = new NetnsLab('kpm');
  try {
    const top = await buildTopology(lab);
    await startBulkServers(top.pods);
    const firstByte = await firstByteTimes(top.podClient, PODS[0]!.ip, PROBE.targetPort, connections);
    const rates: number[] = [];
    for (let k = 0; k < 3; k++) {
      const r = await bulkRate(top.podClient, PODS[0]!.ip, BULK_PORT, transferSeconds);
      if (typeof r === 'number') rates.push(r);
    }
    return { firstByte, rates };
  } finally {
    await lab.dispose();
  }
}

// ---- the run ----

const missing = controlPlaneUnavailable(['kube-proxy']);
if (missing) fail(missing);
if (process.getuid?.() !== 0) fail('needs root (network namespaces, iptables, nft)');
/** This process and its parents (npx, tsx), which pgrep finds too. */
function ancestry(): Set<number> {
  const out = new Set<number>();
  for (let pid = process.pid; pid > 1 && !out.has(pid); ) {
    out.add(pid);
    try {
      pid = Number(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[1]);
    } catch {
      break;
    }
  }
  return out;
}
const mine = ancestry();
const others = spawnSync('pgrep', ['-f', 'bench/proxy/(sync|modes)\\.ts'], { encoding: 'utf8' }).stdout.split('\n').filter((p) => p && !mine.has(Number(p)));
const git = gitDescribe();
const source = values['svclab-bundle'] ? `bundle ${values['svclab-bundle']}` : values['svclab-working-tree'] ? `working tree at ${git.commit}${git.dirty ? ' with uncommitted changes' : ''}` : `commit ${values['svclab-commit'] ?? git.commit}`;
const bundle = values['svclab-bundle'] ?? (await bundleSvclab(values['svclab-working-tree'] ? undefined : (values['svclab-commit'] ?? 'HEAD')));
const ipvs = modes.includes('ipvs') ? ipvsUnavailable() : null;
const header = [
  `# ${new Date().toISOString()}, svclab ${source}, upstream kube-proxy v1.34.4, ${cpus().length} CPUs, iptables backend ${backend}`,
  `# load average at start: ${loadavg().map((x) => x.toFixed(2)).join(' ')}${others.length ? `; other proxy benchmarks running: pids ${others.join(' ')}` : ''}`,
];
for (const h of header) console.error(h);

const cp = await startControlPlane();
const kc = loadKubeConfig(cp.kubeconfig);
interface Row {
  services: number;
  endpoints: number;
  loadMs: number;
  results: Record<string, Result>;
}
const rows: Row[] = [];
let baseline: Awaited<ReturnType<typeof directBaseline>> | null = null;
const save = () => values.json && writeFileSync(values.json, `${JSON.stringify({ header, baseline, ipvs, rows }, null, 2)}\n`);
try {
  await prepareApi(cp, NODE_IP);
  await cp.kubectl(['create', '-f', '-'], JSON.stringify({
    apiVersion: 'v1',
    kind: 'List',
    items: [
      { apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'bench', name: PROBE.name }, spec: { clusterIP: PROBE.ip, ports: [{ name: 'http', port: PROBE.port, protocol: 'TCP', targetPort: PROBE.targetPort }, { name: 'bulk', port: BULK_PORT, protocol: 'TCP', targetPort: BULK_PORT }] } },
      {
        apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: 'IPv4',
        metadata: { namespace: 'bench', name: `${PROBE.name}-1`, labels: { 'kubernetes.io/service-name': PROBE.name } },
        ports: [{ name: 'http', port: PROBE.targetPort, protocol: 'TCP' }, { name: 'bulk', port: BULK_PORT, protocol: 'TCP' }],
        endpoints: PODS.map((p) => ({ addresses: [p.ip], nodeName: p.node, conditions: { ready: true } })),
      },
    ],
  }));
  baseline = await directBaseline();
  console.error(`# no kube-proxy, straight to a pod: first byte ${quantile(baseline.firstByte, 0.5)?.toFixed(2)} ms, ${median(baseline.rates)?.toFixed(0)} MB/s`);
  let loaded = 0;
  for (const n of sizes) {
    const loadMs = await loadServices(kc, loaded, n);
    loaded = Math.max(loaded, n);
    const row: Row = { services: n, endpoints: Array.from({ length: n }, (_, i) => endpointCount(i)).reduce((a, b) => a + b, 0), loadMs, results: {} };
    rows.push(row);
    console.error(`# ${n} services (+ the probe) loaded in ${fmt(loadMs)}; load average ${loadavg()[0]!.toFixed(2)}`);
    for (const mode of modes) {
      for (const proxy of proxies) {
        const key = `${proxy}/${mode}`;
        let r: Result;
        if (mode === 'ipvs' && ipvs) r = emptyResult(ipvs);
        else if (mode === 'ipvs') r = emptyResult('not measured: this kernel has IPVS, but this script does not run IPVS mode yet (it was written on a kernel without IP_VS, where that run could not be tried)');
        else if (mode === 'userspace' && proxy === 'upstream') r = emptyResult(NO_UPSTREAM_USERSPACE);
        else r = await measure(cp, kc, bundle, proxy, mode, n);
        row.results[key] = r;
        if (r.fullSync === null) console.error(`#   ${key}: ${r.note}${r.rssMiB ? `; RSS ${r.rssMiB.toFixed(0)} MiB` : ''}`);
        else console.error(`#   ${key}: full sync ${fmt(r.fullSync)}, rules ${r.rules}${r.position ? ` (probe at ${r.position.position} of ${r.position.of})` : ''}, changes ${r.changes.map((c) => `${fmt(c.latency)} (${c.syncs === 1 ? `sync ${fmt(c.sync)}` : `${c.syncs} syncs, ${fmt(c.syncsMs)}`}${c.full ? ', full' : ''})`).join(' ')}, first byte ${quantile(r.firstByte, 0.5)?.toFixed(2)} ms (p90 ${quantile(r.firstByte, 0.9)?.toFixed(2)}), ${r.rates.map((x) => x.toFixed(0)).join('/')} MB/s, RSS ${r.rssMiB?.toFixed(0)} MiB${r.dataErrors.length ? `; ${r.dataErrors.join('; ')}` : ''} [load ${r.load.toFixed(1)}, ${r.seconds.toFixed(0)} s]`);
        save();
      }
    }
  }
} finally {
  await cp.stop();
}
console.error(`# load average at the end: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);

// ---- Markdown: one table per mode, each cell "svclab / upstream" ----

const ms2 = (x: number | null) => (x === null ? '–' : `${x.toFixed(2)} ms`);
function cell(r: Result | undefined, what: (r: Result) => string): string {
  if (!r) return '–';
  if (r.note === NO_UPSTREAM_USERSPACE) return 'none (removed in v1.26)';
  if (r.fullSync === null) return r.note?.startsWith('no full sync') ? `did not finish in ${syncTimeoutMs / 1000} s` : '–';
  return what(r);
}
const pair = (row: Row, mode: Mode, what: (r: Result) => string) => proxies.map((p) => cell(row.results[`${p}/${mode}`], what)).join(' / ');

console.log(`\n${header.map((h) => h.replace(/^# /, '')).join('  \n')}  \nno kube-proxy, straight to a pod's address: first byte ${ms2(quantile(baseline?.firstByte ?? [], 0.5))}, ${median(baseline?.rates ?? [])?.toFixed(0) ?? '–'} MB/s`);
for (const mode of modes) {
  console.log(`\n**${mode}**${mode === 'ipvs' ? '' : ` (${proxies.join(' / ')})`}\n`);
  if (mode === 'ipvs') {
    console.log(ipvs ?? 'not measured (see above)');
    continue;
  }
  const upstreamNote = mode === 'userspace' && proxies.includes('upstream') ? ' Upstream: no userspace mode since v1.26.' : '';
  if (upstreamNote) console.log(`${upstreamNote.trim()}\n`);
  console.log('| services (endpoints) | full sync | rules | one-endpoint sync (change → in place), medians | first byte via ClusterIP, median (p90) | bulk TCP via ClusterIP | RSS after sync | load |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const row of rows) {
    const loads = proxies.map((p) => row.results[`${p}/${mode}`]).filter((r): r is Result => !!r && r.fullSync !== null).map((r) => r.load.toFixed(1));
    console.log(`| ${row.services} (${row.endpoints}) | ${pair(row, mode, (r) => fmt(r.fullSync))} | ${pair(row, mode, (r) => `${r.rules ?? '–'}${r.position?.position ? ` (probe: rule ${r.position.position} of ${r.position.of})` : ''}`)} | ${pair(row, mode, (r) => `${fmt(median(r.changes.map((c) => c.sync)))} (${fmt(median(r.changes.map((c) => c.latency)))})${mode !== 'userspace' && r.changes.some((c) => c.full) ? ' ‡' : ''}${r.changes.some((c) => c.syncs !== 1) ? ' §' : ''}`)} | ${pair(row, mode, (r) => `${ms2(quantile(r.firstByte, 0.5))} (${ms2(quantile(r.firstByte, 0.9))})${r.dataErrors.length ? ' †' : ''}`)} | ${pair(row, mode, (r) => (r.rates.length ? `${median(r.rates)!.toFixed(0)} MB/s` : '–'))} | ${pair(row, mode, (r) => (r.rssMiB ? `${r.rssMiB.toFixed(0)} MiB` : '–'))} | ${loads.join(' / ') || '–'} |`);
  }
}
console.log('\n† some connections or transfers failed (see the JSON / progress lines). ‡ at least one of the syncs after a change was a full sync. userspace: every sync counts as a full one in its metrics; an endpoint change only updates its balancer. § after at least one change more than one sync ended before the rules showed it (a sync already running when the change came); the sync time is the median of the changes followed by exactly one.');

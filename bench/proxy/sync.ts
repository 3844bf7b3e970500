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
import { DiscoveryV1Api, type KubeConfig } from '@kubernetes/client-node';
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { endpointChainName, servicePortChains } from '../../runner/core/proxy/chains.ts';
import { DEFAULT_SETTINGS } from '../../runner/core/proxy/options.ts';
import { renderSnapshot } from '../../runner/core/proxy/snapshot.ts';
import { loadKubeConfig } from '../../runner/kube/client.ts';
import { KUBELET_RULES, NetnsLab } from '../../tests/support/netns.ts';
import { controlPlaneUnavailable, startControlPlane, type ControlPlane } from '../../tests/support/control-plane.ts';
import { benchNode, bundleSvclab, endpointCount, fmt, loadServices, median, memory, MetricsProbe, podIP, prepareApi, service, sleep, slice, startProxy } from './harness.ts';

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
const CLUSTER_CIDR = '10.64.0.0/10';
const NODE_IP = '192.168.8.2';

// ---- one proxy on one backend ----

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

async function measure(cp: ControlPlane, kc: KubeConfig, bundle: string, proxy: 'svclab' | 'upstream', backend: 'nft' | 'legacy', n: number): Promise<Result> {
  const lab = new NetnsLab('kpb');
  try {
    const ns = await lab.netns('n');
    const peer = await lab.netns('p');
    await lab.link(ns, 'eth0', `${NODE_IP}/24`, peer, 'eth0', '192.168.8.1/24');
    await ns.exec([`iptables-${backend}-restore`, '--noflush'], { input: KUBELET_RULES });
    const probe = new MetricsProbe(lab, ns);
    await probe.ready();
    const flags = ['--hostname-override=node-a', `--cluster-cidr=${CLUSTER_CIDR}`];
    const running = await startProxy(lab, ns, cp, { proxy, bundle, mode: 'iptables', backend, flags });
    const pid = running.pid;
    try {
      // The first full sync: the proxy's own measure of it, once it has happened.
      const m = await probe.firstFullSync(syncTimeoutMs);
      if (!m) {
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
      throw new Error(`${proxy}/${backend} at ${n}: ${(err as Error).message}; log: ${running.tail().slice(-1000)}`);
    } finally {
      await running.stop();
    }
  } finally {
    await lab.dispose();
  }
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
try {
  await prepareApi(cp, NODE_IP);
  let loaded = 0;
  for (const n of sizes) {
    const loadMs = await loadServices(kc, loaded, n);
    loaded = Math.max(loaded, n);
    const objs = [benchNode(NODE_IP), ...Array.from({ length: n }, (_, i) => [service(i), slice(i)]).flat()];
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

// Benchmark: svclab's render time and full-sync apply time at 10/100/1000/10000 services
// (two endpoints each), next to upstream kube-proxy v1.34.4's full sync on the same state.
//   npx tsx bench/proxy/sync.ts [--sizes 10,100,1000,10000] [--upstream-max 1000] [--backend nft|legacy]
// Needs root (network namespaces); the upstream column needs the binaries the tests use.
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { DEFAULT_SETTINGS } from '../../runner/core/proxy/options.ts';
import { renderSnapshot } from '../../runner/core/proxy/snapshot.ts';
import type { EndpointSlice, Node, Service } from '../../runner/core/proxy/types.ts';
import type { KubeObject } from '../../runner/kube/state-file.ts';
import { prefixedExec } from '../../runner/proxy/exec.ts';
import { newIptables } from '../../runner/proxy/iptables.ts';
import { newNfacct } from '../../runner/proxy/nfacct.ts';
import { Proxier } from '../../runner/proxy/proxier.ts';
import { NetnsLab } from '../../tests/support/netns.ts';
import { controlPlaneUnavailable, startControlPlane, upstreamBinary, type ControlPlane } from '../../tests/support/control-plane.ts';
import { loadState } from '../../tests/integration/proxy/upstream.ts';

const { values } = parseArgs({ options: { sizes: { type: 'string', default: '10,100,1000,10000' }, 'upstream-max': { type: 'string', default: '1000' }, backend: { type: 'string', default: 'nft' } } });
const sizes = values.sizes!.split(',').map(Number);
const upstreamMax = Number(values['upstream-max']);
const backend = values.backend === 'legacy' ? 'legacy' : 'nft';

function state(n: number): KubeObject[] {
  const objs: KubeObject[] = [{ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a' }, status: { addresses: [{ type: 'InternalIP', address: '192.168.8.2' }] } } as KubeObject];
  objs.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bench' } } as KubeObject);
  for (let i = 0; i < n; i++) {
    const ip = `10.96.${100 + Math.floor(i / 250)}.${(i % 250) + 1}`;
    objs.push({ apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'bench', name: `s${i}` }, spec: { clusterIP: ip, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } } as KubeObject);
    objs.push({
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { namespace: 'bench', name: `s${i}-1`, labels: { 'kubernetes.io/service-name': `s${i}` } }, addressType: 'IPv4',
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      endpoints: [0, 1].map((k) => ({ addresses: [`10.${64 + k}.${Math.floor(i / 250)}.${(i % 250) + 1}`], nodeName: k ? 'node-b' : 'node-a' })),
    } as KubeObject);
  }
  return objs;
}

const settings = { ...DEFAULT_SETTINGS, nodeName: 'node-a', clusterCIDRs: ['10.64.0.0/10'], localAddresses: ['192.168.8.2'] };

/** svclab's first full sync in a fresh namespace: jump rules, nfacct counters, iptables-save, render, restore. */
async function fullSync(objs: KubeObject[]): Promise<number> {
  const lab = new NetnsLab('kpb');
  try {
    const ns = await lab.netns('n');
    const exec = prefixedExec(ns.prefix);
    let elapsed = NaN;
    const p = new Proxier({
      settings, node: objs[0] as Node, iptables: newIptables(exec, backend), exec, nfacct: newNfacct(exec),
      syncPeriodMs: 30_000, minSyncPeriodMs: 1000, log: () => {},
    });
    for (const o of objs) {
      if (o.kind === 'Service') p.onServiceUpdate(null, o as Service);
      else if (o.kind === 'EndpointSlice') p.onEndpointSliceUpdate(o as EndpointSlice, false);
    }
    await p.onServicesSynced();
    const t0 = performance.now();
    const ok = await p.onEndpointSlicesSynced();
    elapsed = performance.now() - t0;
    if (!ok) throw new Error('svclab full sync failed');
    return elapsed;
  } finally {
    await lab.dispose();
  }
}

function goDuration(s: string): number {
  const m = /^([\d.]+)(ns|µs|us|ms|s|m)$/.exec(s);
  if (!m) return NaN;
  return Number(m[1]) * { ns: 1e-6, µs: 1e-3, us: 1e-3, ms: 1, s: 1000, m: 60_000 }[m[2] as 'ms'];
}

async function upstreamSync(cp: ControlPlane, n: number): Promise<number> {
  const lab = new NetnsLab('kpb');
  try {
    const ns = await lab.netns('u');
    await lab.forwardLoopbackPort(ns, cp.port);
    const child = ns.spawn([upstreamBinary('kube-proxy'), `--kubeconfig=${cp.kubeconfig}`, '--proxy-mode=iptables', '--v=2', '--hostname-override=node-a', '--cluster-cidr=10.64.0.0/10',
      '--healthz-bind-address=127.0.0.1:10256', '--metrics-bind-address=127.0.0.1:10249', '--conntrack-max-per-core=0', '--conntrack-tcp-timeout-established=0', '--conntrack-tcp-timeout-close-wait=0']);
    return await new Promise<number>((resolve, reject) => {
      let buf = '';
      let sawServices = false;
      const timer = setTimeout(() => reject(new Error('upstream did not finish a full sync')), 600_000);
      child.stderr!.on('data', (d: Buffer) => {
        buf += d.toString();
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          const r = /"Reloading service iptables data" ipFamily="IPv4" numServices=(\d+)/.exec(line);
          if (r && Number(r[1]) >= n) sawServices = true;
          const done = /"SyncProxyRules complete" ipFamily="IPv4" elapsed="([^"]+)"/.exec(line);
          if (done && sawServices) {
            clearTimeout(timer);
            resolve(goDuration(done[1]!));
          }
        }
      });
    });
  } finally {
    await lab.dispose();
  }
}

const cp = controlPlaneUnavailable(['kube-proxy']) ? null : await startControlPlane();
try {
  console.log(`| services | svclab render | svclab full sync (iptables-${backend}) | upstream full sync (iptables-nft) |`);
  console.log('|---:|---:|---:|---:|');
  for (const n of sizes) {
    const objs = state(n);
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      renderSnapshot(objs, settings, () => {});
      times.push(performance.now() - t0);
    }
    const render = times.sort((a, b) => a - b)[1]!;
    const sync = await fullSync(objs);
    let up = '–';
    if (cp && n <= upstreamMax) {
      await loadState(cp, objs);
      up = `${(await upstreamSync(cp, n)).toFixed(0)} ms`;
    }
    console.log(`| ${n} | ${render.toFixed(1)} ms | ${sync.toFixed(0)} ms | ${up} |`);
  }
} finally {
  await cp?.stop();
}

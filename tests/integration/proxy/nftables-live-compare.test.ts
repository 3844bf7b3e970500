// Partial syncs, element diffs and stale-chain handling proven against upstream's: upstream
// kube-proxy v1.34.4 (--proxy-mode=nftables) and svclab's proxy in nftables mode
// (runProxy, its real sync loop) run side by side in two network namespaces against the
// same API server. After the start and after each change made through the API server, the
// ip and ip6 kube-proxy tables of both namespaces must become equal (nft list table, in
// normalizeListing's canonical form) — including the flushed chains of what was removed
// and their deletion by a later sync. Changes are spaced more than a second apart so that
// both proxies see the same stale chains age past upstream's one-second deletion delay.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { normalizeListing } from '../../../runner/core/proxy/nftables/listing.ts';
import { DEFAULT_SETTINGS } from '../../../runner/core/proxy/options.ts';
import { loadKubeConfig } from '../../../runner/kube/client.ts';
import { readStateFile } from '../../../runner/kube/state-file.ts';
import { prefixedExec } from '../../../runner/proxy/exec.ts';
import { runProxy, type RunningProxy } from '../../../runner/proxy/run.ts';
import { controlPlaneUnavailable, startControlPlane, type ControlPlane } from '../../support/control-plane.ts';
import { canUseNetns, NetnsLab, type Netns } from '../../support/netns.ts';
import { nftUnavailable } from '../../support/nft.ts';
import { loadState, startUpstreamProxy, type UpstreamProxy } from './upstream.ts';

const root = new URL('../../..', import.meta.url).pathname;
const missing = controlPlaneUnavailable(['kube-proxy']);
const skip = missing ? `upstream binaries missing: ${missing}` : !(await canUseNetns()) ? 'needs root and ip netns' : ((await nftUnavailable()) ?? false);
if (skip) console.log(`# skipping the live nftables comparison: ${skip}`);

const NODE_IP = '192.168.8.2';
let cp: ControlPlane;
let lab: NetnsLab;
let theirNs: Netns;
let ourNs: Netns;
let upstream: UpstreamProxy;
let ours: RunningProxy;
const logs: string[] = [];

async function tables(ns: Netns): Promise<string> {
  let out = '';
  for (const f of ['ip', 'ip6']) out += (await ns.exec(['nft', 'list', 'table', f, 'kube-proxy'], { allowFail: true })).stdout;
  return normalizeListing(out);
}

/** Waits until both namespaces hold the same tables, and they hold `expect`. */
async function converged(expect: RegExp, timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let theirs = '';
  let mine = '';
  for (;;) {
    [theirs, mine] = [await tables(theirNs), await tables(ourNs)];
    if (theirs === mine && expect.test(theirs)) return theirs;
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.equal(mine, theirs, `the tables did not converge (svclab log: ${logs.slice(-5).join(' | ')}; upstream log: ${upstream.tail().slice(-800)})`);
  assert.match(theirs, expect);
  return theirs;
}

const apply = (obj: object) => cp.kubectl(['apply', '-f', '-'], JSON.stringify(obj));
const slice = (name: string, svc: string, ips: [string, string][], port = 8080, portName = 'http') => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { namespace: 'shop', name, labels: { 'kubernetes.io/service-name': svc } },
  addressType: 'IPv4',
  ports: [{ name: portName, port, protocol: 'TCP' }],
  endpoints: ips.map(([ip, node]) => ({ addresses: [ip], nodeName: node, conditions: { ready: true } })),
});

before(async () => {
  if (skip) return;
  cp = await startControlPlane();
  await loadState(cp, await readStateFile(`${root}/tests/golden/proxy/overall/state.yaml`));
  lab = new NetnsLab('kpl');
  [theirNs, ourNs] = [await lab.netns('up'), await lab.netns('svl')];
  const peer = await lab.netns('peer');
  await lab.link(theirNs, 'eth0', `${NODE_IP}/24`, peer, 'eth0', '192.168.8.51/24');
  await lab.link(ourNs, 'eth0', `${NODE_IP}/24`, peer, 'eth1', '192.168.8.52/24');
  // A later --proxy-mode wins over the iptables one startUpstreamProxy passes first.
  upstream = await startUpstreamProxy(lab, theirNs, cp, ['--proxy-mode=nftables', '--hostname-override=node-a', '--cluster-cidr=10.244.0.0/16']);
  ours = await runProxy({
    kubeconfig: loadKubeConfig(cp.kubeconfig),
    settings: { ...DEFAULT_SETTINGS, nodeName: 'node-a', clusterCIDRs: ['10.244.0.0/16'] },
    proxyMode: 'nftables',
    syncPeriodMs: 30_000,
    minSyncPeriodMs: 1000,
    healthzBindAddress: '',
    metricsBindAddress: '',
    exec: prefixedExec(ourNs.prefix),
    nodeWaitMs: 10_000,
    log: (l) => logs.push(l),
  });
});

after(async () => {
  await ours?.stop();
  await upstream?.stop();
  await lab?.dispose();
  await cp?.stop();
});

const gap = () => new Promise((r) => setTimeout(r, 2500));

test('after the first sync, both nodes hold the same ip and ip6 tables', { skip, timeout: 60_000 }, async () => {
  await converged(/service-KHN6ECMT-shop\/web\/tcp\/http[\s\S]*table ip6 kube-proxy/);
});

test('a series of changes through the API server leaves the same tables after each partial sync', { skip, timeout: 180_000 }, async () => {
  const steps: [string, () => Promise<unknown>, RegExp][] = [
    ['an endpoint goes away', () => apply(slice('web-abc', 'web', [['10.244.1.5', 'node-b'], ['10.244.0.7', 'node-a']])), /numgen random mod 2 vmap \{ 0 : goto endpoint-\S+-shop\/web\/tcp\/http__10\.244\.0\.7\/8080/],
    ['an endpoint comes', () => apply(slice('web-abc', 'web', [['10.244.1.5', 'node-b'], ['10.244.0.7', 'node-a'], ['10.244.2.10', 'node-c']])), /10\.244\.2\.10:8080/],
    ['a Service is deleted', () => cp.kubectl(['delete', 'service', '-n', 'shop', 'np']), /^(?![\s\S]*10\.96\.10\.80 \. tcp)/],
    [
      'a Service with ClientIP affinity is added',
      async () => {
        await apply({ apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'shop', name: 'late' }, spec: { clusterIP: '10.96.10.200', sessionAffinity: 'ClientIP', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } });
        await apply(slice('late-1', 'late', [['10.244.1.70', 'node-b'], ['10.244.0.70', 'node-a']], 80));
      },
      /set affinity-\S+-shop\/late\/tcp\/http__10\.244\.0\.70\/80/,
    ],
    ['its affinity is switched off', () => cp.kubectl(['patch', 'service', '-n', 'shop', 'late', '--type=merge', '-p', '{"spec":{"sessionAffinity":"None"}}']), /^(?![\s\S]*affinity-\S+-shop\/late)/],
    ['a Service loses all its endpoints', () => apply(slice('web-abc', 'web', [])), /10\.96\.10\.10 \. tcp \. 80 comment "shop\/web:http" : goto reject-chain/],
    ['another Service changes, seconds later: the stale chains go', () => apply({ ...slice('dns-1', 'dns', [['10.244.0.11', 'node-a'], ['10.244.1.12', 'node-b'], ['10.244.2.13', 'node-c']], 5353, ''), ports: [{ name: '', port: 5353, protocol: 'UDP' }] }), /^(?![\s\S]*chain endpoint-\S+-shop\/web\/)[\s\S]*10\.244\.2\.13:5353/],
  ];
  for (const [what, change, expect] of steps) {
    await gap();
    await change();
    await converged(expect).catch((err: Error) => {
      throw new Error(`after "${what}": ${err.message}`);
    });
  }
});

// Real packets through the nftables table svclab's proxy writes in nftables mode, run as
// it really runs (runProxy: informers against a real kube-apiserver, the sync loop, the
// health and metrics servers), programming a network-namespace node (see topology.ts).
// Objects change through the API server, as they would in a cluster.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, test } from 'node:test';
import { DEFAULT_SETTINGS } from '../../../runner/core/proxy/options.ts';
import { loadKubeConfig } from '../../../runner/kube/client.ts';
import type { KubeObject } from '../../../runner/kube/state-file.ts';
import { prefixedExec } from '../../../runner/proxy/exec.ts';
import { nftablesMode } from '../../../runner/proxy/nftables/mode.ts';
import { runProxy, type RunningProxy } from '../../../runner/proxy/run.ts';
import { controlPlaneUnavailable, startControlPlane, type ControlPlane } from '../../support/control-plane.ts';
import { canUseNetns, NetnsLab } from '../../support/netns.ts';
import { nftUnavailable } from '../../support/nft.ts';
import { buildTopology, CLIENT_IP, CLUSTER_CIDR, endpoints, NODE_IP, PODS, POD_CLIENT_IP, svc, tally, type Topology } from './topology.ts';
import { loadState } from './upstream.ts';

const MIN_SYNC_MS = 1000;
const SYNC_PERIOD_MS = 5000;
const missing = controlPlaneUnavailable();
const skip = missing ? `needs the Kubernetes binaries: ${missing}` : !(await canUseNetns()) ? 'needs root and ip netns' : ((await nftUnavailable()) ?? false);
if (skip) console.log(`# skipping the nftables data-path tests: ${skip}`);

let cp: ControlPlane;
let lab: NetnsLab;
let top: Topology;
let proxy: RunningProxy;
let healthPort = 0;
let metricsPort = 0;
const logs: string[] = [];

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; proxy log: ${logs.slice(-8).join(' | ')}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

const nftList = async (...what: string[]) => (await top.node.exec(['nft', 'list', ...what])).stdout;

const services = [
  svc('web', '10.96.0.10'),
  svc('np', '10.96.0.20', (s) => { s.spec!.type = 'NodePort'; s.spec!.ports![0]!.nodePort = 30080; }),
  svc('np-local', '10.96.0.30', (s) => { s.spec!.type = 'NodePort'; s.spec!.externalTrafficPolicy = 'Local'; s.spec!.ports![0]!.nodePort = 30090; }),
  svc('remote-only', '10.96.0.35', (s) => { s.spec!.type = 'NodePort'; s.spec!.externalTrafficPolicy = 'Local'; s.spec!.ports![0]!.nodePort = 30095; }),
  svc('sticky', '10.96.0.40', (s) => { s.spec!.sessionAffinity = 'ClientIP'; s.spec!.sessionAffinityConfig = { clientIP: { timeoutSeconds: 60 } }; }),
  svc('empty', '10.96.0.50'),
];
const slices = [
  endpoints('web', PODS),
  endpoints('np', PODS),
  endpoints('np-local', PODS),
  endpoints('remote-only', PODS.slice(1)),
  endpoints('sticky', PODS),
];

before(async () => {
  if (skip) return;
  cp = await startControlPlane();
  lab = new NetnsLab('kpn');
  top = await buildTopology(lab);
  const node = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a' }, status: { addresses: [{ type: 'InternalIP', address: NODE_IP }] } };
  await loadState(cp, [node, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'lab' } }, ...services, ...slices] as unknown as KubeObject[]);
  [healthPort, metricsPort] = [await freePort(), await freePort()];
  proxy = await runProxy({
    kubeconfig: loadKubeConfig(cp.kubeconfig),
    settings: { ...DEFAULT_SETTINGS, nodeName: 'node-a', clusterCIDRs: [CLUSTER_CIDR] },
    proxyMode: 'nftables',
    syncPeriodMs: SYNC_PERIOD_MS,
    minSyncPeriodMs: MIN_SYNC_MS,
    healthzBindAddress: `127.0.0.1:${healthPort}`,
    metricsBindAddress: `127.0.0.1:${metricsPort}`,
    exec: prefixedExec(top.node.prefix),
    nodeWaitMs: 10_000,
    log: (l) => logs.push(l),
  });
  await until('the first sync', async () => ((await nftList('map', 'ip', 'kube-proxy', 'service-ips')).includes('10.96.0.40') ? true : undefined));
});

after(async () => {
  await proxy?.stop();
  await lab?.dispose();
  await cp?.stop();
});

test('the node holds upstream\'s nftables tables and nothing in iptables; /healthz is healthy; nftables metrics exist', { skip }, async () => {
  assert.deepEqual((await nftList('tables')).trim().split('\n').sort(), ['table ip kube-proxy', 'table ip6 kube-proxy']);
  const services = await nftList('chain', 'ip', 'kube-proxy', 'services');
  assert.match(services, /ip daddr \. meta l4proto \. th dport vmap @service-ips/);
  // nftables mode's default --nodeport-addresses=primary: NodePorts on the node IP only.
  assert.match(await nftList('set', 'ip', 'kube-proxy', 'nodeport-ips'), /elements = \{ 192\.168\.8\.2 \}/);
  assert.match(await nftList('chain', 'ip', 'kube-proxy', 'cluster-ips-check'), /ip daddr 10\.96\.0\.0\/16 drop/);
  const ipt = (await top.node.exec(['iptables-nft-save'])).stdout;
  assert.ok(!/KUBE-/.test(ipt), ipt);
  const health = await fetch(`http://127.0.0.1:${healthPort}/healthz`);
  assert.equal(health.status, 200);
  const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  assert.match(metrics, /kubeproxy_sync_proxy_rules_nftables_sync_failures_total/);
  assert.match(metrics, /kubeproxy_sync_full_proxy_rules_duration_seconds_count\{ip_family="IPv4"\} [1-9]/);
});

test('ClusterIP traffic from a pod reaches every endpoint with an even spread, unmasqueraded', { skip }, async () => {
  const t = tally(await top.tcp(top.podClient, '10.96.0.10', 80, 300));
  assert.deepEqual(t.errors, []);
  // Binomial(300, 1/3): mean 100, sd 8.2; 60-140 is about ±5 sd.
  for (const p of PODS) assert.ok((t.byPod[p.name] ?? 0) >= 60 && (t.byPod[p.name] ?? 0) <= 140, JSON.stringify(t.byPod));
  assert.deepEqual([...t.peers], [POD_CLIENT_IP]);
});

test('ClusterIP traffic from outside the cluster CIDR is masqueraded', { skip }, async () => {
  const t = tally(await top.tcp(top.client, '10.96.0.10', 80, 30));
  assert.deepEqual(t.errors, []);
  assert.ok(!t.peers.has(CLIENT_IP), [...t.peers].join(','));
  for (const peer of t.peers) assert.ok(PODS.some((p) => p.gw === peer), peer);
});

test('an endpoint reaching itself through its service is masqueraded (hairpin); reaching the others it is not', { skip }, async () => {
  const answers = await top.tcp(top.pods[0]!, '10.96.0.10', 80, 60);
  const t = tally(answers);
  assert.deepEqual(t.errors, []);
  assert.ok((t.byPod.pod1 ?? 0) > 0 && (t.byPod.pod2 ?? 0) + (t.byPod.pod3 ?? 0) > 0, JSON.stringify(t.byPod));
  for (const a of answers) {
    const [pod, peer] = a.split(' ');
    assert.equal(peer, pod === 'pod1' ? PODS[0]!.gw : PODS[0]!.ip, a);
  }
});

test('NodePort (externalTrafficPolicy Cluster) reaches all endpoints, masqueraded', { skip }, async () => {
  const t = tally(await top.tcp(top.client, NODE_IP, 30080, 60));
  assert.deepEqual(t.errors, []);
  assert.equal(Object.keys(t.byPod).length, 3);
  assert.ok(!t.peers.has(CLIENT_IP));
});

test('NodePort with externalTrafficPolicy Local keeps the client IP and uses local endpoints only', { skip }, async () => {
  const t = tally(await top.tcp(top.client, NODE_IP, 30090, 30));
  assert.deepEqual(t.errors, []);
  assert.deepEqual(t.byPod, { pod1: 30 });
  assert.deepEqual([...t.peers], [CLIENT_IP]);
});

test('externalTrafficPolicy Local without a local endpoint: outside clients are dropped, pods short-circuit to all endpoints', { skip }, async () => {
  const outside = await top.tcp(top.client, NODE_IP, 30095, 2);
  assert.deepEqual(outside, ['ERR timeout', 'ERR timeout'], 'dropped by @no-endpoint-nodeports, not rejected');
  const t = tally(await top.tcp(top.podClient, NODE_IP, 30095, 30));
  assert.deepEqual(t.errors, []);
  assert.deepEqual(Object.keys(t.byPod).sort(), ['pod2', 'pod3']);
  assert.deepEqual([...t.peers], [POD_CLIENT_IP], 'pod traffic keeps its source');
});

test('ClientIP session affinity sticks to one endpoint', { skip }, async () => {
  const t = tally(await top.tcp(top.podClient, '10.96.0.40', 80, 25));
  assert.deepEqual(t.errors, []);
  assert.equal(Object.keys(t.byPod).length, 1, JSON.stringify(t.byPod));
  const chain = await nftList('table', 'ip', 'kube-proxy');
  assert.match(chain, /set affinity-\S+-lab\/sticky\/tcp\/http__10\.244\.\d\.2\/8080 \{[^}]*elements = \{ 10\.244\.9\.2 (timeout|expires)/, 'the client is in one endpoint\'s affinity set');
});

test('a service without endpoints, a wrong port of a ClusterIP, are rejected at once; an unallocated ClusterIP is dropped', { skip }, async () => {
  const started = Date.now();
  assert.deepEqual(await top.tcp(top.podClient, '10.96.0.50', 80, 3), ['ERR ECONNREFUSED', 'ERR ECONNREFUSED', 'ERR ECONNREFUSED']);
  assert.deepEqual(await top.tcp(top.podClient, '10.96.0.10', 81, 1), ['ERR ECONNREFUSED']);
  assert.ok(Date.now() - started < 1500, 'reject answers immediately; a drop would time out');
  assert.deepEqual(await top.tcp(top.podClient, '10.96.0.99', 80, 1), ['ERR timeout']);
});

test('removing an endpoint through the API server is reflected within minSyncPeriod', { skip }, async () => {
  const before = tally(await top.tcp(top.podClient, '10.96.0.10', 80, 60));
  assert.ok((before.byPod.pod3 ?? 0) > 0);
  await new Promise((r) => setTimeout(r, MIN_SYNC_MS)); // let the rate limiter open
  const changed = Date.now();
  await cp.kubectl(['apply', '-f', '-'], JSON.stringify(endpoints('web', PODS.slice(0, 2))));
  await until('the service chain to lose pod3', async () => ((await nftList('table', 'ip', 'kube-proxy')).match(/numgen random mod 2 vmap \{ 0 : goto endpoint-\S+-lab\/web\/tcp\/http__10\.244\.1\.2\/8080/) ? true : undefined), 10_000, 25);
  const elapsed = Date.now() - changed;
  assert.ok(elapsed <= MIN_SYNC_MS + 700, `took ${elapsed} ms`);
  const t = tally(await top.tcp(top.podClient, '10.96.0.10', 80, 60));
  assert.deepEqual(t.errors, []);
  assert.equal(t.byPod.pod3, undefined, JSON.stringify(t.byPod));
  assert.ok((t.byPod.pod1 ?? 0) > 0 && (t.byPod.pod2 ?? 0) > 0);
  // The partial sync flushed pod3's endpoint chain (still referenced, for kernels before 6.2);
  // the first sync at least a second later deletes it, like upstream's.
  const pod3Chain = /chain (endpoint-\S+-lab\/web\/tcp\/http__10\.244\.3\.2\/8080) \{\n\t\}/;
  assert.match(await nftList('table', 'ip', 'kube-proxy'), pod3Chain, 'flushed, not yet deleted');
  await new Promise((r) => setTimeout(r, MIN_SYNC_MS + 200));
  await cp.kubectl(['apply', '-f', '-'], JSON.stringify(svc('other', '10.96.0.70')));
  await until('pod3\'s chain to be deleted', async () => (!(await nftList('chains', 'ip')).includes('lab/web/tcp/http__10.244.3.2/8080') ? true : undefined), 10_000, 100);
  assert.ok(logs.includes('deleting 1 stale nftables chains (IPv4)'), logs.join('\n'));
});

test('cleanup removes the ip and ip6 kube-proxy tables, and nothing else', { skip }, async () => {
  await proxy.stop();
  await top.node.exec(['nft', 'add table ip other']);
  const exec = prefixedExec(top.node.prefix);
  assert.deepEqual(await nftablesMode.cleanup(exec), ['deleted nftables table ip kube-proxy', 'deleted nftables table ip6 kube-proxy']);
  assert.equal(await nftList('tables'), 'table ip other\n');
  assert.deepEqual(await nftablesMode.cleanup(exec), []);
});

// Real packets through svclab's IPVS proxier in network namespaces (the topology of
// topology.ts): ClusterIP spread over the real servers, NodePort, masquerading, ClientIP
// affinity and a service without endpoints. IPVS is in the kernel or not at all: where it
// is missing (this development machine) every test here skips and says why; upstream
// kube-proxy refuses --proxy-mode=ipvs there as well (ipvs-parts.test.ts shows it).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DEFAULT_IPVS_SETTINGS } from '../../../runner/core/proxy/ipvs/options.ts';
import { DEFAULT_SETTINGS } from '../../../runner/core/proxy/options.ts';
import type { EndpointSlice, Service } from '../../../runner/core/proxy/types.ts';
import { prefixedExec } from '../../../runner/proxy/exec.ts';
import { newIptables } from '../../../runner/proxy/iptables.ts';
import { IpvsProxier } from '../../../runner/proxy/ipvs/proxier.ts';
import { configureKernel, ipvsUnavailable } from '../../../runner/proxy/ipvs/support.ts';
import { newIpLinks, newIpset, newIpvsadm } from '../../../runner/proxy/ipvs/tools.ts';
import { canUseNetns, NetnsLab } from '../../support/netns.ts';
import { buildTopology, CLIENT_IP, CLUSTER_CIDR, endpoints, NODE_IP, PODS, POD_CLIENT_IP, svc, tally, type Topology } from './topology.ts';

async function why(): Promise<string | false> {
  if (!(await canUseNetns())) return 'needs root and ip netns';
  const lab = new NetnsLab('kpv');
  try {
    const ns = await lab.netns('probe');
    const problem = await ipvsUnavailable(prefixedExec(ns.prefix));
    return problem ? `needs IP_VS in the kernel: ${problem}; upstream kube-proxy refuses --proxy-mode=ipvs here too ("can't use the IPVS proxier: Ipvs not supported")` : false;
  } finally {
    await lab.dispose();
  }
}
const skip = await why();
if (skip) console.log(`# IPVS data-path tests skipped: ${skip}`);

let lab: NetnsLab;
let top: Topology;
let proxier: IpvsProxier;
const logs: string[] = [];

const services: Service[] = [
  svc('web', '10.96.0.10'),
  svc('np', '10.96.0.20', (s) => { s.spec!.type = 'NodePort'; s.spec!.ports![0]!.nodePort = 30080; }),
  svc('np-local', '10.96.0.30', (s) => { s.spec!.type = 'NodePort'; s.spec!.externalTrafficPolicy = 'Local'; s.spec!.ports![0]!.nodePort = 30090; }),
  svc('sticky', '10.96.0.40', (s) => { s.spec!.sessionAffinity = 'ClientIP'; s.spec!.sessionAffinityConfig = { clientIP: { timeoutSeconds: 60 } }; }),
  svc('empty', '10.96.0.50'),
];
const slices: EndpointSlice[] = [endpoints('web', PODS), endpoints('np', PODS), endpoints('np-local', PODS), endpoints('sticky', PODS)];

before(async () => {
  if (skip) return;
  lab = new NetnsLab('kpv');
  top = await buildTopology(lab);
  const exec = prefixedExec(top.node.prefix);
  await configureKernel(exec, DEFAULT_IPVS_SETTINGS, (l) => logs.push(l));
  proxier = new IpvsProxier({
    settings: { ...DEFAULT_SETTINGS, nodeName: 'node-a', clusterCIDRs: [CLUSTER_CIDR] },
    ipvs: DEFAULT_IPVS_SETTINGS,
    node: { metadata: { name: 'node-a' }, status: { addresses: [{ type: 'InternalIP', address: NODE_IP }] } },
    iptables: newIptables(exec, 'nft'),
    ipvsadm: newIpvsadm(exec),
    ipset: newIpset(exec),
    links: newIpLinks(exec),
    exec,
    syncPeriodMs: 30_000,
    minSyncPeriodMs: 0,
    log: (l) => logs.push(l),
  });
  for (const s of services) proxier.onServiceUpdate(null, s);
  for (const s of slices) proxier.onEndpointSliceUpdate(s, false);
  await proxier.onServicesSynced();
  assert.equal(await proxier.onEndpointSlicesSynced(), true, logs.join('\n'));
});

after(async () => {
  proxier?.stop();
  await lab?.dispose();
});

test('ClusterIP traffic from a pod is spread over every real server (rr), unmasqueraded', { skip }, async () => {
  const t = tally(await top.tcp(top.podClient, '10.96.0.10', 80, 90));
  assert.deepEqual(t.errors, []);
  // Round robin: each of the three gets a third.
  for (const p of PODS) assert.ok((t.byPod[p.name] ?? 0) >= 25, JSON.stringify(t.byPod));
  assert.deepEqual([...t.peers], [POD_CLIENT_IP]);
});

test('ClusterIP traffic from outside the cluster CIDR is masqueraded', { skip }, async () => {
  const t = tally(await top.tcp(top.client, '10.96.0.10', 80, 15));
  assert.deepEqual(t.errors, []);
  assert.ok(!t.peers.has(CLIENT_IP), [...t.peers].join(','));
});

test('NodePort reaches every endpoint, masqueraded; with externalTrafficPolicy Local only this node\'s, with the client address kept', { skip }, async () => {
  const cluster = tally(await top.tcp(top.client, NODE_IP, 30080, 30));
  assert.deepEqual(cluster.errors, []);
  assert.equal(Object.keys(cluster.byPod).length, 3);
  assert.ok(!cluster.peers.has(CLIENT_IP));
  const local = tally(await top.tcp(top.client, NODE_IP, 30090, 15));
  assert.deepEqual(local.errors, []);
  assert.deepEqual(local.byPod, { pod1: 15 });
  assert.deepEqual([...local.peers], [CLIENT_IP]);
});

test('ClientIP affinity (a persistent virtual server) sticks to one real server', { skip }, async () => {
  const t = tally(await top.tcp(top.podClient, '10.96.0.40', 80, 20));
  assert.deepEqual(t.errors, []);
  assert.equal(Object.keys(t.byPod).length, 1, JSON.stringify(t.byPod));
});

test('a service without endpoints: its virtual server has no real server and the connection is refused at once', { skip }, async () => {
  const started = Date.now();
  assert.deepEqual(await top.tcp(top.podClient, '10.96.0.50', 80, 2), ['ERR ECONNREFUSED', 'ERR ECONNREFUSED']);
  assert.ok(Date.now() - started < 1500);
});

test('the node\'s own ports are not reachable through a service VIP (KUBE-IPVS-FILTER)', { skip }, async () => {
  const server = top.node.spawn([process.execPath, '-e', "require('net').createServer((c) => c.end('node\\n')).listen(2222, '0.0.0.0', () => console.log('ready'))"]);
  await new Promise((r) => server.stdout!.once('data', r));
  assert.deepEqual(await top.tcp(top.client, '10.96.0.10', 2222, 1), ['ERR ECONNREFUSED']);
  // The same port on the node's own address answers: only the VIP is filtered.
  assert.deepEqual(await top.tcp(top.client, NODE_IP, 2222, 1), ['node']);
});

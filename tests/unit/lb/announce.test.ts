import assert from 'node:assert/strict';
import { test } from 'node:test';
import { announceOrder, planAnnouncements, readyNodes } from '../../../runner/core/lb/announce.ts';
import { parsePool, type Pool } from '../../../runner/core/lb/pool.ts';

const pool = parsePool('172.18.255.200-172.18.255.250') as Pool;
const nodes = ['lab-control-plane', 'lab-worker', 'lab-worker2'];

const pod = (node: string, o: { ready?: boolean; phase?: string; deleting?: boolean } = {}) => ({
  metadata: o.deleting ? { deletionTimestamp: new Date() } : {},
  spec: { nodeName: node },
  status: { phase: o.phase ?? 'Running', conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }] },
});
const lb = (name: string, ip: string, o: { local?: boolean; cls?: string; type?: string } = {}) => ({
  metadata: { name, namespace: 'default', uid: `u-${name}` },
  spec: { type: o.type ?? 'LoadBalancer', ...(o.local ? { externalTrafficPolicy: 'Local' } : {}), ...(o.cls ? { loadBalancerClass: o.cls } : {}) },
  status: { loadBalancer: { ingress: [{ ip, ipMode: 'VIP' }] } },
});
const slice = (svc: string, eps: [string, boolean | null][]) => ({
  metadata: { namespace: 'default', labels: { 'kubernetes.io/service-name': svc } },
  endpoints: eps.map(([nodeName, ready]) => ({ nodeName, conditions: { ready } })),
});

test('only running, ready controller pods that are not being deleted make their node eligible', () => {
  assert.deepEqual(readyNodes([pod('c'), pod('a'), pod('b', { ready: false }), pod('d', { deleting: true }), pod('e', { phase: 'Pending' }), pod('a'), null, { spec: {} }]), ['a', 'c']);
});

test('the announcing order is sha256(node#ip), like MetalLB: stable, and the same on every pod', () => {
  const order = announceOrder('172.18.255.200', nodes);
  assert.deepEqual(announceOrder('172.18.255.200', [...nodes].reverse()), order, 'the input order does not matter');
  assert.equal(order.length, 3);
  // Addresses spread over the nodes rather than all landing on one.
  const firsts = new Set(Array.from({ length: 20 }, (_, i) => announceOrder(`172.18.255.${200 + i}`, nodes)[0]));
  assert.equal(firsts.size, 3);
});

test('each served address has exactly one announcing node; when it goes, the next in order takes over', () => {
  const services = [lb('a', '172.18.255.200'), lb('b', '172.18.255.201')];
  const plan = planAnnouncements(services, [], nodes, pool);
  assert.deepEqual(plan.map((a) => a.ip), ['172.18.255.200', '172.18.255.201']);
  const first = plan[0]!.node!;
  assert.equal(first, announceOrder('172.18.255.200', nodes)[0]);
  const without = planAnnouncements(services, [], nodes.filter((x) => x !== first), pool);
  assert.equal(without[0]!.node, announceOrder('172.18.255.200', nodes)[1]);
  assert.deepEqual(planAnnouncements(services, [], [], pool).map((a) => a.reason), ['no node has a ready controller pod', 'no node has a ready controller pod']);
});

test('externalTrafficPolicy: Local is announced only from a node with a ready endpoint', () => {
  const svc = lb('web', '172.18.255.210', { local: true });
  const slices = [slice('web', [['lab-worker2', true], ['lab-worker', false]]), slice('other', [['lab-control-plane', true]])];
  assert.equal(planAnnouncements([svc], slices, nodes, pool)[0]!.node, 'lab-worker2');
  const none = planAnnouncements([svc], [slice('web', [['lab-worker', false]])], nodes, pool)[0]!;
  assert.equal(none.node, undefined);
  assert.match(none.reason!, /Local and no node .* has a ready endpoint/);
  // An endpoint with no ready condition counts as ready (EndpointSlice semantics).
  assert.equal(planAnnouncements([svc], [slice('web', [['lab-worker', null]])], nodes, pool)[0]!.node, 'lab-worker');
});

test('addresses outside the pool, other classes and non-LoadBalancer Services are never announced', () => {
  const plan = planAnnouncements([lb('x', '10.0.0.1'), lb('y', '172.18.255.220', { cls: 'other' }), lb('z', '172.18.255.221', { type: 'ClusterIP' }), lb('ok', '172.18.255.222'), null, { metadata: {} }], [], nodes, pool);
  assert.deepEqual(plan.map((a) => a.ip), ['172.18.255.222']);
});

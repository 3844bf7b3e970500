import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planAllocations, settleWritten, type ServiceLike } from '../../../runner/core/lb/allocate.ts';
import { parsePool, type Pool } from '../../../runner/core/lb/pool.ts';

const pool = parsePool('172.18.255.200-172.18.255.203') as Pool;

let n = 0;
function svc(name: string, o: { type?: string; cls?: string; ip?: string; status?: string[]; ns?: string; created?: string; uid?: string; ipMode?: string } = {}): ServiceLike {
  n++;
  return {
    metadata: { name, namespace: o.ns ?? 'default', uid: o.uid ?? `uid-${name}`, creationTimestamp: o.created ?? `2025-01-01T00:00:${String(n % 60).padStart(2, '0')}Z` },
    spec: { type: o.type ?? 'LoadBalancer', ...(o.cls !== undefined ? { loadBalancerClass: o.cls } : {}), ...(o.ip !== undefined ? { loadBalancerIP: o.ip } : {}) },
    status: { loadBalancer: o.status ? { ingress: o.status.map((ip) => ({ ip, ...(o.ipMode ? { ipMode: o.ipMode } : {}) })) } : {} },
  };
}
const ips = (p: ReturnType<typeof planAllocations>) => Object.fromEntries(p.outcomes.map((o) => [o.name, o.ip ?? o.problem]));
const writes = (p: ReturnType<typeof planAllocations>) => Object.fromEntries(p.changes.map((c) => [c.name, c.ingress.map((i) => i.ip).join(',') || '(cleared)']));

test('new LoadBalancer Services get the lowest free addresses, in the order they were created', () => {
  const p = planAllocations([svc('b', { created: '2025-01-01T00:00:02Z' }), svc('a', { created: '2025-01-01T00:00:03Z' }), svc('c', { created: '2025-01-01T00:00:01Z' })], pool);
  assert.deepEqual(ips(p), { a: '172.18.255.202', b: '172.18.255.201', c: '172.18.255.200' });
  assert.deepEqual(p.changes.find((c) => c.name === 'a')!.ingress, [{ ip: '172.18.255.202', ipMode: 'VIP' }]);
});

test('addresses already in statuses are kept (a restarted controller rebuilds its allocation) and not written again', () => {
  const p = planAllocations([svc('old', { status: ['172.18.255.202'] }), svc('new')], pool);
  assert.deepEqual(ips(p), { old: '172.18.255.202', new: '172.18.255.200' });
  assert.deepEqual(writes(p), { new: '172.18.255.200' });
  // An ingress without ipMode (older API servers) counts as VIP: nothing to write.
  assert.deepEqual(planAllocations([svc('x', { status: ['172.18.255.201'] })], pool).changes, []);
  assert.deepEqual(writes(planAllocations([svc('x', { status: ['172.18.255.201'], ipMode: 'Proxy' })], pool)), { x: '172.18.255.201' });
});

test('only Services without a loadBalancerClass or with svclab.io/lb are served; other classes are left alone but their addresses are not handed out', () => {
  const p = planAllocations([svc('other', { cls: 'other', status: ['172.18.255.200'] }), svc('mine', { cls: 'svclab.io/lb' }), svc('plain'), svc('unset-other', { cls: 'example.com/lb' })], pool);
  assert.deepEqual(ips(p), { mine: '172.18.255.201', plain: '172.18.255.202' });
  assert.deepEqual(Object.keys(writes(p)).sort(), ['mine', 'plain']);
  assert.equal(p.inUse.get('172.18.255.200'), 'default/other');
});

test('spec.loadBalancerIP is honoured inside the pool; outside it, unparsable or taken, the Service gets no address and a reason', () => {
  const p = planAllocations(
    [
      svc('holder', { status: ['172.18.255.201'] }),
      svc('asks', { ip: '172.18.255.203' }),
      svc('outside', { ip: '10.0.0.5', status: ['172.18.255.200'] }),
      svc('garbage', { ip: 'not-an-ip' }),
      svc('clash', { ip: '172.18.255.201' }),
      svc('auto'),
    ],
    pool,
  );
  const r = ips(p);
  assert.equal(r.asks, '172.18.255.203');
  assert.equal(r.auto, '172.18.255.200', 'the address "outside" held is freed and reused');
  assert.match(r.outside!, /^spec\.loadBalancerIP 10\.0\.0\.5 is outside svclab's address pool 172\.18\.255\.200-172\.18\.255\.203/);
  assert.match(r.garbage!, /^spec\.loadBalancerIP "not-an-ip" is not an IPv4 address/);
  assert.match(r.clash!, /^spec\.loadBalancerIP 172\.18\.255\.201 is already used by Service default\/holder/);
  assert.equal(writes(p).outside, '(cleared)');
  assert.equal(writes(p).garbage, undefined, 'nothing to clear');
});

test('changing loadBalancerIP moves the Service to the new address and frees the old one', () => {
  const p = planAllocations([svc('web', { status: ['172.18.255.200'], ip: '172.18.255.202' }), svc('next')], pool);
  assert.deepEqual(ips(p), { web: '172.18.255.202', next: '172.18.255.200' });
});

test('a deleted Service frees its address; one that changed type away from LoadBalancer has its status cleared', () => {
  const before = [svc('a', { status: ['172.18.255.200'] }), svc('b', { status: ['172.18.255.201'] })];
  const deleted = planAllocations([before[1]!, svc('c')], pool);
  assert.equal(ips(deleted).c, '172.18.255.200');
  const retyped = planAllocations([svc('a', { type: 'ClusterIP', status: ['172.18.255.200'] }), svc('b', { status: ['172.18.255.201'] }), svc('c')], pool);
  assert.deepEqual(writes(retyped), { a: '(cleared)', c: '172.18.255.200' });
  // A NodePort Service with someone else's (non-pool) address is not ours to touch.
  assert.deepEqual(planAllocations([svc('np', { type: 'NodePort', status: ['192.0.2.1'] })], pool).changes, []);
});

test('two Services claiming the same address: the older keeps it, the newer gets another', () => {
  const p = planAllocations([svc('young', { status: ['172.18.255.200'], created: '2025-01-02T00:00:00Z' }), svc('old', { status: ['172.18.255.200'], created: '2025-01-01T00:00:00Z' })], pool);
  assert.deepEqual(ips(p), { old: '172.18.255.200', young: '172.18.255.201' });
});

test('a full pool: the Services that do not fit get a reason naming the pool', () => {
  const p = planAllocations(['a', 'b', 'c', 'd', 'e'].map((x) => svc(x)), pool);
  assert.equal(p.outcomes.filter((o) => o.ip).length, 4);
  assert.match(p.outcomes.find((o) => !o.ip)!.problem!, /no free address left in svclab's pool 172\.18\.255\.200-172\.18\.255\.203 \(all 4 are in use\)/);
});

test('what was just written stands in for a status the watch does not show yet: no second write, no double assignment', () => {
  const a = svc('a');
  const written = new Map([['uid-a', '172.18.255.200']]);
  const p = planAllocations([a, svc('b')], pool, { written });
  assert.deepEqual(writes(p), { b: '172.18.255.201' });
  const settled = settleWritten([svc('a', { status: ['172.18.255.200'] })], new Map([['uid-a', { ip: '172.18.255.200', at: 1000 }]]), 2000);
  assert.equal(settled.size, 0, 'a write the watch shows is settled');
  assert.equal(settleWritten([a], new Map([['uid-a', { ip: '172.18.255.200', at: 1000 }]]), 2000).size, 1);
  assert.equal(settleWritten([a], new Map([['uid-a', { ip: '172.18.255.200', at: 1000 }]]), 20_000).size, 0, 'an old one expires');
  assert.equal(settleWritten([], new Map([['uid-a', { ip: null, at: 1000 }]]), 2000).size, 0, 'a gone Service drops out');
});

test('malformed objects are skipped or read as far as they go, never fatal', () => {
  const junk: unknown[] = [
    null,
    42,
    'svc',
    {},
    { metadata: { name: 'x' } },
    { metadata: { name: 'nospec', namespace: 'default' } },
    { metadata: { name: 'badspec', namespace: 'default', uid: 'u1' }, spec: 'LoadBalancer' },
    { metadata: { name: 'badstatus', namespace: 'default', uid: 'u2' }, spec: { type: 'LoadBalancer' }, status: { loadBalancer: { ingress: [null, 7, { ip: 12 }, { hostname: 'lb.example' }] } } },
    { metadata: { name: 'badts', namespace: 'default', uid: 'u3', creationTimestamp: 'yesterday' }, spec: { type: 'LoadBalancer', loadBalancerIP: 5, ipFamilies: 'IPv4' } },
    { metadata: { name: 'v6', namespace: 'default', uid: 'u4' }, spec: { type: 'LoadBalancer', ipFamilies: ['IPv6'] } },
  ];
  const p = planAllocations(junk, pool);
  const r = ips(p);
  assert.equal(r.badstatus, '172.18.255.200');
  assert.equal(r.badts, '172.18.255.201');
  assert.match(r.v6!, /IPv4 only/);
  assert.deepEqual(Object.keys(r).sort(), ['badstatus', 'badts', 'v6']);
  assert.equal(writes(p).badstatus, '172.18.255.200', 'the unusable ingress entries are replaced');
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { leaseAction, nextLeaseSpec, observe } from '../../../runner/core/lb/lease.ts';

const t0 = Date.parse('2025-01-01T00:00:00Z');

test('a free lease is taken, an own lease renewed, someone else\'s followed until it stops changing for its duration', () => {
  const held = { holderIdentity: 'pod-b', leaseDurationSeconds: 15, renewTime: '2025-01-01T00:00:00.000000Z' };
  const cases: [string, Parameters<typeof leaseAction>[0], string, number, string][] = [
    ['no record', undefined, 'pod-a', 0, 'acquire'],
    ['empty holder (released)', { holderIdentity: '', leaseDurationSeconds: 1 }, 'pod-a', 0, 'acquire'],
    ['ours', { ...held, holderIdentity: 'pod-a' }, 'pod-a', 0, 'renew'],
    ['held, seen 10 s ago', held, 'pod-a', 10_000, 'follow'],
    ['held, unchanged for 16 s', held, 'pod-a', 16_000, 'acquire'],
  ];
  for (const [name, spec, me, after, want] of cases) {
    const seen = observe(undefined, spec, t0);
    assert.equal(leaseAction(spec, seen, me, t0 + after, 15), want, name);
  }
});

test('expiry counts from when this pod saw the lease change, not from renewTime (clock skew)', () => {
  const spec = { holderIdentity: 'pod-b', leaseDurationSeconds: 15, renewTime: '2020-01-01T00:00:00.000000Z' };
  let seen = observe(undefined, spec, t0);
  assert.equal(leaseAction(spec, seen, 'pod-a', t0 + 1000, 15), 'follow', 'an old renewTime alone does not make it expired');
  seen = observe(seen, spec, t0 + 14_000);
  assert.equal(seen.at, t0, 'an unchanged record keeps its first-seen time');
  const renewed = { ...spec, renewTime: '2020-01-01T00:00:02.000000Z' };
  seen = observe(seen, renewed, t0 + 14_000);
  assert.equal(leaseAction(renewed, seen, 'pod-a', t0 + 20_000, 15), 'follow', 'a renewal restarts the wait');
  assert.equal(leaseAction(renewed, seen, 'pod-a', t0 + 29_001, 15), 'acquire');
});

test('taking a lease from another holder counts a transition; renewing and releasing do not', () => {
  const now = new Date(t0);
  const taken = nextLeaseSpec({ holderIdentity: 'pod-b', leaseTransitions: 3, acquireTime: new Date(0) }, 'acquire', 'pod-a', now, 15);
  assert.deepEqual(taken, { holderIdentity: 'pod-a', leaseDurationSeconds: 15, acquireTime: now, renewTime: now, leaseTransitions: 4 });
  const renewed = nextLeaseSpec(taken, 'renew', 'pod-a', new Date(t0 + 2000), 15);
  assert.equal(renewed.leaseTransitions, 4);
  assert.equal(renewed.acquireTime, now);
  const released = nextLeaseSpec(renewed, 'release', 'pod-a', new Date(t0 + 4000), 15);
  assert.equal(released.holderIdentity, '');
  assert.equal(released.leaseDurationSeconds, 1);
  assert.equal(nextLeaseSpec(undefined, 'acquire', 'pod-a', now, 15).leaseTransitions, 0);
});

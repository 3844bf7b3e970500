import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fits, place, type CapacityPolicy } from '../../../runner/server/classroom/capacity.ts';

const GiB = 2 ** 30;
const policy: CapacityPolicy = { perCluster: 0.75 * GiB, reserve: 3 * GiB, maxLearners: 30 };

test('learner clusters go to the engine with the most room', () => {
  const r = place(
    [
      { host: 'unix:///var/run/docker.sock', memTotal: 24 * GiB, memAvailable: 20 * GiB, clusters: 20 },
      { host: 'ssh://lab2', memTotal: 16 * GiB, clusters: 2 },
    ],
    12,
    policy,
  );
  assert.deepEqual(r, { ok: true, host: 'ssh://lab2' });
});

test('the local engine is limited by the memory actually available, not just its total', () => {
  const r = place([{ host: '', memTotal: 24 * GiB, memAvailable: 3.5 * GiB, clusters: 1 }], 1, policy);
  assert.equal(r.ok, false);
  assert.match((r as { reason: string }).reason, /no room for another lab cluster \(needs 0\.8 GiB, the roomiest engine has 0\.5 GiB to spare\)/);
});

test('a full class is refused before any cluster is made', () => {
  const r = place([{ host: '', memTotal: 64 * GiB, clusters: 0 }], 30, policy);
  assert.deepEqual(r, { ok: false, reason: 'the class is full (30 learners); ask your instructor' });
});

test('sizing: how many clusters an engine holds', () => {
  assert.equal(fits(24 * GiB, policy), 28);
  assert.equal(fits(2 * GiB, policy), 0);
});

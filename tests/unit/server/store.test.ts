import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Store } from '../../../runner/server/store.ts';

test('classes, learners and progress survive closing and reopening the database', async () => {
  const file = join(await mkdtemp(join(tmpdir(), 'svclab-store-')), 'svclab.db');
  let store = await Store.open(file);
  const cls = await store.createClass('Services 101', ['clusterip', 'nodeport']);
  const ada = await store.addLearner(cls.id, 'Ada', 'c1-ada');
  await store.addLearner(cls.id, 'Grace', 'c1-grace');
  await assert.rejects(store.addLearner(cls.id, 'Ada', 'c1-ada2'), /UNIQUE/);
  assert.equal(await store.recordState(ada.id, 'clusterip', 'create', 'failing', 'no Service'), true);
  assert.equal(await store.recordState(ada.id, 'clusterip', 'create', 'failing', 'no Service'), false, 'the same verdict again is not a change');
  await store.recordState(ada.id, 'clusterip', 'create', 'failing', 'wrong selector');
  assert.equal(await store.useHint(ada.id, 'clusterip', 'create', 2), 1);
  assert.equal(await store.useHint(ada.id, 'clusterip', 'create', 2), 2);
  assert.equal(await store.useHint(ada.id, 'clusterip', 'create', 2), 2, 'never more hints than there are');
  await store.recordState(ada.id, 'clusterip', 'create', 'passed', null);
  await store.close();

  store = await Store.open(file);
  assert.deepEqual(store.classByJoinCode(cls.joinCode.toLowerCase())?.labs, ['clusterip', 'nodeport']);
  assert.equal(store.classByInstructorToken(cls.instructorToken)?.id, cls.id);
  assert.deepEqual(store.learners(cls.id).map((l) => l.name), ['Ada', 'Grace']);
  assert.equal(store.learnerByToken(ada.token)?.name, 'Ada');
  const [p] = store.progress(ada.id, 'clusterip');
  assert.equal(p!.state, 'passed');
  assert.ok(p!.passedAt);
  assert.equal(p!.attempts, 2, 'two different failing reasons');
  assert.equal(p!.hintsUsed, 2);
  await store.resetLab(ada.id, 'clusterip');
  assert.equal(store.progress(ada.id, 'clusterip')[0]!.state, 'pending');
  await store.close();
});

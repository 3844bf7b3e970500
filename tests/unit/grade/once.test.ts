import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { LabCluster } from '../../../runner/grade/cluster.ts';
import { taskStates } from '../../../runner/grade/live.ts';
import type { LoadedLab } from '../../../runner/core/lab/types.ts';

test('a task marked once stays passed in the check loop; the others are checked on every pass', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'svclab-once-'));
  // A script check that never passes: what a later task changed in the cluster.
  await writeFile(join(dir, 'never.ts'), "export default async () => ({ pass: false, reason: { en: 'not now', zh: '现在不行' } });\n");
  const task = (id: string, once: boolean) => ({ id, title: { en: id, zh: id }, ...(once ? { once } : {}), checks: [{ script: { file: 'never.ts' } }] });
  const lab: LoadedLab = { id: 'once-lab', title: { en: 'x', zh: 'x' }, dir, namespace: 'default', tasks: [task('sticky', true), task('plain', false), task('later', true)] };
  const cluster = { name: `svclab-once-test-${process.pid}` } as unknown as LabCluster;
  const states = await taskStates(cluster, lab, new Set(['sticky', 'plain']));
  assert.deepEqual(states.map((s) => s.state), ['passed', 'failing', 'pending'], 'sticky kept; plain passed before but is checked again; later never passed');
  assert.deepEqual(states[1]!.reason, { en: 'not now', zh: '现在不行' });
});

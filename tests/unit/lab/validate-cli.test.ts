// `svclab lab validate` as a learner or lab author runs it: each problem on one line with
// the file and line, a summary, and the exit code.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

const root = new URL('../../../', import.meta.url).pathname;
const validate = (dir: string, ...labs: string[]) =>
  spawnSync(process.execPath, [join(root, 'bin/svclab.js'), 'lab', 'validate', ...labs], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, SVCLAB_LABS_DIR: dir } });

test('lab validate names the file and line of each problem and exits 1; a good lab passes', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'svclab-labs-'));
  await mkdir(join(dir, 'good'));
  await writeFile(join(dir, 'good', 'lab.yaml'), 'id: good\ntitle: { en: Good, zh: 好 }\ntasks:\n  - id: t\n    title: { en: T, zh: T }\n    checks:\n      - object: { kind: Service, name: web }\n');
  await mkdir(join(dir, 'bad'));
  await writeFile(join(dir, 'bad', 'lab.yaml'), 'id: bad\ntitle: { en: Bad, zh: 坏 }\ntasks:\n  - id: t\n    title: { en: T, zh: T }\n    once: "yes"\n    checks:\n      - answer: { prompt: { en: p, zh: p }, expect: { firstPacketMs: { factor: 2 } } }\n');
  const r = validate(dir);
  assert.equal(r.status, 1, r.stdout + r.stderr);
  const out = r.stdout + r.stderr;
  assert.match(out, /✓ good/);
  assert.match(out, /bad\/lab\.yaml:6: tasks\.0\.once/, 'the wrong type, on its line');
  assert.match(out, /bad\/lab\.yaml:8: .*service/, 'the missing key, on its line');
  assert.match(out, /1 of 2 labs are invalid/);
  const good = validate(dir, 'good');
  assert.equal(good.status, 0, good.stdout + good.stderr);
});

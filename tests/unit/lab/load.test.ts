// lab.yaml validation: every problem with its file, line and what is expected.
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { LabInvalidError, loadLabDir } from '../../../runner/lab/load.ts';

async function labDir(id: string, yaml: string, files: Record<string, string> = {}): Promise<string> {
  const dir = join(await mkdtemp(join(tmpdir(), 'svclab-lab-')), id);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'lab.yaml'), yaml);
  for (const [f, text] of Object.entries(files)) await writeFile(join(dir, f), text);
  return dir;
}

async function problems(dir: string): Promise<string[]> {
  try {
    await loadLabDir(dir);
  } catch (err) {
    assert.ok(err instanceof LabInvalidError, String(err));
    return err.problems.map((p) => `${p.line}: ${p.message}`);
  }
  return [];
}

const GOOD = `id: demo
title: { en: Demo, zh: 演示 }
solution: solution.sh
tasks:
  - id: svc
    title: { en: Make a Service, zh: 创建 Service }
    hints:
      - { en: kubectl expose, zh: kubectl expose }
    checks:
      - object: { kind: Service, name: web, readyEndpoints: 3 }
      - iptables: { service: web, expect: { endpoints: 3 } }
`;

describe('lab.yaml validation', () => {
  test('a valid lab loads with its defaults', async () => {
    const lab = await loadLabDir(await labDir('demo', GOOD, { 'solution.sh': 'true\n' }));
    assert.equal(lab.namespace, 'default');
    assert.equal(lab.tasks[0]!.checks.length, 2);
  });

  test('a typo in a check kind: the line and the kinds there are', async () => {
    const p = await problems(await labDir('demo', GOOD.replace('- iptables:', '- iptable:'), { 'solution.sh': '' }));
    assert.ok(p.some((x) => x === '11: tasks.0.checks.1: unknown key "iptable" (a check has one of: object, iptables, dns, traffic, answer, script, and timeout/settle)'), p.join('\n'));
  });

  test('a missing language, a wrong expectation key, a wrong enum', async () => {
    const yaml = GOOD.replace('{ en: Make a Service, zh: 创建 Service }', '{ en: Make a Service }').replace('expect: { endpoints: 3 }', 'expect: { endpoint: 3 }') + '      - dns: { name: web, type: MX, expect: { rcode: NOERROR } }\n';
    const p = await problems(await labDir('demo', yaml, { 'solution.sh': '' }));
    assert.ok(p.includes('6: tasks.0.title: missing "zh"'), p.join('\n'));
    assert.ok(p.includes('11: tasks.0.checks.1.iptables.expect: unknown key "endpoint"'), p.join('\n'));
    assert.ok(p.some((x) => x.startsWith('12: tasks.0.checks.2.dns.type: must be one of "A"')), p.join('\n'));
  });

  test('what a schema cannot see: id vs folder, duplicate tasks, missing files', async () => {
    const yaml = GOOD.replace('id: demo', 'id: other') + GOOD.slice(GOOD.indexOf('  - id: svc')) + 'setup: [nope.yaml]\n';
    const p = await problems(await labDir('demo', yaml));
    assert.ok(p.includes('1: id "other" must be the folder\'s name "demo"'), p.join('\n'));
    assert.ok(p.some((x) => /task id "svc" is used twice/.test(x)), p.join('\n'));
    assert.ok(p.some((x) => /setup file nope.yaml does not exist/.test(x)), p.join('\n'));
    assert.ok(p.some((x) => /solution solution.sh does not exist/.test(x)), p.join('\n'));
  });

  test('broken YAML says where', async () => {
    const p = await problems(await labDir('demo', 'id: demo\ntitle: { en: a, zh: b }\nid: again\ntasks: []\n'));
    assert.match(p[0]!, /^3: not valid YAML: Map keys must be unique/);
  });
});

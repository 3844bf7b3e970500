// Whole-dump golden tests: `svclab proxy render` on each case in tests/golden/proxy must
// print exactly what upstream kube-proxy v1.34.4 wrote for the same state and flags
// (expected.txt, captured from the upstream binary by capture.ts), after upstream's canonical sort.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkRuleJumps, parseDump, sortRulesTextByServicePort } from '../../../runner/core/proxy/iptables-dump.ts';

const root = new URL('../../..', import.meta.url).pathname;
const goldenDir = join(root, 'tests/golden/proxy');
const cases = readdirSync(goldenDir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);

for (const name of cases) {
  test(`golden ${name}: render equals upstream's rules`, () => {
    const dir = join(goldenDir, name);
    const flags = readFileSync(join(dir, 'flags'), 'utf8').trim().split(/\s+/);
    const r = spawnSync(process.execPath, [join(root, 'bin/svclab.js'), 'proxy', 'render', '--state', join(dir, 'state.yaml'), ...flags], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const expected = readFileSync(join(dir, 'expected.txt'), 'utf8');
    assert.equal(sortRulesTextByServicePort(r.stdout), expected);
    assert.deepEqual(checkRuleJumps(parseDump(expected)), []);
  });
}

test('render is deterministic: the same state gives the same bytes', () => {
  const dir = join(goldenDir, 'overall');
  const flags = readFileSync(join(dir, 'flags'), 'utf8').trim().split(/\s+/);
  const once = () => spawnSync(process.execPath, [join(root, 'bin/svclab.js'), 'proxy', 'render', '--state', join(dir, 'state.yaml'), ...flags], { encoding: 'utf8' }).stdout;
  const a = once();
  assert.ok(a.startsWith('*filter\n'));
  assert.equal(once(), a);
});

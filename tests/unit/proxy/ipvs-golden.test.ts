// Golden tests of the IPVS mode: `svclab proxy render --proxy-mode ipvs` on each case in
// tests/golden/proxy-ipvs/cases must describe exactly what upstream kube-proxy v1.34.4's
// IPVS proxier did for the same objects and flags (expected.txt, captured by capture.ts
// from upstream's own code): the same kube-ipvs0 addresses, virtual and real servers,
// ipsets and entries, jump rules and iptables-restore input.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { canonicalText, partsFromRender } from '../../golden/proxy-ipvs/canonical.ts';
import { caseFlags, caseNames, casesDir, repoRoot } from '../../golden/proxy-ipvs/cases.ts';

const render = (name: string) =>
  spawnSync(process.execPath, [join(repoRoot, 'bin/svclab.js'), 'proxy', 'render', '--proxy-mode', 'ipvs', '--state', join(casesDir, name, 'state.json'), ...caseFlags(name)], { encoding: 'utf8' });

const names = caseNames();

test('there are IPVS golden cases', () => {
  assert.ok(names.length >= 7, names.join(','));
});

for (const name of names) {
  test(`ipvs golden ${name}: render equals what upstream's IPVS proxier did`, () => {
    const r = render(name);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(canonicalText(partsFromRender(r.stdout)), readFileSync(join(casesDir, name, 'expected.txt'), 'utf8'));
  });
}

test('ipvs render is deterministic: the same state gives the same bytes', () => {
  const a = render('ipvs-specifics').stdout;
  assert.ok(a.includes('# ==== 2. IPVS virtual servers'));
  assert.equal(render('ipvs-specifics').stdout, a);
});

test('a malformed --ipvs-scheduler is one line naming the flag, exit 1', () => {
  const r = spawnSync(process.execPath, [join(repoRoot, 'bin/svclab.js'), 'proxy', 'render', '--proxy-mode', 'ipvs', '--state', join(casesDir, 'overall', 'state.json'), '--ipvs-scheduler=round robin'], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, 'svclab: --ipvs-scheduler "round robin" is not a scheduler name (rr, wrr, lc, wlc, sh, mh, …)\n');
});

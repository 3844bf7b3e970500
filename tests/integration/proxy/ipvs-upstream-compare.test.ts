// The proof of "the same as upstream's IPVS mode", live: for every IPVS golden case,
// upstream kube-proxy v1.34.4's own IPVS proxier (built from the Go module cache into a
// harness, tests/golden/proxy-ipvs/upstream.ts) syncs the case's objects in a network
// namespace, with upstream's fake IPVS and the namespace's real iptables, ipset and
// kube-ipvs0; what it did must equal what `svclab proxy render --proxy-mode ipvs` prints,
// and the committed expected.txt (which the unit tests use) must still be what upstream does.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { canonicalText, jumpsFromSave, partsFromRender } from '../../golden/proxy-ipvs/canonical.ts';
import { caseFlags, caseNames, casesDir, caseState, harnessSettingsFor, repoRoot } from '../../golden/proxy-ipvs/cases.ts';
import { buildHarness, harnessUnavailable, upstreamIpvsSync } from '../../golden/proxy-ipvs/upstream.ts';

const skip = (await harnessUnavailable()) ?? false;
let bin = '';

before(async () => {
  if (!skip) bin = await buildHarness();
});

for (const name of caseNames()) {
  test(`${name}: svclab's IPVS render is what upstream's IPVS proxier does`, { skip, timeout: 600_000 }, async () => {
    const objects = caseState(name);
    const { settings, addresses } = harnessSettingsFor(caseFlags(name), objects);
    const r = await upstreamIpvsSync(bin, objects, settings, addresses);
    const upstream = canonicalText({ addresses: r.addresses, ipvs: r.ipvs, ipsets: r.ipsetSave.split('\n'), jumps: jumpsFromSave(r.iptablesSave), restore: r.restore });
    const render = spawnSync(process.execPath, [join(repoRoot, 'bin/svclab.js'), 'proxy', 'render', '--proxy-mode', 'ipvs', '--state', join(casesDir, name, 'state.json'), ...caseFlags(name)], { encoding: 'utf8' });
    assert.equal(render.status, 0, render.stderr);
    assert.equal(canonicalText(partsFromRender(render.stdout)), upstream);
    assert.equal(readFileSync(join(casesDir, name, 'expected.txt'), 'utf8'), upstream, 'expected.txt is stale: run npx tsx tests/golden/proxy-ipvs/capture.ts');
  });
}

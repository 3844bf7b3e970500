// The proof of "same rules as upstream": for every golden case, upstream kube-proxy
// v1.34.4 runs in a network namespace against a real API server holding the case's
// objects; `svclab proxy render` gets what that API server holds, with the same flags.
// Both restore inputs must be identical after upstream's canonical sort.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { sortRulesTextByServicePort } from '../../../runner/core/proxy/iptables-dump.ts';
import { readStateFile } from '../../../runner/kube/state-file.ts';
import { canUseNetns } from '../../support/netns.ts';
import { controlPlaneUnavailable, startControlPlane, type ControlPlane } from '../../support/control-plane.ts';
import { loadState, readState, splitFlags, upstreamRestoreInput } from './upstream.ts';

const root = new URL('../../..', import.meta.url).pathname;
const goldenDir = join(root, 'tests/golden/proxy');
const cases = readdirSync(goldenDir, { withFileTypes: true })
  .filter((d) => d.isDirectory() && !existsSync(join(goldenDir, d.name, 'by-hand')))
  .map((d) => d.name);

const missing = controlPlaneUnavailable(['kube-proxy']);
const skip = missing ? `upstream binaries missing: ${missing}` : (await canUseNetns()) ? false : 'needs root and ip netns';
if (skip) console.log(`# skipping the upstream comparison: ${skip}`);

let cp: ControlPlane;
before(async () => {
  if (!skip) cp = await startControlPlane();
});
after(async () => {
  await cp?.stop();
});

for (const name of cases) {
  test(`${name}: svclab renders what upstream kube-proxy writes`, { skip, timeout: 120_000 }, async () => {
    const dir = join(goldenDir, name);
    const flags = readFileSync(join(dir, 'flags'), 'utf8');
    await loadState(cp, await readStateFile(join(dir, 'state.yaml')));
    const { upstream, addresses } = splitFlags(flags);
    const theirs = sortRulesTextByServicePort(await upstreamRestoreInput(cp, upstream, addresses));

    const stateFile = join(mkdtempSync(join(tmpdir(), 'svclab-cmp-')), 'state.json');
    writeFileSync(stateFile, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: await readState(cp) }));
    const r = spawnSync(process.execPath, [join(root, 'bin/svclab.js'), 'proxy', 'render', '--state', stateFile, ...flags.trim().split(/\s+/)], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(sortRulesTextByServicePort(r.stdout), theirs);
    // The golden file the unit tests use is still what upstream writes.
    assert.equal(readFileSync(join(dir, 'expected.txt'), 'utf8'), theirs);
  });
}

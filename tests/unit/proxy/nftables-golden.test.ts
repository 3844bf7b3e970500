// Whole-table golden tests for nftables mode: `svclab proxy render --proxy-mode nftables`
// on each case in tests/golden/proxy must print exactly expected-input.nft (the transaction
// upstream kube-proxy v1.34.4 logged for its first full sync, replayed on an empty table and
// dumped in knftables' order; captured by capture-nftables.ts), and, loaded with nft into an
// empty network namespace, list exactly as upstream's own table did (expected.nft, in the
// canonical form of normalizeListing). The second part needs root and nft and is skipped,
// with the reason printed, where they are missing.
//
// The cases' state.yaml holds what the API server was given; the API server adds its
// default ServiceCIDR (--service-cluster-ip-range=10.96.0.0/16, tests/support/control-plane.ts),
// which upstream read, so it is added here too (the upstream comparison test checks that
// this gives the same render as the objects the API server served).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { normalizeListing } from '../../../runner/core/proxy/nftables/listing.ts';
import { DEFAULT_SERVICE_CIDR_YAML, loadAndList, nftUnavailable } from '../../support/nft.ts';

const root = new URL('../../..', import.meta.url).pathname;
const goldenDir = join(root, 'tests/golden/proxy');
const cases = readdirSync(goldenDir, { withFileTypes: true }).filter((d) => d.isDirectory() && existsSync(join(goldenDir, d.name, 'expected-input.nft'))).map((d) => d.name);
const tmp = mkdtempSync(join(tmpdir(), 'svclab-nft-golden-'));

function render(name: string): string {
  const dir = join(goldenDir, name);
  const state = join(tmp, `${name}.yaml`);
  writeFileSync(state, `${readFileSync(join(dir, 'state.yaml'), 'utf8').trimEnd()}\n${DEFAULT_SERVICE_CIDR_YAML}`);
  const flags = readFileSync(join(dir, 'flags'), 'utf8').trim().split(/\s+/);
  const r = spawnSync(process.execPath, [join(root, 'bin/svclab.js'), 'proxy', 'render', '--proxy-mode', 'nftables', '--state', state, ...flags], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

const nftMissing = await nftUnavailable();
if (nftMissing) console.log(`# skipping the nft loads of the nftables goldens: ${nftMissing}`);

test('there are nftables goldens', () => {
  assert.ok(cases.length >= 5, `only ${cases.length} cases have expected-input.nft`);
});

for (const name of cases) {
  test(`golden ${name}: nftables render equals upstream's transaction, byte for byte`, () => {
    const text = render(name);
    assert.equal(text, readFileSync(join(goldenDir, name, 'expected-input.nft'), 'utf8'));
    assert.equal(render(name), text, 'rendering twice gives the same bytes');
  });

  test(`golden ${name}: loaded into nft, the render lists as upstream's table did`, { skip: nftMissing ?? false }, async () => {
    assert.equal(normalizeListing(await loadAndList(render(name))), readFileSync(join(goldenDir, name, 'expected.nft'), 'utf8'));
  });
}

// Whole-table golden tests for nftables mode: `svclab proxy render --proxy-mode nftables`
// on each case must print exactly expected-input.nft (the transaction
// upstream kube-proxy v1.34.4 logged for its first full sync, replayed on an empty table and
// dumped in knftables' order; captured by capture-nftables.ts), and, loaded with nft into an
// empty network namespace, list exactly as upstream's own table did (expected.nft, in the
// canonical form of normalizeListing). The second part needs root and nft and is skipped,
// with the reason printed, where they are missing.
//
// The cases (tests/support/nft-goldens.ts): those of tests/golden/proxy, shared with
// iptables mode, whose state.yaml holds what the API server was given (the API server adds
// its default ServiceCIDR 10.96.0.0/16, which upstream read, so it is added here too; the
// upstream comparison test checks this renders as the objects the API server served), and
// the dual-stack ones of tests/golden/proxy-nftables (ip and ip6 tables).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { normalizeListing } from '../../../runner/core/proxy/nftables/listing.ts';
import { loadAndList, nftUnavailable } from '../../support/nft.ts';
import { nftablesGoldenCases, type NftGoldenCase } from '../../support/nft-goldens.ts';

const root = new URL('../../..', import.meta.url).pathname;
const cases = nftablesGoldenCases().filter((c) => existsSync(join(c.dir, 'expected-input.nft')));
const tmp = mkdtempSync(join(tmpdir(), 'svclab-nft-golden-'));

function render(c: NftGoldenCase): string {
  const state = join(tmp, `${c.name.replace('/', '-')}.yaml`);
  writeFileSync(state, c.renderState);
  const r = spawnSync(process.execPath, [join(root, 'bin/svclab.js'), 'proxy', 'render', '--proxy-mode', 'nftables', '--state', state, ...c.flags.split(/\s+/)], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

const nftMissing = await nftUnavailable();
if (nftMissing) console.log(`# skipping the nft loads of the nftables goldens: ${nftMissing}`);

test('there are nftables goldens, IPv4 and dual-stack', () => {
  assert.ok(cases.length >= 6, `only ${cases.length} cases have expected-input.nft`);
  assert.ok(cases.some((c) => c.families.includes('ip6')));
});

for (const c of cases) {
  test(`golden ${c.name}: nftables render equals upstream's transaction, byte for byte`, () => {
    const text = render(c);
    assert.equal(text, readFileSync(join(c.dir, 'expected-input.nft'), 'utf8'));
    assert.equal(render(c), text, 'rendering twice gives the same bytes');
  });

  test(`golden ${c.name}: loaded into nft, the render lists as upstream's table did`, { skip: nftMissing ?? false }, async () => {
    assert.equal(normalizeListing(await loadAndList(render(c), c.families)), readFileSync(join(c.dir, 'expected.nft'), 'utf8'));
  });
}

test('bad input (the by-hand case): each problem is reported once, the rest renders, and nft accepts it', { skip: nftMissing ?? false }, async () => {
  const dir = join(root, 'tests/golden/proxy/bad-input');
  const flags = readFileSync(join(dir, 'flags'), 'utf8').trim().split(/\s+/);
  const r = spawnSync(process.execPath, [join(root, 'bin/svclab.js'), 'proxy', 'render', '--proxy-mode', 'nftables', '--state', join(dir, 'state.yaml'), ...flags], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const warnings = r.stderr.trim().split('\n');
  assert.equal(new Set(warnings).size, warnings.length, 'no warning twice');
  assert.ok(warnings.includes('svclab proxy render: Service bad/svc2: clusterIP "banana" is not an IP address; skipping the Service'), r.stderr);
  assert.ok(!r.stdout.includes('banana') && !r.stdout.includes('not-an-ip'));
  assert.match(normalizeListing(await loadAndList(r.stdout)), /^table ip kube-proxy \{/);
});

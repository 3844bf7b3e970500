// The proof of "same table as upstream" for nftables mode: for every golden case, upstream
// kube-proxy v1.34.4 runs with --proxy-mode=nftables in a network namespace against a real
// API server holding the case's objects; `svclab proxy render --proxy-mode nftables` gets
// what that API server serves (ServiceCIDRs included), with the same flags. Then
//  1. svclab's render equals upstream's logged first full-sync transaction, replayed on an
//     empty in-memory table and dumped in knftables' order, byte for byte (the order of
//     upstream's transaction follows Go map iteration; the dump is its canonical form);
//  2. svclab's render, loaded with nft into a fresh network namespace, lists exactly as the
//     table upstream made in its namespace. Normalization (normalizeListing): sets, maps and
//     chains sorted by name, set and map elements sorted one a line (the kernel lists them
//     in hash order), the contents of dynamic affinity sets left out (traffic fills them).
//     Rules, their order, and every object's properties are compared as nft prints them.
// The stored goldens the unit tests use are checked to still be what upstream does.
// Only the ip table is compared: upstream also makes an ip6 table on a node with IPv6,
// which svclab renders only for IPv6 services (these cases have none).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { FakeTable } from '../../../runner/core/proxy/nftables/fake.ts';
import { normalizeListing } from '../../../runner/core/proxy/nftables/listing.ts';
import { readStateFile } from '../../../runner/kube/state-file.ts';
import { canUseNetns } from '../../support/netns.ts';
import { DEFAULT_SERVICE_CIDR_YAML, loadAndList, nftUnavailable } from '../../support/nft.ts';
import { controlPlaneUnavailable, startControlPlane, type ControlPlane } from '../../support/control-plane.ts';
import { loadState, splitFlags } from './upstream.ts';
import { readNftablesState, upstreamNftables } from './upstream-nftables.ts';

const root = new URL('../../..', import.meta.url).pathname;
const goldenDir = join(root, 'tests/golden/proxy');
const cases = readdirSync(goldenDir, { withFileTypes: true })
  .filter((d) => d.isDirectory() && !existsSync(join(goldenDir, d.name, 'by-hand')))
  .map((d) => d.name);

const missing = controlPlaneUnavailable(['kube-proxy']);
const skip = missing ? `upstream binaries missing: ${missing}` : !(await canUseNetns()) ? 'needs root and ip netns' : await nftUnavailable();
if (skip) console.log(`# skipping the nftables upstream comparison: ${skip}`);

const tmp = mkdtempSync(join(tmpdir(), 'svclab-nftcmp-'));
let cp: ControlPlane;
before(async () => {
  if (!skip) cp = await startControlPlane();
});
after(async () => {
  await cp?.stop();
});

function render(stateFile: string, flags: string): string {
  const r = spawnSync(process.execPath, [join(root, 'bin/svclab.js'), 'proxy', 'render', '--proxy-mode', 'nftables', '--state', stateFile, ...flags.trim().split(/\s+/)], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

for (const name of cases) {
  test(`${name}: svclab's nftables table is upstream's`, { skip: skip ?? false, timeout: 180_000 }, async () => {
    const dir = join(goldenDir, name);
    const flags = readFileSync(join(dir, 'flags'), 'utf8');
    await loadState(cp, await readStateFile(join(dir, 'state.yaml')));
    const { upstream, addresses } = splitFlags(flags);
    const theirs = await upstreamNftables(cp, upstream, addresses);
    assert.match(theirs.listing, /Drop traffic to unallocated ClusterIPs/, 'upstream synced before it knew the ServiceCIDRs; run again');
    const replayed = new FakeTable('ip', 'kube-proxy');
    replayed.runText(theirs.transaction);
    const theirListing = normalizeListing(theirs.listing);

    const served = join(tmp, `${name}-served.json`);
    writeFileSync(served, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: await readNftablesState(cp) }));
    const ours = render(served, flags);
    assert.equal(ours, replayed.dump(), 'the render is upstream\'s transaction');
    assert.equal(normalizeListing(await loadAndList(ours)), theirListing, 'loaded into nft, the render lists as upstream\'s table');

    // What the unit tests render (the case's objects plus the API server's default ServiceCIDR) is the same.
    const given = join(tmp, `${name}.yaml`);
    writeFileSync(given, `${readFileSync(join(dir, 'state.yaml'), 'utf8').trimEnd()}\n${DEFAULT_SERVICE_CIDR_YAML}`);
    assert.equal(render(given, flags), ours);
    // The goldens the unit tests use are still what upstream does.
    assert.equal(readFileSync(join(dir, 'expected-input.nft'), 'utf8'), replayed.dump());
    assert.equal(readFileSync(join(dir, 'expected.nft'), 'utf8'), theirListing);
  });
}

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
// The cases of tests/golden/proxy compare the ip table (upstream also makes an ip6 table on
// a node with IPv6, which svclab renders only for IPv6 services; they have none); the
// dual-stack cases of tests/golden/proxy-nftables compare the ip and the ip6 tables, on an
// API server started with their ServiceCIDRs.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { FakeTable } from '../../../runner/core/proxy/nftables/fake.ts';
import { normalizeListing } from '../../../runner/core/proxy/nftables/listing.ts';
import { parseState } from '../../../runner/kube/state-file.ts';
import { canUseNetns } from '../../support/netns.ts';
import { loadAndList, nftUnavailable } from '../../support/nft.ts';
import { nftablesGoldenCases } from '../../support/nft-goldens.ts';
import { controlPlaneUnavailable, startControlPlane, type ControlPlane } from '../../support/control-plane.ts';
import { loadState, splitFlags } from './upstream.ts';
import { readNftablesState, upstreamNftables } from './upstream-nftables.ts';

const root = new URL('../../..', import.meta.url).pathname;
const cases = nftablesGoldenCases().filter((c) => !c.byHand);

const missing = controlPlaneUnavailable(['kube-proxy']);
const skip = missing ? `upstream binaries missing: ${missing}` : !(await canUseNetns()) ? 'needs root and ip netns' : await nftUnavailable();
if (skip) console.log(`# skipping the nftables upstream comparison: ${skip}`);

const tmp = mkdtempSync(join(tmpdir(), 'svclab-nftcmp-'));
/** One local API server per --service-cluster-ip-range the cases need. */
const planes = new Map<string, Promise<ControlPlane>>();
const controlPlane = (range: string) => {
  if (!planes.has(range)) planes.set(range, startControlPlane({ serviceCIDR: range }));
  return planes.get(range)!;
};
after(async () => {
  for (const cp of planes.values()) await (await cp.catch(() => null))?.stop();
});

function render(stateFile: string, flags: string): string {
  const r = spawnSync(process.execPath, [join(root, 'bin/svclab.js'), 'proxy', 'render', '--proxy-mode', 'nftables', '--state', stateFile, ...flags.split(/\s+/)], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

for (const c of cases) {
  test(`${c.name}: svclab's nftables tables are upstream's (${c.families.join(', ')})`, { skip: skip ?? false, timeout: 180_000 }, async () => {
    const cp = await controlPlane(c.serviceCIDRs.join(','));
    await loadState(cp, parseState(c.renderState, join(c.dir, 'state.yaml')));
    const { upstream, addresses } = splitFlags(c.flags);
    const theirs = await upstreamNftables(cp, upstream, addresses, c.families);
    let theirDump = '';
    let theirListing = '';
    for (const f of c.families) {
      assert.match(theirs.listing[f]!, /Drop traffic to unallocated ClusterIPs/, `upstream synced ${f} before it knew the ServiceCIDRs; run again`);
      const replayed = new FakeTable(f, 'kube-proxy');
      replayed.runText(theirs.transaction[f]!);
      theirDump += replayed.dump();
      theirListing += theirs.listing[f]!;
    }
    theirListing = normalizeListing(theirListing);

    const served = join(tmp, `${c.name.replace('/', '-')}-served.json`);
    writeFileSync(served, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: await readNftablesState(cp) }));
    const ours = render(served, c.flags);
    assert.equal(ours, theirDump, 'the render is upstream\'s transaction');
    assert.equal(normalizeListing(await loadAndList(ours, c.families)), theirListing, 'loaded into nft, the render lists as upstream\'s tables');

    // What the unit tests render (the case's objects, with the API server's ServiceCIDRs) is the same.
    const given = join(tmp, `${c.name.replace('/', '-')}.yaml`);
    writeFileSync(given, c.renderState);
    assert.equal(render(given, c.flags), ours);
    // The goldens the unit tests use are still what upstream does.
    assert.equal(readFileSync(join(c.dir, 'expected-input.nft'), 'utf8'), theirDump);
    assert.equal(readFileSync(join(c.dir, 'expected.nft'), 'utf8'), theirListing);
  });
}

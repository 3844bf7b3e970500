// Regenerates the nftables goldens of every case here and in ../proxy-nftables from
// upstream kube-proxy v1.34.4 in nftables mode (not from svclab): applies state.yaml to a
// local API server (started with the case's ServiceCIDRs), runs upstream with the case's
// flags and keeps, from its first full sync of each family the case compares,
//   expected.nft        `nft list table FAMILY kube-proxy` in canonical form (normalizeListing)
//   expected-input.nft  the transactions it logged, replayed on empty tables and dumped in
//                       knftables' order: what `svclab proxy render --proxy-mode nftables` prints.
// Cases with a `by-hand` file are not captured. Needs root.
//   npx tsx tests/golden/proxy/capture-nftables.ts [case…]
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FakeTable } from '../../../runner/core/proxy/nftables/fake.ts';
import { normalizeListing } from '../../../runner/core/proxy/nftables/listing.ts';
import { parseState } from '../../../runner/kube/state-file.ts';
import { startControlPlane, type ControlPlane } from '../../support/control-plane.ts';
import { nftablesGoldenCases } from '../../support/nft-goldens.ts';
import { loadState, splitFlags } from '../../integration/proxy/upstream.ts';
import { upstreamNftables } from '../../integration/proxy/upstream-nftables.ts';

const only = process.argv.slice(2);
const planes = new Map<string, ControlPlane>();
try {
  for (const c of nftablesGoldenCases()) {
    if (c.byHand || (only.length && !only.includes(c.name))) continue;
    const range = c.serviceCIDRs.join(',');
    if (!planes.has(range)) planes.set(range, await startControlPlane({ serviceCIDR: range }));
    const cp = planes.get(range)!;
    await loadState(cp, parseState(c.renderState, join(c.dir, 'state.yaml')));
    const { upstream, addresses } = splitFlags(c.flags);
    const theirs = await upstreamNftables(cp, upstream, addresses, c.families);
    let dump = '';
    let listing = '';
    for (const f of c.families) {
      const table = new FakeTable(f, 'kube-proxy');
      table.runText(theirs.transaction[f]!);
      dump += table.dump();
      listing += theirs.listing[f]!;
    }
    writeFileSync(join(c.dir, 'expected.nft'), normalizeListing(listing));
    writeFileSync(join(c.dir, 'expected-input.nft'), dump);
    console.log(`${c.name}: ${c.families.map((f) => `${f} ${theirs.transaction[f]!.split('\n').length} transaction lines`).join(', ')}`);
  }
} finally {
  for (const cp of planes.values()) await cp.stop();
}

// Regenerates the nftables goldens of every case here from upstream kube-proxy v1.34.4 in
// nftables mode (not from svclab): applies state.yaml to a local API server, runs upstream
// with the case's flags and keeps, from its first IPv4 full sync,
//   expected.nft        `nft list table ip kube-proxy` in canonical form (normalizeListing)
//   expected-input.nft  the transaction it logged, replayed on an empty table and dumped in
//                       knftables' order: what `svclab proxy render --proxy-mode nftables` prints.
// Cases with a `by-hand` file are not captured. Needs root.
//   npx tsx tests/golden/proxy/capture-nftables.ts [case…]
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FakeTable } from '../../../runner/core/proxy/nftables/fake.ts';
import { normalizeListing } from '../../../runner/core/proxy/nftables/listing.ts';
import { readStateFile } from '../../../runner/kube/state-file.ts';
import { startControlPlane } from '../../support/control-plane.ts';
import { loadState, splitFlags } from '../../integration/proxy/upstream.ts';
import { upstreamNftables } from '../../integration/proxy/upstream-nftables.ts';

const dir = new URL('.', import.meta.url).pathname;
const only = process.argv.slice(2);
const cases = readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory() && (only.length === 0 || only.includes(d.name))).map((d) => d.name);
const cp = await startControlPlane();
try {
  for (const c of cases) {
    if (existsSync(join(dir, c, 'by-hand'))) continue;
    await loadState(cp, await readStateFile(join(dir, c, 'state.yaml')));
    const { upstream, addresses } = splitFlags(readFileSync(join(dir, c, 'flags'), 'utf8'));
    const { transaction, listing } = await upstreamNftables(cp, upstream, addresses);
    const table = new FakeTable('ip', 'kube-proxy');
    table.runText(transaction);
    writeFileSync(join(dir, c, 'expected.nft'), normalizeListing(listing));
    writeFileSync(join(dir, c, 'expected-input.nft'), table.dump());
    console.log(`${c}: ${transaction.split('\n').length} transaction lines`);
  }
} finally {
  await cp.stop();
}

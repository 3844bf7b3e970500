// Regenerates state.json and expected.txt of every IPVS golden case from upstream
// kube-proxy v1.34.4 (not from svclab): applies the case's state to a local API server,
// reads the objects back as the API server defaults them, and runs one sync of upstream's
// IPVS proxier on them (upstream.ts). Needs root and Go.
//   npx tsx tests/golden/proxy-ipvs/capture.ts [case…]
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readStateFile } from '../../../runner/kube/state-file.ts';
import { startControlPlane } from '../../support/control-plane.ts';
import { loadState, readState } from '../../integration/proxy/upstream.ts';
import { canonicalText, jumpsFromSave } from './canonical.ts';
import { caseFlags, caseNames, caseSource, casesDir, harnessSettingsFor } from './cases.ts';
import { buildHarness, upstreamIpvsSync } from './upstream.ts';

const only = process.argv.slice(2);
const bin = await buildHarness((l) => console.log(l));
const cp = await startControlPlane();
try {
  for (const name of caseNames().filter((n) => only.length === 0 || only.includes(n))) {
    await loadState(cp, await readStateFile(caseSource(name)));
    const objects = await readState(cp);
    writeFileSync(join(casesDir, name, 'state.json'), `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }, null, 1)}\n`);
    const { settings, addresses } = harnessSettingsFor(caseFlags(name), objects);
    const r = await upstreamIpvsSync(bin, objects, settings, addresses);
    const text = canonicalText({ addresses: r.addresses, ipvs: r.ipvs, ipsets: r.ipsetSave.split('\n'), jumps: jumpsFromSave(r.iptablesSave), restore: r.restore });
    writeFileSync(join(casesDir, name, 'expected.txt'), text);
    console.log(`${name}: ${r.ipvs.length} ipvs lines, ${r.addresses.length} addresses`);
  }
} finally {
  await cp.stop();
}

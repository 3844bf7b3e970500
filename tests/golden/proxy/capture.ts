// Regenerates expected.txt of every case here from upstream kube-proxy v1.34.4 (not from
// svclab): applies state.yaml to a local API server, runs upstream with the case's flags
// and keeps its first full sync in upstream's canonical order. Cases with a `by-hand`
// file are not captured (their input cannot pass API validation). Needs root.
//   npx tsx tests/golden/proxy/capture.ts [case…]
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sortRulesTextByServicePort } from '../../../runner/core/proxy/iptables-dump.ts';
import { readStateFile } from '../../../runner/kube/state-file.ts';
import { startControlPlane } from '../../support/control-plane.ts';
import { loadState, splitFlags, upstreamRestoreInput } from '../../integration/proxy/upstream.ts';

const dir = new URL('.', import.meta.url).pathname;
const only = process.argv.slice(2);
const cases = readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory() && (only.length === 0 || only.includes(d.name))).map((d) => d.name);
const cp = await startControlPlane();
try {
  for (const c of cases) {
    if (existsSync(join(dir, c, 'by-hand'))) continue;
    await loadState(cp, await readStateFile(join(dir, c, 'state.yaml')));
    const { upstream, addresses } = splitFlags(readFileSync(join(dir, c, 'flags'), 'utf8'));
    const text = await upstreamRestoreInput(cp, upstream, addresses);
    writeFileSync(join(dir, c, 'expected.txt'), sortRulesTextByServicePort(text));
    console.log(`${c}: ${text.split('\n').length} lines`);
  }
} finally {
  await cp.stop();
}

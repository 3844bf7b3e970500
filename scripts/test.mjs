#!/usr/bin/env node
// Runs svclab's test suites with node:test (TypeScript through tsx).
//   node scripts/test.mjs unit|integration|e2e|all [file filter…]
// Unit tests need nothing. Integration tests need root (network namespaces, iptables)
// and, for the cluster tests, Docker. e2e tests need Debian's chromium as well.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const [suite = 'unit', ...filters] = process.argv.slice(2);
const suites = suite === 'all' ? ['unit', 'integration', 'e2e'] : [suite];

function testFiles(dir) {
  let out = [];
  let entries;
  try { entries = readdirSync(dir); } catch { return out; }
  for (const name of entries.sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out = out.concat(testFiles(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

let failed = false;
for (const s of suites) {
  const files = testFiles(join(root, 'tests', s)).filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
  if (files.length === 0) continue;
  console.log(`\n== ${s} tests: ${files.length} files ==`);
  const concurrency = s === 'unit' ? 4 : 2;
  const args = ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files.map((f) => relative(root, f))];
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit', env: { ...process.env, SVCLAB_TEST_SUITE: s } });
  if (r.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);

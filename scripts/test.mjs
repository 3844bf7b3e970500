#!/usr/bin/env node
// Runs svclab's test suites with node:test (TypeScript through tsx).
//   node scripts/test.mjs static|unit|integration|e2e|all [file filter…]
// `all` runs the typecheck and lint first, then every suite.
// Unit tests need nothing. Integration tests need root (network namespaces, iptables)
// and, for the cluster tests, Docker. e2e tests need Debian's chromium as well.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const [suite = 'unit', ...filters] = process.argv.slice(2);
const suites = suite === 'all' ? ['static', 'unit', 'integration', 'e2e'] : [suite];

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

function prepare(suite) {
  if (suite === 'unit') return true;
  if (process.getuid?.() !== 0) {
    console.error(`${suite} tests need root (network namespaces, iptables, Docker): run them as root`);
    return false;
  }
  // Build (or reuse) every image first, so that no test pays for a cold build inside its timeout.
  console.log(`\n== preparing ${suite} tests: svclab images build ==`);
  const r = spawnSync(process.execPath, ['bin/svclab.js', 'images', 'build'], { cwd: root, stdio: 'inherit' });
  return r.status === 0;
}

let failed = false;
let prepared = false;
for (const s of suites) {
  if (s === 'static') {
    for (const script of ['typecheck', 'lint']) {
      console.log(`\n== npm run ${script} ==`);
      const r = spawnSync('npm', ['run', '--silent', script], { cwd: root, stdio: 'inherit' });
      if (r.status !== 0) failed = true;
    }
    continue;
  }
  const files = testFiles(join(root, 'tests', s)).filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
  if (files.length === 0) continue;
  if (s !== 'unit' && !prepared) {
    if (!prepare(s)) {
      failed = true;
      break;
    }
    prepared = true;
  }
  console.log(`\n== ${s} tests: ${files.length} files ==`);
  const concurrency = s === 'unit' ? 4 : 2;
  const args = ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files.map((f) => relative(root, f))];
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit', env: { ...process.env, SVCLAB_TEST_SUITE: s } });
  if (r.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);

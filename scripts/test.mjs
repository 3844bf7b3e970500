#!/usr/bin/env node
// Runs svclab's test suites with node:test (TypeScript through tsx).
//   node scripts/test.mjs static|unit|integration|e2e|all [file filter…]
// `all` runs the typecheck and lint first, then every suite.
// Files named *.cluster.test.ts (and all e2e tests) share one lab cluster, brought up
// after the other integration tests (which make their own) and deleted at the end
// unless SVCLAB_KEEP_TEST_CLUSTER=1.
// Unit tests need nothing. Integration tests need root (network namespaces, iptables)
// and, for the cluster tests, Docker. e2e tests need Debian's chromium as well.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
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

// What the integration and e2e tests run, and the Debian package each comes from.
const SYSTEM_NEEDS = [
  ['/usr/bin/dig', 'dnsutils'], ['/usr/bin/chromium', 'chromium'], ['/usr/sbin/iptables', 'iptables'], ['/usr/sbin/nft', 'nftables'],
  ['/usr/sbin/ipset', 'ipset'], ['/usr/sbin/conntrack', 'conntrack'], ['/usr/sbin/nfacct', 'nfacct'], ['/usr/bin/dnsperf', 'dnsperf'],
  ['/usr/bin/jq', 'jq'], ['/usr/bin/xmllint', 'libxml2-utils'], ['/usr/bin/curl', 'curl'], ['/usr/sbin/debootstrap', 'debootstrap'],
  ['/usr/bin/gcc', 'gcc'], ['/usr/include/stdio.h', 'libc6-dev'], ['/usr/bin/strip', 'binutils'], ['/usr/sbin/ip', 'iproute2'],
  ['/usr/share/fonts/truetype/wqy/wqy-microhei.ttc', 'fonts-wqy-microhei'], ['/etc/ssl/certs/ca-certificates.crt', 'ca-certificates'],
];
let systemReady = false;
/** Installs the Debian packages the tests need that are missing (root on Debian; SVCLAB_NO_APT=1 skips). */
function installSystemPackages() {
  if (systemReady) return true;
  const missing = [...new Set(SYSTEM_NEEDS.filter(([path]) => !existsSync(path)).map(([, pkg]) => pkg))];
  if (missing.length === 0 || process.env.SVCLAB_NO_APT) return (systemReady = true);
  if (!existsSync('/usr/bin/apt-get')) {
    console.error(`the tests need these Debian packages (or their equivalents): ${missing.join(' ')}`);
    return false;
  }
  console.log(`\n== installing what the tests need: apt-get install ${missing.join(' ')} ==`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: ['ignore', 'ignore', 'inherit'], env }).status === 0;
  const ok = install() || (spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env }).status === 0 && install());
  if (!ok) console.error(`apt-get could not install ${missing.join(' ')}: install them and run the tests again`);
  return (systemReady = ok);
}

function prepare(suite) {
  if (suite === 'unit') return true;
  if (process.getuid?.() !== 0) {
    console.error(`${suite} tests need root (network namespaces, iptables, Docker): run them as root`);
    return false;
  }
  if (!installSystemPackages()) return false;
  // Build (or reuse) every image first, so that no test pays for a cold build inside its timeout.
  console.log(`\n== preparing ${suite} tests: svclab images build ==`);
  const r = spawnSync(process.execPath, ['bin/svclab.js', 'images', 'build'], { cwd: root, stdio: 'inherit' });
  return r.status === 0;
}

const TEST_CLUSTER = process.env.SVCLAB_TEST_CLUSTER ?? 'svclab-test';
let clusterUp = false;
function ensureTestCluster() {
  if (clusterUp) return true;
  console.log(`\n== bringing up the shared test cluster ${TEST_CLUSTER} ==`);
  const r = spawnSync(process.execPath, ['bin/svclab.js', 'cluster', 'up', '--name', TEST_CLUSTER], { cwd: root, stdio: 'inherit' });
  clusterUp = r.status === 0;
  return clusterUp;
}

// A test file whose process never exits (a leaked socket or timer) would hang the run until
// CI's own limit: each batch gets a deadline and is killed, with a message, past it.
const BATCH_MINUTES = { unit: 10, integration: 50, e2e: 40 };

function runFiles(label, files, concurrency, suite) {
  if (files.length === 0) return true;
  console.log(`\n== ${label}: ${files.length} files ==`);
  const args = ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files.map((f) => relative(root, f))];
  const minutes = BATCH_MINUTES[suite] ?? 30;
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit', env: { ...process.env, SVCLAB_TEST_CLUSTER: TEST_CLUSTER }, timeout: minutes * 60_000, killSignal: 'SIGKILL' });
  if (r.error?.code === 'ETIMEDOUT' || r.signal === 'SIGKILL') console.error(`\n${label}: still running after ${minutes} minutes, killed (a test file whose process does not exit?)`);
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
  const shared = files.filter((f) => s === 'e2e' || f.endsWith('.cluster.test.ts'));
  const own = files.filter((f) => !shared.includes(f));
  if (!runFiles(`${s} tests`, own, s === 'unit' ? 4 : 2, s)) failed = true;
  if (shared.length) {
    if (!ensureTestCluster()) failed = true;
    else if (!runFiles(`${s} tests on cluster ${TEST_CLUSTER}`, shared, 1, s)) failed = true;
  }
}
if (clusterUp && process.env.SVCLAB_KEEP_TEST_CLUSTER !== '1') {
  spawnSync(process.execPath, ['bin/svclab.js', 'cluster', 'down', '--name', TEST_CLUSTER], { cwd: root, stdio: 'inherit' });
}
process.exit(failed ? 1 : 0);

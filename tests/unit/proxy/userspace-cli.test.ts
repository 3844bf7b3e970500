// `svclab proxy run|render --proxy-mode userspace` from the command line: what is refused
// (one line, nonzero exit, before anything starts) and the render's determinism.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { service, slice } from './fixtures.ts';

const root = new URL('../../..', import.meta.url).pathname;
const svclab = (...args: string[]) => spawnSync(process.execPath, [join(root, 'bin/svclab.js'), 'proxy', ...args], { encoding: 'utf8', timeout: 60_000 });
const dir = mkdtempSync(join(tmpdir(), 'svclab-us-cli-'));

test('--netns is refused in userspace mode, saying to run the proxy inside the namespace', () => {
  const r = svclab('run', '--proxy-mode', 'userspace', '--netns', 'node1', '--kubeconfig', '/nonexistent');
  assert.equal(r.status, 1);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, "svclab: --netns cannot be used with --proxy-mode=userspace: its proxy sockets must be in the node's network namespace; run it inside instead: ip netns exec node1 svclab proxy run --proxy-mode userspace …\n");
});

test('bad userspace flags are one line each, before any API server is contacted', () => {
  const run = (...flags: string[]) => svclab('run', '--proxy-mode', 'userspace', '--kubeconfig', '/nonexistent', ...flags).stderr;
  assert.equal(run('--proxy-port-range', '30010-30000'), 'svclab: --proxy-port-range "30010-30000": end port cannot be less than start port\n');
  assert.equal(run('--udp-timeout', '0'), 'svclab: --udp-timeout 0: expected a duration greater than 0, e.g. 250ms\n');
  assert.equal(run('--udp-timeout', 'soon'), 'svclab: --udp-timeout soon: expected a duration greater than 0, e.g. 250ms\n');
  assert.match(run('--bind-address', '127.0.0.1'), /^svclab: --bind-address 127\.0\.0\.1: the userspace proxy cannot proxy on localhost .*\n$/);
});

test('render prints the portal rules deterministically, with placeholder proxy ports', () => {
  const state = join(dir, 'state.json');
  const items = [service('lab', 'web', '10.96.0.10'), slice('lab', 'web', [['10.244.1.2', 'node-a']]), { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a' }, status: { addresses: [{ type: 'InternalIP', address: '192.168.8.2' }] } }];
  writeFileSync(state, JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
  const r = svclab('render', '--proxy-mode', 'userspace', '--state', state, '--hostname-override', 'node-a');
  assert.equal(r.status, 0, r.stderr);
  assert.ok(r.stdout.includes('-A KUBE-PORTALS-CONTAINER -d 10.96.0.10/32 -p tcp -m comment --comment "lab/web:http" -m tcp --dport 80 -j REDIRECT --to-ports 32768\n'), r.stdout);
  assert.ok(r.stdout.includes('-A KUBE-PORTALS-HOST -d 10.96.0.10/32 -p tcp -m comment --comment "lab/web:http" -m tcp --dport 80 -j DNAT --to-destination 192.168.8.2:32768\n'), r.stdout);
  assert.equal(svclab('render', '--proxy-mode', 'userspace', '--state', state, '--hostname-override', 'node-a').stdout, r.stdout);
});

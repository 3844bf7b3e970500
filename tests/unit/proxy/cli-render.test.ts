import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

const root = new URL('../../..', import.meta.url).pathname;
const render = (...args: string[]) => spawnSync(process.execPath, [join(root, 'bin/svclab.js'), 'proxy', 'render', ...args], { encoding: 'utf8' });
const dir = mkdtempSync(join(tmpdir(), 'svclab-render-'));

test('an unreadable state file is one line naming the file and the problem', () => {
  const missing = join(dir, 'nope.yaml');
  const r = render('--state', missing);
  assert.equal(r.status, 1);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, `svclab: cannot read state file ${missing}: no such file\n`);

  const broken = join(dir, 'broken.json');
  writeFileSync(broken, '{"kind": "List", "items": [');
  const b = render('--state', broken);
  assert.equal(b.status, 1);
  assert.match(b.stderr, new RegExp(`^svclab: state file ${broken} is not valid JSON: .*\\n$`));
  assert.equal(b.stderr.split('\n').length, 2);

  const notK8s = join(dir, 'x.yaml');
  writeFileSync(notK8s, 'hello: world\n');
  assert.match(render('--state', notK8s).stderr, /^svclab: state file .*x\.yaml: the document has no apiVersion\/kind/);
});

test('bad flag values are refused with the upstream flag name', () => {
  const ok = join(dir, 'empty.yaml');
  writeFileSync(ok, 'apiVersion: v1\nkind: List\nitems: []\n');
  assert.match(render('--state', ok, '--iptables-masquerade-bit=32').stderr, /^svclab: --iptables-masquerade-bit 32 must be within the range \[0, 31\]\n$/);
  assert.match(render('--state', ok, '--cluster-cidr=10.0.0.0/99').stderr, /--cluster-cidr "10.0.0.0\/99" is not a CIDR/);
  assert.match(render('--state', ok, '--node-ip=nope').stderr, /--node-ip "nope" is not an IP address/);
  assert.match(render('--state', ok, '--nfacct=maybe').stderr, /--nfacct=maybe: expected true or false/);
  assert.match(render('--state', ok, '--nodeport-addresses=1.2.3.4').stderr, /--nodeport-addresses "1.2.3.4" is not a CIDR/);
});

test('the flags change the output as upstream\'s do', () => {
  const state = join(root, 'tests/golden/proxy/masquerade-all/state.yaml');
  const base = render('--state', state, '--hostname-override=node-a').stdout;
  assert.ok(base.includes('--or-mark 0x00004000'));
  assert.ok(render('--state', state, '--hostname-override=node-a', '--iptables-masquerade-bit=3').stdout.includes('--or-mark 0x00000008'));
  assert.ok(!render('--state', state, '--hostname-override=node-a', '--nfacct=false').stdout.includes('nfacct'));
  assert.ok(!base.includes('! -s 10.244.0.0/16'));
  assert.ok(render('--state', state, '--hostname-override=node-a', '--cluster-cidr=10.244.0.0/16').stdout.includes('! -s 10.244.0.0/16 -j KUBE-MARK-MASQ'));
  // Without --iptables-localhost-nodeports, loopback is excluded from NodePorts.
  assert.ok(render('--state', state, '--hostname-override=node-a', '--iptables-localhost-nodeports=false').stdout.includes('-m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS'));
});

// What `kube-proxy --cleanup` removes in iptables mode, decided from iptables-save output.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planIptablesCleanup } from '../../../runner/core/proxy/cleanup.ts';
import { parseSaveTables } from '../../../runner/core/proxy/jump-rules.ts';

const save = [
  '*mangle', ':PREROUTING ACCEPT [0:0]', ':KUBE-IPTABLES-HINT - [0:0]', ':KUBE-KUBELET-CANARY - [0:0]', ':KUBE-PROXY-CANARY - [0:0]', 'COMMIT',
  '*filter', ':INPUT ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':KUBE-FIREWALL - [0:0]', ':KUBE-NODEPORTS - [0:0]', ':KUBE-FORWARD - [0:0]', ':MY-OWN - [0:0]',
  '-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS',
  '-A INPUT -j KUBE-FIREWALL',
  '-A INPUT -j MY-OWN',
  'COMMIT',
  '*nat', ':PREROUTING ACCEPT [0:0]', ':KUBE-SERVICES - [0:0]', ':KUBE-SVC-AAAA - [0:0]', ':KUBE-SEP-BBBB - [0:0]', ':KUBE-MARK-MASQ - [0:0]', ':KUBE-PORTALS-HOST - [0:0]',
  '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
  '-A KUBE-SERVICES -j KUBE-SVC-AAAA', '-A KUBE-SVC-AAAA -j KUBE-SEP-BBBB',
  'COMMIT', '',
].join('\n');

test('cleanup unlinks the jumps, flushes and deletes kube-proxy\'s chains and the per-service ones, and keeps kubelet\'s and others\'', () => {
  const plan = planIptablesCleanup(parseSaveTables(save));
  assert.equal(plan.text, [
    '*filter', ':KUBE-FORWARD - [0:0]', ':KUBE-NODEPORTS - [0:0]',
    '-D INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS',
    '-X KUBE-FORWARD', '-X KUBE-NODEPORTS', 'COMMIT',
    '*nat', ':KUBE-MARK-MASQ - [0:0]', ':KUBE-SERVICES - [0:0]', ':KUBE-SEP-BBBB - [0:0]', ':KUBE-SVC-AAAA - [0:0]',
    '-D PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-X KUBE-MARK-MASQ', '-X KUBE-SERVICES', '-X KUBE-SEP-BBBB', '-X KUBE-SVC-AAAA', 'COMMIT',
    '*mangle', ':KUBE-PROXY-CANARY - [0:0]', '-X KUBE-PROXY-CANARY', 'COMMIT', '',
  ].join('\n'));
  assert.ok(!plan.text.includes('KUBE-FIREWALL') && !plan.text.includes('KUBE-KUBELET-CANARY') && !plan.text.includes('KUBE-IPTABLES-HINT'), 'kubelet\'s chains stay');
  assert.ok(!plan.text.includes('MY-OWN') && !plan.text.includes('KUBE-PORTALS-HOST'), 'other programs\' chains stay');
  assert.equal(plan.removed.length, 9, "2 jumps and 7 chains");
});

test('nothing of kube-proxy\'s there: nothing to restore', () => {
  assert.deepEqual(planIptablesCleanup(parseSaveTables('*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n')), { text: '', removed: [] });
});

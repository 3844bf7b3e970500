// Renderer behaviour that the golden cases do not pin: options upstream detects at run
// time, partial syncs, stale chains, IPv6, large-cluster mode and the rule counts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkRuleJumps, parseDump } from '../../../runner/core/proxy/iptables-dump.ts';
import { renderRules, type RenderOptions } from '../../../runner/core/proxy/render.ts';
import { renderOptionsFor } from '../../../runner/core/proxy/options.ts';
import { ProxyState } from '../../../runner/core/proxy/tracker.ts';
import { chainRules, noWarn, options, service, settings, slice } from './fixtures.ts';

function stateWith(objs: { svcs: ReturnType<typeof service>[]; slices: ReturnType<typeof slice>[] }, family: 'IPv4' | 'IPv6' = 'IPv4') {
  const st = new ProxyState(family, 'node-a', noWarn);
  for (const s of objs.svcs) st.onService(null, s);
  for (const s of objs.slices) st.onEndpointSlice(s, false);
  st.update();
  return st;
}

const view = (st: ProxyState) => ({ servicePorts: st.servicePorts(), endpointsFor: (k: string) => st.endpointsFor(k) });

test('without nfacct counters, no rule counts into them', () => {
  const st = stateWith({ svcs: [service('a', 'np', '10.96.0.10', (s) => { s.spec!.type = 'NodePort'; s.spec!.ports![0]!.nodePort = 30001; })], slices: [slice('a', 'np', [['10.244.1.1', 'node-b']])] });
  const text = renderRules(view(st), options({ nfacct: false }), { full: true }).text;
  assert.ok(!text.includes('nfacct'));
  assert.deepEqual(chainRules(text, 'nat', 'KUBE-NODEPORTS'), ['-m comment --comment a/np:http -m tcp -p tcp --dport 30001 -j KUBE-EXT-' + st.servicePorts()[0]!.chains.ext.slice(9)]);
  assert.equal(chainRules(text, 'filter', 'KUBE-FORWARD')[0], '-m conntrack --ctstate INVALID -j DROP');
});

test('with tcp_be_liberal there is no INVALID drop; without random-fully, plain MASQUERADE', () => {
  const text = renderRules(view(stateWith({ svcs: [], slices: [] })), options({ conntrackTCPBeLiberal: true, randomFully: false }), { full: true }).text;
  assert.deepEqual(chainRules(text, 'filter', 'KUBE-FORWARD'), [
    '-m comment --comment "kubernetes forwarding rules" -m mark --mark 0x00004000/0x00004000 -j ACCEPT',
    '-m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
  ]);
  assert.equal(chainRules(text, 'nat', 'KUBE-POSTROUTING')[2], '-m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE');
});

test('IPv6: no KUBE-FIREWALL, no localhost NodePorts, ::1 excluded from the nodeports jump', () => {
  const svc = service('a', 'v6', 'fd00:96::10', (s) => { s.spec!.type = 'NodePort'; s.spec!.ports![0]!.nodePort = 30006; });
  const sl = { ...slice('a', 'v6', [['fd00:244::5', 'node-b']]), addressType: 'IPv6' };
  const st = stateWith({ svcs: [svc], slices: [sl] }, 'IPv6');
  const o: RenderOptions = renderOptionsFor(settings({ clusterCIDRs: ['10.244.0.0/16', 'fd00:244::/64'] }), null, 'IPv6');
  const text = renderRules(view(st), o, { full: true }).text;
  assert.ok(!text.includes('KUBE-FIREWALL'));
  const sp = st.servicePorts()[0]!;
  assert.deepEqual(chainRules(text, 'nat', 'KUBE-SERVICES'), [
    `-m comment --comment "a/v6:http cluster IP" -m tcp -p tcp -d fd00:96::10 --dport 80 -j ${sp.chains.svc}`,
    '-m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL ! -d ::1/128 -j KUBE-NODEPORTS',
  ]);
  assert.ok(chainRules(text, 'nat', sp.chains.svc).some((r) => r.includes('! -s fd00:244::/64')));
  assert.ok(text.includes('-j DNAT --to-destination [fd00:244::5]:8080'));
  // An IPv4 service is not this proxier's business.
  assert.equal(stateWith({ svcs: [service('a', 'v4', '10.96.0.1')], slices: [] }, 'IPv6').servicePorts().length, 0);
});

test('a partial sync rewrites only changed services, and counts every rule', () => {
  const st = new ProxyState('IPv4', 'node-a', noWarn);
  st.onService(null, service('a', 'one', '10.96.0.1'));
  st.onService(null, service('a', 'two', '10.96.0.2'));
  st.onEndpointSlice(slice('a', 'one', [['10.244.1.1', 'node-b']]), false);
  st.onEndpointSlice(slice('a', 'two', [['10.244.1.2', 'node-b']]), false);
  st.update();
  const full = renderRules(view(st), options(), { full: true });

  st.onEndpointSlice(slice('a', 'two', [['10.244.1.2', 'node-b'], ['10.244.1.3', 'node-c']]), false);
  const { updatedServices } = st.update();
  assert.deepEqual([...updatedServices], ['a/two']);
  const partial = renderRules(view(st), options(), { full: false, updatedServices });
  const [one, two] = st.servicePorts();
  // KUBE-SERVICES is always complete; service one's own chains are left alone.
  assert.equal(chainRules(partial.text, 'nat', 'KUBE-SERVICES').length, 3);
  assert.ok(!partial.text.includes(`:${one!.chains.svc} `));
  assert.ok(partial.text.includes(`:${two!.chains.svc} `));
  assert.equal(chainRules(partial.text, 'nat', two!.chains.svc).length, 3);
  // sync_proxy_rules_iptables_total counts the skipped rules too; _last only what was written.
  assert.equal(partial.natRulesTotal, full.natRulesTotal + 3);
  assert.equal(partial.natRulesLast, partial.natRulesTotal - 4); // service one's 2 SVC + 2 SEP rules
});

test('stale chains are flushed and deleted; other chains in nat are left alone', () => {
  const st = stateWith({ svcs: [service('a', 'one', '10.96.0.1')], slices: [slice('a', 'one', [['10.244.1.1', 'node-b']])] });
  const sp = st.servicePorts()[0]!;
  const sep = st.endpointsFor(sp.key)[0]!.chain;
  const r = renderRules(view(st), options(), { full: true, existingNatChains: [sp.chains.svc, sep, 'KUBE-SVC-GONEGONEGONEGONE', 'KUBE-SEP-OLDOLDOLDOLDOLDO', 'DOCKER', 'KUBE-SERVICES'] });
  assert.deepEqual(r.deletedChains, ['KUBE-SEP-OLDOLDOLDOLDOLDO', 'KUBE-SVC-GONEGONEGONEGONE']);
  assert.ok(r.text.includes(':KUBE-SVC-GONEGONEGONEGONE - [0:0]\n'));
  assert.ok(r.text.includes('\n-X KUBE-SVC-GONEGONEGONEGONE\n'));
  assert.ok(!r.text.includes('-X DOCKER'));
  // The nodeports jump stays the last rule of nat KUBE-SERVICES, after the deletions.
  const natLines = r.text.split('*nat\n')[1]!.split('\n');
  assert.match(natLines[natLines.length - 3]!, /^-A KUBE-SERVICES .*must be the last rule/);
  assert.deepEqual(checkRuleJumps(parseDump(r.text)), []);
});

test('large-cluster mode (over 1000 endpoints) drops per-endpoint comments only', () => {
  const many = (n: number): [string, string][] => Array.from({ length: n }, (_, i) => [`10.241.${Math.floor(i / 250)}.${(i % 250) + 1}`, 'node-b']);
  const small = stateWith({ svcs: [service('a', 'big', '10.96.0.1')], slices: [slice('a', 'big', many(1000))] });
  const smallText = renderRules(view(small), options(), { full: true }).text;
  assert.ok(/-A KUBE-SEP-\S+ -m comment --comment a\/big:http -s /.test(smallText));
  const big = stateWith({ svcs: [service('a', 'big', '10.96.0.1')], slices: [slice('a', 'big', many(1001))] });
  const r = renderRules(view(big), options(), { full: true });
  assert.ok(r.largeClusterMode);
  assert.ok(!/-A KUBE-SEP-\S+ -m comment/.test(r.text));
  assert.ok(!/-A KUBE-SVC-\S+ -m comment --comment "a\/big:http ->/.test(r.text));
  assert.ok(r.text.includes('-A KUBE-SERVICES -m comment --comment "a/big:http cluster IP"'));
});

test('no-local-endpoints gauges count Local policies without local endpoints', () => {
  const st = stateWith({
    svcs: [
      service('a', 'itp', '10.96.0.1', (s) => { s.spec!.internalTrafficPolicy = 'Local'; }),
      service('a', 'etp', '10.96.0.2', (s) => { s.spec!.type = 'NodePort'; s.spec!.externalTrafficPolicy = 'Local'; s.spec!.ports![0]!.nodePort = 30002; }),
      service('a', 'none', '10.96.0.3', (s) => { s.spec!.internalTrafficPolicy = 'Local'; }),
    ],
    slices: [slice('a', 'itp', [['10.244.1.1', 'node-b']]), slice('a', 'etp', [['10.244.1.2', 'node-b']])],
  });
  assert.deepEqual(renderRules(view(st), options(), { full: true }).noLocalEndpoints, { internal: 1, external: 1 });
});

// nftables rendering from first principles: what each kind of Service and traffic policy
// turns into (map elements, chains, verdicts), the options nftables mode derives from the
// flags, IPv6, and byte-for-byte determinism.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nftRenderOptionsFor } from '../../../runner/core/proxy/nftables/options.ts';
import { renderNftablesSnapshot } from '../../../runner/core/proxy/nftables/render.ts';
import { DEFAULT_SETTINGS } from '../../../runner/core/proxy/options.ts';
import type { Node, Service } from '../../../runner/core/proxy/types.ts';
import { chainRules, elements, fullSyncDump, makeService, makeSlice, tcpSlice, TEST_NODE, upstreamFakeOptions } from './nftables-fixtures.ts';

const SVC = 'service-ULMVA6XW-ns1/svc1/tcp/p80';
const EXT = 'external-ULMVA6XW-ns1/svc1/tcp/p80';
const LOCAL = 'local-ULMVA6XW-ns1/svc1/tcp/p80';
const FW = 'firewall-ULMVA6XW-ns1/svc1/tcp/p80';

function lb(mutate: (s: Service & { spec: NonNullable<Service['spec']> }) => void = () => {}): Service {
  return makeService('ns1', 'svc1', (s) => {
    s.spec.type = 'LoadBalancer';
    s.spec.clusterIP = '172.30.0.41';
    s.spec.externalIPs = ['192.168.99.11'];
    s.spec.ports = [{ name: 'p80', port: 80, protocol: 'TCP', nodePort: 3001 }];
    s.status = { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } };
    mutate(s);
  });
}

const chainsIn = (dump: string) => dump.split('\n').filter((l) => l.startsWith('add chain')).map((l) => l.split(' ')[4]!);

test('no endpoints: every address of the service is rejected through reject-chain, and no service chain exists', () => {
  const dump = fullSyncDump([lb()], []);
  assert.deepEqual(elements(dump, 'cluster-ips'), ['172.30.0.41']);
  assert.deepEqual(elements(dump, 'no-endpoint-services'), ['1.2.3.4 . tcp . 80 : goto reject-chain', '172.30.0.41 . tcp . 80 : goto reject-chain', '192.168.99.11 . tcp . 80 : goto reject-chain']);
  assert.deepEqual(elements(dump, 'no-endpoint-nodeports'), ['tcp . 3001 : goto reject-chain']);
  assert.deepEqual(elements(dump, 'service-ips'), []);
  assert.ok(!chainsIn(dump).some((c) => c.includes('/')), 'no per-service chains');
  assert.ok(dump.includes('comment "ns1/svc1:p80" : goto reject-chain'), 'elements name their service');
  assert.deepEqual(chainRules(dump, 'reject-chain'), ['reject']);
});

test('externalTrafficPolicy Local without a local endpoint: external traffic dropped, pods and the node short-circuit to the cluster chain', () => {
  const dump = fullSyncDump([lb((s) => (s.spec.externalTrafficPolicy = 'Local'))], [tcpSlice('ns1', 'svc1', 'p80', 80, [['10.180.0.1', 'other-node']])]);
  assert.deepEqual(elements(dump, 'service-ips'), [`1.2.3.4 . tcp . 80 : goto ${EXT}`, `172.30.0.41 . tcp . 80 : goto ${SVC}`, `192.168.99.11 . tcp . 80 : goto ${EXT}`]);
  assert.deepEqual(elements(dump, 'no-endpoint-services'), ['1.2.3.4 . tcp . 80 : drop', '192.168.99.11 . tcp . 80 : drop']);
  assert.deepEqual(elements(dump, 'no-endpoint-nodeports'), ['tcp . 3001 : drop']);
  assert.deepEqual(chainRules(dump, EXT), [
    `ip saddr 10.0.0.0/8 goto ${SVC} comment "short-circuit pod traffic"`,
    'fib saddr type local jump mark-for-masquerade comment "masquerade local traffic"',
    `fib saddr type local goto ${SVC} comment "short-circuit local traffic"`,
  ]);
  assert.ok(!chainsIn(dump).includes(LOCAL));
});

test('externalTrafficPolicy Local with a local endpoint: external traffic goes to the local chain, unmasqueraded', () => {
  const dump = fullSyncDump([lb((s) => (s.spec.externalTrafficPolicy = 'Local'))], [tcpSlice('ns1', 'svc1', 'p80', 80, [['10.180.0.1', 'other-node'], ['10.180.0.2', TEST_NODE]])]);
  assert.equal(chainRules(dump, EXT).at(-1), `goto ${LOCAL}`);
  assert.ok(!chainRules(dump, EXT).includes('jump mark-for-masquerade'));
  assert.equal(chainRules(dump, LOCAL).length, 1);
  assert.match(chainRules(dump, LOCAL)[0]!, /^numgen random mod 1 vmap \{ 0 : goto endpoint-\w{8}-ns1\/svc1\/tcp\/p80__10\.180\.0\.2\/80 \}$/);
  assert.match(chainRules(dump, SVC).at(-1)!, /^numgen random mod 2 vmap \{ 0 : goto endpoint-\S+__10\.180\.0\.1\/80 , 1 : goto endpoint-\S+__10\.180\.0\.2\/80 \}$/);
  assert.deepEqual(elements(dump, 'no-endpoint-services'), []);
});

test('externalTrafficPolicy Cluster: external traffic is always masqueraded', () => {
  const dump = fullSyncDump([lb()], [tcpSlice('ns1', 'svc1', 'p80', 80, ['10.180.0.1'])]);
  assert.deepEqual(chainRules(dump, EXT), ['jump mark-for-masquerade', `goto ${SVC}`]);
  assert.deepEqual(elements(dump, 'service-nodeports'), [`tcp . 3001 : goto ${EXT}`]);
});

test('internalTrafficPolicy Local: the cluster IP uses local endpoints only, and is dropped without one', () => {
  const itp = makeService('ns1', 'svc1', (s) => {
    s.spec.clusterIP = '172.30.0.41';
    s.spec.internalTrafficPolicy = 'Local';
    s.spec.ports = [{ name: 'p80', port: 80, protocol: 'TCP' }];
  });
  const none = fullSyncDump([itp], [tcpSlice('ns1', 'svc1', 'p80', 80, [['10.180.0.1', 'other-node']])]);
  assert.deepEqual(elements(none, 'no-endpoint-services'), ['172.30.0.41 . tcp . 80 : drop']);
  assert.deepEqual(elements(none, 'service-ips'), []);
  const local = fullSyncDump([itp], [tcpSlice('ns1', 'svc1', 'p80', 80, [['10.180.0.1', 'other-node'], ['10.180.0.2', TEST_NODE]])]);
  assert.deepEqual(elements(local, 'service-ips'), [`172.30.0.41 . tcp . 80 : goto ${LOCAL}`]);
  assert.deepEqual(chainRules(local, LOCAL)[0], 'ip daddr 172.30.0.41 ip saddr != 10.0.0.0/8 jump mark-for-masquerade');
  assert.ok(!chainsIn(local).includes(SVC));
});

test('masquerade: --masquerade-all marks all cluster IP traffic; without a local detector none is marked there', () => {
  const svc = lb((s) => (s.spec.externalTrafficPolicy = 'Local'));
  const eps = [tcpSlice('ns1', 'svc1', 'p80', 80, [['10.180.0.1', TEST_NODE]])];
  assert.equal(chainRules(fullSyncDump([svc], eps, upstreamFakeOptions('IPv4', { masqueradeAll: true })), SVC)[0], 'ip daddr 172.30.0.41 jump mark-for-masquerade');
  const noDetector = fullSyncDump([svc], eps, upstreamFakeOptions('IPv4', { localDetector: null }));
  assert.ok(chainRules(noDetector, SVC)[0]!.startsWith('numgen'));
  assert.ok(!chainRules(noDetector, EXT).some((r) => r.includes('short-circuit pod traffic')));
  // Hairpin: an endpoint reaching itself through the service is always masqueraded.
  const ep = chainsIn(noDetector).find((c) => c.startsWith('endpoint-'))!;
  assert.deepEqual(chainRules(noDetector, ep), ['ip saddr 10.180.0.1 jump mark-for-masquerade', 'meta l4proto tcp dnat to 10.180.0.1:80']);
});

test('NodePorts on every address but loopback when --nodeport-addresses selects all; loopback node IPs are left out', () => {
  const svc = lb();
  const eps = [tcpSlice('ns1', 'svc1', 'p80', 80, ['10.180.0.1'])];
  const all = fullSyncDump([svc], eps, upstreamFakeOptions('IPv4', { nodePortIPs: null }));
  assert.deepEqual(chainRules(all, 'services')[1], 'fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports');
  assert.deepEqual(chainRules(all, 'nodeport-endpoints-check'), ['ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @no-endpoint-nodeports']);
  assert.ok(!all.includes('nodeport-ips'));
  const some = fullSyncDump([svc], eps, upstreamFakeOptions('IPv4', { nodePortIPs: ['127.0.0.1', '192.168.0.2', '192.168.1.2'] }));
  assert.deepEqual(elements(some, 'nodeport-ips'), ['192.168.0.2', '192.168.1.2']);
});

test('loadBalancerSourceRanges: firewall even without endpoints; the LB IPs are allowed too when a range holds the node IP', () => {
  const withRanges = (ranges: string[]) => lb((s) => (s.spec.loadBalancerSourceRanges = ranges));
  const noEps = fullSyncDump([withRanges(['203.0.113.0/25'])], []);
  assert.deepEqual(elements(noEps, 'firewall-ips'), [`1.2.3.4 . tcp . 80 : goto ${FW}`]);
  assert.deepEqual(chainRules(noEps, FW), ['ip saddr != { 203.0.113.0/25 } drop']);
  const nodeInRange = fullSyncDump([withRanges(['203.0.113.0/25', '192.168.0.0/16'])], [tcpSlice('ns1', 'svc1', 'p80', 80, ['10.180.0.1'])]);
  assert.deepEqual(chainRules(nodeInRange, FW), ['ip saddr != { 203.0.113.0/25 , 192.168.0.0/16 , 1.2.3.4 } drop']);
  // A /0 range means everyone: no firewall at all.
  assert.deepEqual(elements(fullSyncDump([withRanges(['0.0.0.0/0', '203.0.113.0/25'])], []), 'firewall-ips'), []);
});

test('ClientIP affinity: a timed set per endpoint, checked before the random choice, updated on every new connection', () => {
  const svc = makeService('ns1', 'svc1', (s) => {
    s.spec.clusterIP = '172.30.0.41';
    s.spec.ports = [{ name: 'p80', port: 80, protocol: 'TCP' }];
    s.spec.sessionAffinity = 'ClientIP';
    s.spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 300 } };
  });
  const dump = fullSyncDump([svc], [tcpSlice('ns1', 'svc1', 'p80', 80, ['10.180.0.1', '10.180.0.2'])]);
  const sets = dump.split('\n').filter((l) => l.startsWith('add set ip kube-proxy affinity-'));
  assert.equal(sets.length, 2);
  for (const s of sets) assert.match(s, /\{ type ipv4_addr ; flags dynamic,timeout ; timeout 300s ; \}$/);
  const rules = chainRules(dump, SVC);
  assert.equal(rules.length, 4);
  assert.match(rules[1]!, /^ip saddr @affinity-(\S+)__10\.180\.0\.1\/80 goto endpoint-\1__10\.180\.0\.1\/80$/);
  assert.match(rules[3]!, /^numgen random mod 2 vmap/);
  const ep = chainsIn(dump).find((c) => c.startsWith('endpoint-') && c.endsWith('10.180.0.2/80'))!;
  assert.equal(chainRules(dump, ep)[1], `update @${ep.replace('endpoint-', 'affinity-')} { ip saddr }`);
});

test('IPv6: table ip6, ipv6_addr maps, bracketed DNAT targets, dotted endpoint chain names', () => {
  const svc = makeService('ns1', 'svc1', (s) => {
    s.spec.clusterIP = 'fd00:172:30::41';
    s.spec.ipFamilies = ['IPv6'];
    s.spec.clusterIPs = ['fd00:172:30::41'];
    s.spec.ports = [{ name: 'p80', port: 80, protocol: 'TCP' }];
  });
  const dump = fullSyncDump([svc], [tcpSlice('ns1', 'svc1', 'p80', 80, ['fd00:10::1'], 'IPv6')], upstreamFakeOptions('IPv6', { nodePortIPs: null }));
  assert.ok(dump.startsWith('add table ip6 kube-proxy { comment "rules for kube-proxy" ; }\n'));
  assert.ok(dump.includes('add map ip6 kube-proxy service-ips { type ipv6_addr . inet_proto . inet_service : verdict ;'));
  assert.deepEqual(chainRules(dump, 'services'), ['ip6 daddr . meta l4proto . th dport vmap @service-ips', 'fib daddr type local ip6 daddr != ::1 meta l4proto . th dport vmap @service-nodeports']);
  assert.deepEqual(chainRules(dump, 'cluster-ips-check')[1], 'ip6 daddr { fd00:10:96::/112 } drop comment "Drop traffic to unallocated ClusterIPs"');
  const ep = chainsIn(dump).find((c) => c.startsWith('endpoint-'))!;
  assert.match(ep, /^endpoint-\w{8}-ns1\/svc1\/tcp\/p80__fd00\.10\.\.1\/80$/);
  assert.deepEqual(chainRules(dump, ep), ['ip6 saddr fd00:10::1 jump mark-for-masquerade', 'meta l4proto tcp dnat to [fd00:10::1]:80']);
  assert.equal(chainRules(dump, SVC)[0], 'ip6 daddr fd00:172:30::41 ip6 saddr != fd00:10::/64 jump mark-for-masquerade');
});

test('without ServiceCIDRs nothing drops traffic to unallocated cluster IPs', () => {
  assert.deepEqual(chainRules(fullSyncDump([], [], upstreamFakeOptions('IPv4', { serviceCIDRs: [] })), 'cluster-ips-check'), ['ip daddr @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs"']);
  assert.equal(chainRules(fullSyncDump([], [], upstreamFakeOptions('IPv4', { serviceCIDRs: ['172.30.0.0/16', '172.50.0.0/16'] })), 'cluster-ips-check')[1], 'ip daddr { 172.30.0.0/16,172.50.0.0/16 } drop comment "Drop traffic to unallocated ClusterIPs"');
});

test('deterministic: the same objects in another order render the same bytes', () => {
  const services = [lb(), makeService('ns2', 'a', (s) => { s.spec.clusterIP = '172.30.0.50'; s.spec.ports = [{ name: 'x', port: 53, protocol: 'UDP' }, { name: 'y', port: 53, protocol: 'TCP' }]; })];
  const slices = [tcpSlice('ns1', 'svc1', 'p80', 80, ['10.180.0.3', '10.180.0.1', '10.180.0.2']), makeSlice('ns2', 'a', 1, (s) => { s.addressType = 'IPv4'; s.endpoints = [{ addresses: ['10.180.1.1'] }]; s.ports = [{ name: 'x', port: 5353, protocol: 'UDP' }, { name: 'y', port: 5353, protocol: 'TCP' }]; })];
  const a = fullSyncDump(services, slices);
  assert.equal(fullSyncDump([...services].reverse(), [...slices].reverse()), a);
  assert.match(a, /add rule ip kube-proxy endpoint-\S+-ns2\/a\/udp\/x__10\.180\.1\.1\/5353 meta l4proto udp dnat to 10\.180\.1\.1:5353/);
});

const NODE: Node = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a', labels: { 'topology.kubernetes.io/zone': 'z1' } }, spec: { podCIDRs: ['10.244.3.0/24', 'fd00:244:3::/64'] }, status: { addresses: [{ type: 'InternalIP', address: '192.168.8.2' }] } };

test('options: nftables defaults (--nodeport-addresses=primary, mark bit 14 whatever --iptables-masquerade-bit says)', () => {
  const s = { ...DEFAULT_SETTINGS, nodeName: 'node-a', clusterCIDRs: ['10.244.0.0/16', 'fd00:244::/56'], masqueradeBit: 0, localAddresses: ['192.168.8.2', '192.168.9.3'] };
  const o = nftRenderOptionsFor(s, NODE, 'IPv4', ['10.96.0.0/16', 'fd00:96::/112']);
  assert.equal(o.masqueradeMark, '0x00004000');
  assert.deepEqual(o.nodePortIPs, ['192.168.8.2']);
  assert.deepEqual(o.serviceCIDRs, ['10.96.0.0/16']);
  assert.deepEqual(o.localDetector, { ifLocal: ['ip', 'saddr', '10.244.0.0/16'], ifNotLocal: ['ip', 'saddr', '!=', '10.244.0.0/16'] });
  assert.deepEqual(o.topologyLabels, { 'topology.kubernetes.io/zone': 'z1' });
  const o6 = nftRenderOptionsFor(s, NODE, 'IPv6', ['10.96.0.0/16', 'fd00:96::/112']);
  assert.equal(o6.nodePortIPs, null, 'no IPv6 node IP: NodePorts on every IPv6 address');
  assert.deepEqual(o6.serviceCIDRs, ['fd00:96::/112']);
  assert.deepEqual(o6.localDetector!.ifNotLocal, ['ip6', 'saddr', '!=', 'fd00:244::/56']);
  assert.equal(nftRenderOptionsFor({ ...s, nodePortAddresses: ['0.0.0.0/0'] }, NODE, 'IPv4', []).nodePortIPs, null);
  assert.deepEqual(nftRenderOptionsFor({ ...s, detectLocalMode: 'NodeCIDR' }, NODE, 'IPv6', []).localDetector!.ifLocal, ['ip6', 'saddr', 'fd00:244:3::/64']);
  assert.deepEqual(nftRenderOptionsFor({ ...s, detectLocalMode: 'BridgeInterface', podBridgeInterface: 'cbr0' }, NODE, 'IPv4', []).localDetector, { ifLocal: ['iifname', 'cbr0'], ifNotLocal: ['iifname', '!=', 'cbr0'] });
  assert.deepEqual(nftRenderOptionsFor({ ...s, detectLocalMode: 'InterfaceNamePrefix', podInterfaceNamePrefix: 'veth' }, NODE, 'IPv4', []).localDetector!.ifNotLocal, ['iifname', '!=', 'veth*']);
  assert.equal(nftRenderOptionsFor({ ...s, clusterCIDRs: [] }, NODE, 'IPv4', []).localDetector, null);
});

test('snapshot: ServiceCIDR objects feed the drop rule; an ip6 table follows only for IPv6 services', () => {
  const s = { ...DEFAULT_SETTINGS, nodeName: 'node-a', clusterCIDRs: ['10.244.0.0/16'], localAddresses: ['192.168.8.2'] };
  const cidr = { apiVersion: 'networking.k8s.io/v1', kind: 'ServiceCIDR', metadata: { name: 'kubernetes' }, spec: { cidrs: ['10.96.0.0/16', 'fd00:96::/112'] } };
  const v4 = makeService('a', 'web', (x) => { x.spec.clusterIP = '10.96.0.10'; x.spec.ports = [{ name: 'http', port: 80, protocol: 'TCP' }]; });
  const warnings: string[] = [];
  const one = renderNftablesSnapshot([NODE, cidr, v4, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } }], s, (_k, m) => warnings.push(m));
  assert.deepEqual(one.tables.map((t) => t.family), ['IPv4']);
  assert.match(one.tables[0]!.text, /ip daddr \{ 10\.96\.0\.0\/16 \} drop/);
  assert.deepEqual(warnings, ['ignoring v1/ConfigMap objects (kube-proxy reads v1 Services, discovery.k8s.io/v1 EndpointSlices, v1 Nodes and networking.k8s.io/v1 ServiceCIDRs)']);
  const dual = makeService('a', 'dual', (x) => { x.spec.clusterIP = '10.96.0.11'; x.spec.clusterIPs = ['10.96.0.11', 'fd00:96::11']; x.spec.ipFamilies = ['IPv4', 'IPv6']; x.spec.ports = [{ name: 'http', port: 80, protocol: 'TCP' }]; });
  const two = renderNftablesSnapshot([NODE, cidr, v4, dual], s, () => {});
  assert.deepEqual(two.tables.map((t) => t.family), ['IPv4', 'IPv6']);
  assert.match(two.tables[1]!.text, /add element ip6 kube-proxy no-endpoint-services \{ fd00:96::11 \. tcp \. 80 comment "a\/dual:http" : goto reject-chain \}/);
  assert.ok(!two.tables[1]!.text.includes('10.96.0.10'));
});

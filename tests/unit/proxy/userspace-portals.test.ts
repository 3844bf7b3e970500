// The userspace mode's iptables side, from upstream's rules: per service address a
// REDIRECT (from pods) and a DNAT to the node (from the node itself) to the proxy port;
// node ports the same from any local address plus an ACCEPT in filter; jump rules at
// the top (portals) and bottom (node ports) of PREROUTING and OUTPUT; cleanup removes
// exactly these. Also --proxy-port-range and render's placeholder ports.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { servicePortsFromService, type ServicePortInfo } from '../../../runner/core/proxy/service-port.ts';
import type { Service } from '../../../runner/core/proxy/types.ts';
import { portalOptionsFor, listenProblem } from '../../../runner/core/proxy/userspace/addresses.ts';
import { planUserspaceCleanup, planUserspaceJumps } from '../../../runner/core/proxy/userspace/jumps.ts';
import { PortRangeAllocator, parsePortRange } from '../../../runner/core/proxy/userspace/port-range.ts';
import { renderPortals } from '../../../runner/core/proxy/userspace/portals.ts';
import { PLACEHOLDER_BASE, renderUserspaceSnapshot } from '../../../runner/core/proxy/userspace/snapshot.ts';
import { chainRules, noWarn, service, settings, slice, NODE, NODE_IP } from './fixtures.ts';

const OPTS = { listenIP: '0.0.0.0', hostIP: NODE_IP };
const ports = (svcs: Service[]): ServicePortInfo[] => svcs.flatMap((s) => servicePortsFromService(s, 'IPv4', noWarn));

test('a ClusterIP port: pods are REDIRECTed to the proxy port, the node itself DNATed to its own IP', () => {
  const sps = ports([service('lab', 'web', '10.96.0.10')]);
  const r = renderPortals(sps, new Map([['lab/web:http/TCP', 40001]]), OPTS);
  assert.equal(
    r.text,
    [
      '*filter',
      ':KUBE-NODEPORT-NON-LOCAL - [0:0]',
      'COMMIT',
      '*nat',
      ':KUBE-PORTALS-CONTAINER - [0:0]',
      ':KUBE-PORTALS-HOST - [0:0]',
      ':KUBE-NODEPORT-CONTAINER - [0:0]',
      ':KUBE-NODEPORT-HOST - [0:0]',
      '-A KUBE-PORTALS-CONTAINER -d 10.96.0.10/32 -p tcp -m comment --comment "lab/web:http" -m tcp --dport 80 -j REDIRECT --to-ports 40001',
      '-A KUBE-PORTALS-HOST -d 10.96.0.10/32 -p tcp -m comment --comment "lab/web:http" -m tcp --dport 80 -j DNAT --to-destination 192.168.8.2:40001',
      'COMMIT',
      '',
    ].join('\n'),
  );
  assert.equal(r.natRules, 2);
  assert.equal(r.filterRules, 0);
  assert.deepEqual(r.skipped, []);
});

test('the rules do not depend on endpoints: the proxy, not the kernel, picks them', () => {
  const sps = ports([service('lab', 'web', '10.96.0.10')]);
  const snapshot = (extra: object[]) => renderUserspaceSnapshot([service('lab', 'web', '10.96.0.10'), ...extra] as never[], settings(), noWarn).text;
  assert.equal(snapshot([]), snapshot([slice('lab', 'web', [['10.244.1.2', NODE], ['10.244.2.2', 'node-b']])]));
  assert.ok(renderPortals(sps, new Map([['lab/web:http/TCP', 1]]), OPTS).text.includes('--to-ports 1\n'));
});

test('a NodePort UDP port: the node port from any local address, and filter lets the redirected packets in', () => {
  const sps = ports([
    service('lab', 'dns', '10.96.0.53', (s) => {
      s.spec!.type = 'NodePort';
      s.spec!.ports = [{ name: 'dns', port: 53, protocol: 'UDP', nodePort: 30053 }];
    }),
  ]);
  const r = renderPortals(sps, new Map([['lab/dns:dns/UDP', 40002]]), OPTS);
  assert.deepEqual(chainRules(r.text, 'nat', 'KUBE-PORTALS-CONTAINER'), ['-d 10.96.0.53/32 -p udp -m comment --comment "lab/dns:dns" -m udp --dport 53 -j REDIRECT --to-ports 40002']);
  assert.deepEqual(chainRules(r.text, 'nat', 'KUBE-NODEPORT-CONTAINER'), ['-p udp -m comment --comment "lab/dns:dns" -m udp --dport 30053 -j REDIRECT --to-ports 40002']);
  assert.deepEqual(chainRules(r.text, 'nat', 'KUBE-NODEPORT-HOST'), ['-p udp -m comment --comment "lab/dns:dns" -m udp --dport 30053 -j DNAT --to-destination 192.168.8.2:40002']);
  // After REDIRECT the destination port is the proxy's, so that is what filter matches.
  assert.deepEqual(chainRules(r.text, 'filter', 'KUBE-NODEPORT-NON-LOCAL'), ['-p udp -m comment --comment "lab/dns:dns" -m udp --dport 40002 -m state --state NEW -j ACCEPT']);
  assert.equal(r.natRules, 4);
  assert.equal(r.filterRules, 1);
});

test('an external IP gets the bridged-traffic split and a host rule only for local destinations; load balancer IPs are plain portals', () => {
  const sps = ports([
    service('lab', 'ext', '10.96.0.70', (s) => {
      s.spec!.type = 'LoadBalancer';
      s.spec!.externalIPs = ['203.0.113.7'];
      s.spec!.ports = [{ port: 443, protocol: 'TCP', nodePort: 31443 }];
      s.status = { loadBalancer: { ingress: [{ ip: '172.18.255.200' }] } };
    }),
  ]);
  const r = renderPortals(sps, new Map([['lab/ext:/TCP', 40003]]), OPTS);
  const c = '-m comment --comment "lab/ext" -m tcp --dport 443';
  assert.deepEqual(chainRules(r.text, 'nat', 'KUBE-PORTALS-CONTAINER'), [
    `-d 10.96.0.70/32 -p tcp ${c} -j REDIRECT --to-ports 40003`,
    `-d 203.0.113.7/32 -p tcp ${c} -m physdev ! --physdev-is-in -j REDIRECT --to-ports 40003`,
    `-d 203.0.113.7/32 -p tcp ${c} -m addrtype --dst-type LOCAL -j REDIRECT --to-ports 40003`,
    `-d 172.18.255.200/32 -p tcp ${c} -j REDIRECT --to-ports 40003`,
  ]);
  assert.deepEqual(chainRules(r.text, 'nat', 'KUBE-PORTALS-HOST'), [
    `-d 10.96.0.70/32 -p tcp ${c} -j DNAT --to-destination 192.168.8.2:40003`,
    `-d 203.0.113.7/32 -p tcp ${c} -m addrtype --dst-type LOCAL -j DNAT --to-destination 192.168.8.2:40003`,
    `-d 172.18.255.200/32 -p tcp ${c} -j DNAT --to-destination 192.168.8.2:40003`,
  ]);
  assert.equal(chainRules(r.text, 'nat', 'KUBE-NODEPORT-CONTAINER').length, 1);
});

test('with --bind-address the proxy listens only there, so pods are DNATed to it as well', () => {
  const sps = ports([service('lab', 'web', '10.96.0.10')]);
  const r = renderPortals(sps, new Map([['lab/web:http/TCP', 40004]]), { listenIP: '192.168.8.9', hostIP: NODE_IP });
  assert.deepEqual(chainRules(r.text, 'nat', 'KUBE-PORTALS-CONTAINER'), ['-d 10.96.0.10/32 -p tcp -m comment --comment "lab/web:http" -m tcp --dport 80 -j DNAT --to-destination 192.168.8.9:40004']);
  assert.deepEqual(chainRules(r.text, 'nat', 'KUBE-PORTALS-HOST'), ['-d 10.96.0.10/32 -p tcp -m comment --comment "lab/web:http" -m tcp --dport 80 -j DNAT --to-destination 192.168.8.9:40004']);
});

test('SCTP, ports without a proxy port, and node ports the proxy could not hold get no rules', () => {
  const sps = ports([
    service('lab', 'a', '10.96.0.1', (s) => (s.spec!.ports = [{ name: 'x', port: 9, protocol: 'SCTP' }])),
    service('lab', 'b', '10.96.0.2'),
    service('lab', 'c', '10.96.0.3', (s) => {
      s.spec!.type = 'NodePort';
      s.spec!.ports![0]!.nodePort = 30003;
    }),
  ]);
  const r = renderPortals(sps, new Map([['lab/a:x/SCTP', 1], ['lab/c:http/TCP', 40005]]), { ...OPTS, unheldNodePorts: new Set(['lab/c:http/TCP']) });
  assert.deepEqual(r.skipped, ['lab/a:x/SCTP', 'lab/b:http/TCP']);
  assert.equal(chainRules(r.text, 'nat', 'KUBE-PORTALS-CONTAINER').length, 1);
  assert.equal(chainRules(r.text, 'nat', 'KUBE-NODEPORT-CONTAINER').length, 0);
  assert.equal(r.filterRules, 0);
});

test('the output follows the service port order and nothing else', () => {
  const sps = ports([service('a', 'one', '10.96.0.1'), service('b', 'two', '10.96.0.2')]);
  const map = new Map([['a/one:http/TCP', 40010], ['b/two:http/TCP', 40011]]);
  const once = renderPortals(sps, map, OPTS).text;
  assert.equal(renderPortals(sps, new Map([...map].reverse()), OPTS).text, once);
  const reversed = renderPortals([...sps].reverse(), map, OPTS).text;
  assert.notEqual(reversed, once);
  assert.deepEqual(reversed.split('\n').sort(), once.split('\n').sort());
});

test('render: placeholder proxy ports from 32768 in service port order, hostIP from the Node', () => {
  const objects = [
    service('lab', 'zeta', '10.96.0.9'),
    service('lab', 'alpha', '10.96.0.8', (s) => (s.spec!.ports = [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, protocol: 'TCP' }, { name: 's', port: 7, protocol: 'SCTP' }])),
    { apiVersion: 'v1', kind: 'Node', metadata: { name: NODE }, status: { addresses: [{ type: 'InternalIP', address: '192.168.8.77' }] } },
  ];
  const warnings: string[] = [];
  const r = renderUserspaceSnapshot(objects as never[], settings(), (_k, m) => warnings.push(m));
  assert.equal(PLACEHOLDER_BASE, 32768);
  const container = chainRules(r.text, 'nat', 'KUBE-PORTALS-CONTAINER');
  assert.deepEqual(container.map((l) => l.replace(/.*--comment (\S+).*--to-ports (\d+)$/, '$1 $2')), ['"lab/alpha:dns-tcp" 32768', '"lab/alpha:dns" 32769', '"lab/zeta:http" 32770']);
  assert.ok(chainRules(r.text, 'nat', 'KUBE-PORTALS-HOST').every((l) => l.includes('--to-destination 192.168.8.77:')));
  assert.deepEqual(warnings, ['lab/alpha:s is SCTP: the userspace proxy carries only TCP and UDP; no rules for it']);
  assert.equal(renderUserspaceSnapshot(objects as never[], settings(), noWarn).text, r.text);
});

test('the node\'s own traffic goes to its Node IP, else an interface address; loopback cannot be listened on', () => {
  const node = { metadata: { name: NODE }, status: { addresses: [{ type: 'InternalIP', address: '192.168.8.2' }] } };
  assert.deepEqual(portalOptionsFor(settings(), node, []), { listenIP: '0.0.0.0', hostIP: '192.168.8.2' });
  assert.deepEqual(portalOptionsFor(settings(), null, ['127.0.0.1', '::1', '10.1.2.3']), { listenIP: '0.0.0.0', hostIP: '10.1.2.3' });
  assert.deepEqual(portalOptionsFor(settings({ bindAddress: '10.9.9.9' }), node, []), { listenIP: '10.9.9.9', hostIP: '10.9.9.9' });
  assert.match(listenProblem('127.0.0.1')!, /cannot proxy on localhost/);
  assert.equal(listenProblem('0.0.0.0'), null);
});

const EMPTY_NODE = '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n';

test('jump rules: portals first in PREROUTING and OUTPUT, node ports last and only for local destinations', () => {
  const plan = planUserspaceJumps(EMPTY_NODE);
  assert.equal(
    plan.text,
    [
      '*filter',
      ':KUBE-NODEPORT-NON-LOCAL - [0:0]',
      '-I INPUT -m comment --comment "Ensure that non-local NodePort traffic can flow" -j KUBE-NODEPORT-NON-LOCAL',
      'COMMIT',
      '*nat',
      ':KUBE-PORTALS-CONTAINER - [0:0]',
      ':KUBE-PORTALS-HOST - [0:0]',
      ':KUBE-NODEPORT-CONTAINER - [0:0]',
      ':KUBE-NODEPORT-HOST - [0:0]',
      '-I PREROUTING -m comment --comment "handle ClusterIPs; NOTE: this must be before the NodePort rules" -j KUBE-PORTALS-CONTAINER',
      '-I OUTPUT -m comment --comment "handle ClusterIPs; NOTE: this must be before the NodePort rules" -j KUBE-PORTALS-HOST',
      '-A PREROUTING -m addrtype --dst-type LOCAL -m comment --comment "handle service NodePorts; NOTE: this must be the last rule in the chain" -j KUBE-NODEPORT-CONTAINER',
      '-A OUTPUT -m addrtype --dst-type LOCAL -m comment --comment "handle service NodePorts; NOTE: this must be the last rule in the chain" -j KUBE-NODEPORT-HOST',
      'COMMIT',
      '',
    ].join('\n'),
  );
  assert.equal(plan.missing.length, 5);
});

const WITH_USERSPACE = `# Generated by iptables-nft-save v1.8.9
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:KUBE-FIREWALL - [0:0]
:KUBE-NODEPORT-NON-LOCAL - [0:0]
[3:180] -A INPUT -m comment --comment "Ensure that non-local NodePort traffic can flow" -j KUBE-NODEPORT-NON-LOCAL
-A INPUT -j KUBE-FIREWALL
-A KUBE-NODEPORT-NON-LOCAL -p tcp -m comment --comment "lab/np:http" -m tcp --dport 40000 -m state --state NEW -j ACCEPT
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-NODEPORT-CONTAINER - [0:0]
:KUBE-NODEPORT-HOST - [0:0]
:KUBE-PORTALS-CONTAINER - [0:0]
:KUBE-PORTALS-HOST - [0:0]
:KUBE-SERVICES - [0:0]
-A PREROUTING -m comment --comment "handle ClusterIPs; NOTE: this must be before the NodePort rules" -j KUBE-PORTALS-CONTAINER
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A PREROUTING -m addrtype --dst-type LOCAL -m comment --comment "handle service NodePorts; NOTE: this must be the last rule in the chain" -j KUBE-NODEPORT-CONTAINER
-A OUTPUT -m comment --comment "handle ClusterIPs; NOTE: this must be before the NodePort rules" -j KUBE-PORTALS-HOST
-A OUTPUT -m addrtype --dst-type LOCAL -m comment --comment "handle service NodePorts; NOTE: this must be the last rule in the chain" -j KUBE-NODEPORT-HOST
-A OUTPUT -d 10.0.0.1/32 -j KUBE-PORTALS-HOST
-A KUBE-PORTALS-CONTAINER -d 10.96.0.10/32 -p tcp -m comment --comment "lab/web:http" -m tcp --dport 80 -j REDIRECT --to-ports 40001
COMMIT
`;

test('jump rules that exist are not added again, and existing chains are not declared (that would flush them)', () => {
  const plan = planUserspaceJumps(WITH_USERSPACE);
  assert.equal(plan.text, '');
  assert.deepEqual(plan.missing, []);
  const partial = planUserspaceJumps(WITH_USERSPACE.replace(/^-A OUTPUT -m comment.*KUBE-PORTALS-HOST\n/m, ''));
  assert.equal(partial.text, '*nat\n-I OUTPUT -m comment --comment "handle ClusterIPs; NOTE: this must be before the NodePort rules" -j KUBE-PORTALS-HOST\nCOMMIT\n');
});

test('cleanup deletes every rule that jumps to the mode\'s chains, then the chains; nothing else', () => {
  const plan = planUserspaceCleanup(WITH_USERSPACE);
  assert.deepEqual(plan.removed, [
    'filter: -A INPUT -m comment --comment "Ensure that non-local NodePort traffic can flow" -j KUBE-NODEPORT-NON-LOCAL',
    'filter: chain KUBE-NODEPORT-NON-LOCAL',
    'nat: -A PREROUTING -m comment --comment "handle ClusterIPs; NOTE: this must be before the NodePort rules" -j KUBE-PORTALS-CONTAINER',
    'nat: -A PREROUTING -m addrtype --dst-type LOCAL -m comment --comment "handle service NodePorts; NOTE: this must be the last rule in the chain" -j KUBE-NODEPORT-CONTAINER',
    'nat: -A OUTPUT -m comment --comment "handle ClusterIPs; NOTE: this must be before the NodePort rules" -j KUBE-PORTALS-HOST',
    'nat: -A OUTPUT -m addrtype --dst-type LOCAL -m comment --comment "handle service NodePorts; NOTE: this must be the last rule in the chain" -j KUBE-NODEPORT-HOST',
    'nat: -A OUTPUT -d 10.0.0.1/32 -j KUBE-PORTALS-HOST',
    'nat: chain KUBE-PORTALS-CONTAINER',
    'nat: chain KUBE-PORTALS-HOST',
    'nat: chain KUBE-NODEPORT-CONTAINER',
    'nat: chain KUBE-NODEPORT-HOST',
  ]);
  const lines = plan.text.split('\n');
  assert.ok(!plan.text.includes('KUBE-SERVICES') && !plan.text.includes('KUBE-FIREWALL'), plan.text);
  // Declarations (flushes) first, deletions of chains last.
  const firstRule = lines.findIndex((l) => l.startsWith('-D'));
  assert.ok(lines.slice(0, firstRule).every((l) => l.startsWith('*') || l.startsWith(':')), plan.text);
  assert.ok(lines.indexOf('-X KUBE-PORTALS-HOST') > lines.indexOf('-D OUTPUT -d 10.0.0.1/32 -j KUBE-PORTALS-HOST'));
  assert.deepEqual(planUserspaceCleanup(EMPTY_NODE), { removed: [], text: '' });
});

test('--proxy-port-range parses like upstream; unset or starting at 0 means ephemeral ports', () => {
  assert.deepEqual(parsePortRange('30000-30009'), { base: 30000, size: 10 });
  assert.deepEqual(parsePortRange('30000+9'), { base: 30000, size: 10 });
  assert.deepEqual(parsePortRange(' 40000 '), { base: 40000, size: 1 });
  assert.equal(parsePortRange(''), null);
  assert.equal(parsePortRange('0-0'), null);
  assert.equal(parsePortRange('0'), null);
  assert.match((parsePortRange('30009-30000') as { error: string }).error, /end port cannot be less than start port/);
  assert.match((parsePortRange('1-70000') as { error: string }).error, /cannot be greater than 65535/);
  assert.match((parsePortRange('a-b') as { error: string }).error, /expected begin-end/);
  assert.match((parsePortRange('1+2-3') as { error: string }).error, /expected begin-end/);
});

test('the range allocator starts at a random port, then takes the next free ones, and runs out', () => {
  const a = new PortRangeAllocator({ base: 100, size: 4 }, () => 0.5);
  assert.deepEqual([a.allocate(), a.allocate(), a.allocate(), a.allocate()], [102, 103, 100, 101]);
  assert.equal(a.allocate(), null);
  a.release(103);
  assert.equal(a.allocate(), 103);
  a.release(999);
  assert.equal(a.inUse, 4);
});

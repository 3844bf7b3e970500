// Packet-flow tests: what happens to a new connection, traced through the rules svclab
// renders for the golden states (upstream's runPacketFlowTests idea, in our own data).
// Each row: from where, to where → endpoints reached (or REJECT/DROP) and masquerading.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseDump, type Dump } from '../../../runner/core/proxy/iptables-dump.ts';
import { DEFAULT_SETTINGS } from '../../../runner/core/proxy/options.ts';
import { renderSnapshot } from '../../../runner/core/proxy/snapshot.ts';
import { summarize, tracePacket } from '../../../runner/core/proxy/trace.ts';
import { parseState } from '../../../runner/kube/state-file.ts';

const golden = new URL('../../golden/proxy/', import.meta.url).pathname;
const NODE_IP = '192.168.8.2';

function rulesFor(caseName: string, over: Partial<typeof DEFAULT_SETTINGS> = {}): Dump {
  const objs = parseState(readFileSync(join(golden, caseName, 'state.yaml'), 'utf8'), caseName);
  const text = renderSnapshot(objs, { ...DEFAULT_SETTINGS, nodeName: 'node-a', clusterCIDRs: ['10.244.0.0/16'], localAddresses: [NODE_IP], ...over }, () => {}).text;
  return parseDump(text);
}

interface Flow {
  name: string;
  src: string;
  dst: string;
  port: number;
  proto?: 'tcp' | 'udp';
  /** Sorted DNAT destinations reached, or the verdict. */
  to: string;
  masq: boolean;
}

function check(dump: Dump, flows: Flow[]) {
  for (const f of flows) {
    const r = tracePacket(dump, { src: f.src, dst: f.dst, dport: f.port, proto: f.proto ?? 'tcp' }, { localAddresses: [NODE_IP] });
    const s = summarize(r);
    const to = s.every((o) => o.verdict === 'ACCEPT') ? s.map((o) => o.dnat ?? 'no DNAT').sort().join(', ') : [...new Set(s.map((o) => o.verdict))].join(', ');
    assert.equal(to, f.to, `${f.name}: ${JSON.stringify(s)}`);
    assert.ok(s.every((o) => o.masquerade === f.masq), `${f.name}: masquerade ${JSON.stringify(s)}`);
    const total = s.reduce((n, o) => n + o.probability, 0);
    assert.ok(Math.abs(total - 1) < 1e-6, `${f.name}: probabilities sum to ${total}`);
  }
}

const POD = '10.244.5.5';
const EXTERNAL = '203.0.113.99';

test('ClusterIP, NodePort, externalIP, no endpoints, terminating fallback (overall)', () => {
  check(rulesFor('overall'), [
    { name: 'pod → clusterIP: all ready endpoints, no SNAT', src: POD, dst: '10.96.10.10', port: 80, to: '10.244.0.7:8080, 10.244.1.5:8080, 10.244.2.9:8080', masq: false },
    { name: 'node → clusterIP: SNAT (outside the cluster CIDR)', src: NODE_IP, dst: '10.96.10.10', port: 80, to: '10.244.0.7:8080, 10.244.1.5:8080, 10.244.2.9:8080', masq: true },
    { name: 'external → clusterIP: SNAT', src: EXTERNAL, dst: '10.96.10.10', port: 80, to: '10.244.0.7:8080, 10.244.1.5:8080, 10.244.2.9:8080', masq: true },
    { name: 'wrong port of a clusterIP: untouched', src: POD, dst: '10.96.10.10', port: 81, to: 'no DNAT', masq: false },
    { name: 'UDP service, unnamed port', src: POD, dst: '10.96.10.53', port: 53, proto: 'udp', to: '10.244.0.11:5353, 10.244.1.12:5353', masq: false },
    { name: 'TCP to a UDP service port: untouched', src: POD, dst: '10.96.10.53', port: 53, to: 'no DNAT', masq: false },
    { name: 'external → NodePort (eTP Cluster): SNAT', src: EXTERNAL, dst: NODE_IP, port: 30080, to: '10.244.1.20:8080', masq: true },
    { name: 'pod → externalIP (eTP Cluster): SNAT', src: POD, dst: '192.168.8.100', port: 80, to: '10.244.1.40:80, 10.244.2.41:80', masq: true },
    { name: 'no endpoints: clusterIP rejected', src: POD, dst: '10.96.10.110', port: 80, to: 'REJECT', masq: false },
    { name: 'no endpoints: externalIP rejected', src: EXTERNAL, dst: '192.168.8.110', port: 80, to: 'REJECT', masq: false },
    { name: 'no endpoints: NodePort rejected', src: EXTERNAL, dst: NODE_IP, port: 30110, to: 'REJECT', masq: false },
    { name: 'iTP Local without local endpoints: dropped', src: POD, dst: '10.96.10.120', port: 80, to: 'DROP', masq: false },
    { name: 'only serving+terminating endpoints: used', src: POD, dst: '10.96.10.130', port: 80, to: '10.244.1.60:80', masq: false },
    { name: 'hairpin: an endpoint reaching its own service is SNATed', src: '10.244.1.20', dst: '10.96.10.80', port: 8080, to: '10.244.1.20:8080', masq: true },
  ]);
});

test('LoadBalancer with source ranges and eTP Local, health check node port (overall)', () => {
  check(rulesFor('overall'), [
    { name: 'allowed range → LB IP: local endpoint, client IP kept', src: '198.51.100.7', dst: '203.0.113.10', port: 443, to: '10.244.0.30:8443', masq: false },
    { name: 'other source → LB IP: dropped by KUBE-PROXY-FIREWALL', src: EXTERNAL, dst: '203.0.113.10', port: 443, to: 'DROP', masq: false },
    { name: 'node → LB IP (node in a range): short-circuit to all endpoints, SNAT', src: NODE_IP, dst: '203.0.113.10', port: 443, to: '10.244.0.30:8443, 10.244.2.31:8443', masq: true },
    { name: 'pod → LB IP, outside the source ranges: dropped as well', src: POD, dst: '203.0.113.10', port: 443, to: 'DROP', masq: false },
    { name: 'external → NodePort of the LB: not subject to source ranges', src: EXTERNAL, dst: NODE_IP, port: 30443, to: '10.244.0.30:8443', masq: false },
    { name: 'health check node port is accepted', src: EXTERNAL, dst: NODE_IP, port: 32000, to: 'no DNAT', masq: false },
  ]);
});

test('traffic policies: eTP Local without local endpoints, iTP Local, ipMode Proxy, zones, node hints (local-policies)', () => {
  check(rulesFor('local-policies'), [
    { name: 'external → LB IP, no local endpoint: dropped', src: EXTERNAL, dst: '203.0.113.41', port: 80, to: 'DROP', masq: false },
    { name: 'external → NodePort, no local endpoint: dropped', src: EXTERNAL, dst: NODE_IP, port: 30410, to: 'DROP', masq: false },
    { name: 'pod → LB IP, no local endpoint: short-circuited to the remote one', src: POD, dst: '203.0.113.41', port: 80, to: '10.244.1.41:80', masq: false },
    { name: 'node → NodePort, no local endpoint: short-circuited, SNAT', src: NODE_IP, dst: NODE_IP, port: 30410, to: '10.244.1.41:80', masq: true },
    { name: 'ipMode Proxy ingress is not captured', src: EXTERNAL, dst: '203.0.113.42', port: 80, to: 'no DNAT', masq: false },
    { name: 'ipMode VIP ingress is, and a 0.0.0.0/0 range means no firewall', src: EXTERNAL, dst: '203.0.113.43', port: 80, to: '10.244.1.42:80', masq: true },
    { name: 'iTP Local: clusterIP uses the local endpoint only', src: POD, dst: '10.96.40.30', port: 80, to: '10.244.0.43:80', masq: false },
    { name: 'iTP Local + eTP Cluster: NodePort uses all endpoints', src: EXTERNAL, dst: NODE_IP, port: 30430, to: '10.244.0.43:80, 10.244.1.43:80', masq: true },
    { name: 'zone hints: only this zone\'s endpoints', src: POD, dst: '10.96.40.40', port: 80, to: '10.244.0.44:80, 10.244.1.44:80', masq: false },
    { name: 'node hints: only this node\'s endpoint', src: POD, dst: '10.96.40.50', port: 80, to: '10.244.0.45:80', masq: false },
    { name: 'externalIP with eTP Local from outside: local endpoint, client kept', src: EXTERNAL, dst: '192.168.8.160', port: 80, to: '10.244.0.46:80', masq: false },
    { name: 'a service for another proxy is not ours', src: POD, dst: '10.96.40.70', port: 80, to: 'no DNAT', masq: false },
  ]);
});

test('masquerade-all SNATs even pod traffic to a ClusterIP', () => {
  const dump = rulesFor('masquerade-all', { clusterCIDRs: [], masqueradeAll: true });
  check(dump, [
    { name: 'pod → clusterIP', src: POD, dst: '10.96.20.10', port: 9000, to: '10.244.0.3:9000, 10.244.3.3:9000', masq: true },
    { name: 'without a cluster CIDR, eTP Local has no pod short-circuit: pod → NodePort uses the local endpoint', src: POD, dst: NODE_IP, port: 31080, to: '10.244.0.21:8080', masq: false },
  ]);
});

test('a statistic split carries the probabilities of the rules', () => {
  const r = tracePacket(rulesFor('overall'), { src: POD, dst: '10.96.10.10', dport: 80, proto: 'tcp' }, { localAddresses: [NODE_IP] });
  assert.deepEqual(r.outcomes.map((o) => o.probability.toFixed(4)), ['0.3333', '0.3333', '0.3333']);
  const first = r.outcomes.find((o) => o.dnat === '10.244.0.7:8080')!;
  assert.ok(first.steps.some((s) => s.action.startsWith('probability 0.3333333333: jump KUBE-SEP-')));
});

test('session affinity: a new client is balanced, a returning one sticks', () => {
  const dump = rulesFor('overall');
  const fresh = tracePacket(dump, { src: POD, dst: '10.96.10.100', dport: 80, proto: 'tcp' }, { localAddresses: [NODE_IP] });
  assert.equal(fresh.outcomes.length, 2);
  assert.ok(fresh.notes.some((n) => n.startsWith('recent KUBE-SEP-')));
  const sep = dump.tables.find((t) => t.name === 'nat')!.chains.find((c) => c.rules.some((r) => r.raw.includes('--to-destination 10.244.2.41:80')))!.name;
  const back = tracePacket(dump, { src: POD, dst: '10.96.10.100', dport: 80, proto: 'tcp' }, { localAddresses: [NODE_IP], recent: [sep] });
  assert.deepEqual(summarize(back).map((o) => [o.dnat, o.probability]), [['10.244.2.41:80', 1]]);
});

test('iptables-save syntax (as the kernel prints it back) traces the same', () => {
  const save = [
    '*nat', ':PREROUTING ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]', ':KUBE-MARK-MASQ - [0:0]', ':KUBE-POSTROUTING - [0:0]', ':KUBE-SERVICES - [0:0]', ':KUBE-SVC-A - [0:0]', ':KUBE-SEP-1 - [0:0]', ':KUBE-SEP-2 - [0:0]',
    '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
    '-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000',
    '-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN',
    '-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0',
    '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
    '-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m comment --comment "a/b:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-A',
    '-A KUBE-SVC-A ! -s 10.244.0.0/16 -d 10.96.0.1/32 -p tcp -m comment --comment "a/b:http cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ',
    '-A KUBE-SVC-A -m comment --comment "a/b:http -> 10.244.1.1:80" -m statistic --mode random --probability 0.25000000000 -j KUBE-SEP-1',
    '-A KUBE-SVC-A -m comment --comment "a/b:http -> 10.244.1.2:80" -j KUBE-SEP-2',
    '-A KUBE-SEP-1 -p tcp -m comment --comment a/b:http -m tcp -j DNAT --to-destination 10.244.1.1:80',
    '-A KUBE-SEP-2 -p tcp -m comment --comment a/b:http -m tcp -j DNAT --to-destination 10.244.1.2:80',
    'COMMIT', '*filter', ':INPUT ACCEPT [0:0]', ':FORWARD DROP [0:0]', ':OUTPUT ACCEPT [0:0]', 'COMMIT', '',
  ].join('\n');
  const r = tracePacket(parseDump(save), { src: '192.168.50.1', dst: '10.96.0.1', dport: 80, proto: 'tcp' }, { localAddresses: [NODE_IP] });
  // FORWARD's policy is DROP and nothing accepts: the trace shows it.
  assert.deepEqual(summarize(r).map((o) => [o.dnat, o.verdict, o.masquerade, o.probability]), [['10.244.1.2:80', 'DROP', false, 0.75], ['10.244.1.1:80', 'DROP', false, 0.25]]);
  const r2 = tracePacket(parseDump(save.replace(':FORWARD DROP', ':FORWARD ACCEPT')), { src: '192.168.50.1', dst: '10.96.0.1', dport: 80, proto: 'tcp' }, { localAddresses: [NODE_IP] });
  assert.ok(r2.outcomes.every((o) => o.verdict === 'ACCEPT' && o.masquerade && o.delivery === 'forward'));
});

test('userspace mode: a pod\'s packet to a cluster IP is redirected to the proxy\'s port on the node', () => {
  const dump = parseDump([
    '*nat',
    ':PREROUTING ACCEPT [0:0]',
    ':KUBE-PORTALS-CONTAINER - [0:0]',
    '-A PREROUTING -m comment --comment "handle ClusterIPs; NOTE: this must be before the NodePort rules" -j KUBE-PORTALS-CONTAINER',
    '-A KUBE-PORTALS-CONTAINER -d 10.96.0.20/32 -p tcp -m comment --comment "default/web-1:" -m tcp --dport 80 -j REDIRECT --to-ports 36017',
    'COMMIT',
  ].join('\n'));
  const r = tracePacket(dump, { src: POD, dst: '10.96.0.20', dport: 80, proto: 'tcp' }, { localAddresses: [NODE_IP] });
  assert.deepEqual(summarize(r).map((o) => o.dnat), [`${NODE_IP}:36017`]);
  assert.ok(r.outcomes[0]!.steps.some((s) => s.action === 'REDIRECT to port 36017 on this node'), JSON.stringify(r.outcomes[0]!.steps));
  const other = tracePacket(dump, { src: POD, dst: '10.96.0.20', dport: 81, proto: 'tcp' }, { localAddresses: [NODE_IP] });
  assert.deepEqual(summarize(other).map((o) => o.dnat), [null], 'another port is not redirected');
});

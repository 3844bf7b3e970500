// Packet-flow tests for the nftables tracer on upstream kube-proxy v1.34.4's own tables
// (tests/golden/proxy/*/expected.nft is `nft list table ip kube-proxy` of upstream in
// nftables mode, normalized). Each row: from where, to where → endpoints reached (or
// REJECT/DROP) and whether the source is masqueraded — what a learner would see happen.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseNftRuleset, type NftRuleset } from '../../../runner/core/proxy/nftables/ruleset.ts';
import { formatNftTrace, traceNftPacket, type NftTraceStep } from '../../../runner/core/proxy/nftables/trace.ts';
import { summarize, type TraceOptions } from '../../../runner/core/proxy/trace.ts';

const golden = new URL('../../golden/proxy/', import.meta.url).pathname;
const NODE_IP = '192.168.8.2';
const POD = '10.244.5.5';
const EXTERNAL = '203.0.113.99';

const listing = (name: string) => readFileSync(join(golden, name, 'expected.nft'), 'utf8');
const table = (name: string) => parseNftRuleset(listing(name));

interface Flow {
  name: string;
  src: string;
  dst: string;
  port: number;
  proto?: 'tcp' | 'udp';
  /** Sorted DNAT destinations reached, "no DNAT", or the verdict. */
  to: string;
  masq: boolean;
}

function trace(rs: NftRuleset, src: string, dst: string, port: number, proto: 'tcp' | 'udp' = 'tcp', opts: Partial<TraceOptions> = {}) {
  return traceNftPacket(rs, { src, dst, dport: port, proto }, { localAddresses: [NODE_IP], ...opts });
}

function outcomeText(s: ReturnType<typeof summarize>): string {
  return s.every((o) => o.verdict === 'ACCEPT') ? s.map((o) => o.dnat ?? 'no DNAT').sort().join(', ') : [...new Set(s.map((o) => o.verdict))].join(', ');
}

function check(rs: NftRuleset, flows: Flow[], opts: Partial<TraceOptions> = {}) {
  for (const f of flows) {
    const r = trace(rs, f.src, f.dst, f.port, f.proto, opts);
    const s = summarize(r);
    assert.equal(outcomeText(s), f.to, `${f.name}: ${JSON.stringify(s)}\n${formatNftTrace(r)}`);
    assert.ok(s.every((o) => o.masquerade === f.masq), `${f.name}: masquerade ${JSON.stringify(s)}`);
    const total = s.reduce((n, o) => n + o.probability, 0);
    assert.ok(Math.abs(total - 1) < 1e-9, `${f.name}: probabilities sum to ${total}`);
  }
}

const actions = (steps: NftTraceStep[] | unknown[]) => (steps as NftTraceStep[]).map((s) => `${s.chain}: ${s.action}`);

test('ClusterIP with three endpoints: numgen splits the path in three, 1/3 each, each ending in its endpoint\'s DNAT', () => {
  const r = trace(table('overall'), POD, '10.96.10.10', 80);
  assert.deepEqual(r.outcomes.map((o) => [o.dnat, o.probability.toFixed(4), o.verdict, o.delivery, o.masquerade]), [
    ['10.244.0.7:8080', '0.3333', 'ACCEPT', 'forward', false],
    ['10.244.1.5:8080', '0.3333', 'ACCEPT', 'forward', false],
    ['10.244.2.9:8080', '0.3333', 'ACCEPT', 'forward', false],
  ]);
  const first = actions(r.outcomes[0]!.steps);
  assert.ok(first.includes('services: @service-ips: 10.96.10.10 . tcp . 80 → goto service-KHN6ECMT-shop/web/tcp/http'), first.join('\n'));
  assert.ok(first.includes('service-KHN6ECMT-shop/web/tcp/http: numgen random mod 3 = 0 (probability 1/3): goto endpoint-PNLRBKXJ-shop/web/tcp/http__10.244.0.7/8080'), first.join('\n'));
  assert.ok(first.includes('endpoint-PNLRBKXJ-shop/web/tcp/http__10.244.0.7/8080: DNAT to 10.244.0.7:8080'), first.join('\n'));
  // The rule that matched is shown as nft lists it.
  const vmapStep = r.outcomes[2]!.steps.find((s) => s.action.includes('numgen random mod 3 = 2'))!;
  assert.match(vmapStep.raw, /^numgen random mod 3 vmap \{ 0 : goto endpoint-PNLRBKXJ-.*, 2 : goto endpoint-7A35AQDK-shop\/web\/tcp\/http__10\.244\.2\.9\/8080 \}$/);
  assert.equal(vmapStep.rule, 2);
});

test('hooks run in netfilter order, base chains by priority: the firewall check (-110) before DNAT (-100), endpoint checks after it (0), masquerading last', () => {
  const arriving = trace(table('overall'), POD, '10.96.10.10', 80).outcomes[0]!.steps as NftTraceStep[];
  assert.deepEqual(arriving.filter((s) => s.rule === 0).map((s) => `${s.hook} ${s.chain}`), ['prerouting filter-prerouting-pre-dnat', 'prerouting nat-prerouting', 'forward filter-forward', 'postrouting nat-postrouting']);
  // The endpoint check looks up the address after DNAT, so a service with endpoints is not rejected there.
  assert.ok(actions(arriving).includes('service-endpoints-check: @no-endpoint-services has no element 10.244.0.7 . tcp . 8080: next rule'));
  const local = trace(table('overall'), NODE_IP, '10.96.10.10', 80).outcomes[0]!.steps as NftTraceStep[];
  assert.deepEqual(local.filter((s) => s.rule === 0).map((s) => `${s.hook} ${s.chain}`), ['output filter-output-pre-dnat', 'output nat-output', 'output filter-output', 'postrouting nat-postrouting']);
});

test('ClusterIP, NodePort, externalIP, no endpoints, terminating fallback (overall)', () => {
  check(table('overall'), [
    { name: 'pod → clusterIP: all ready endpoints, no SNAT', src: POD, dst: '10.96.10.10', port: 80, to: '10.244.0.7:8080, 10.244.1.5:8080, 10.244.2.9:8080', masq: false },
    { name: 'node → clusterIP: SNAT (outside the cluster CIDR)', src: NODE_IP, dst: '10.96.10.10', port: 80, to: '10.244.0.7:8080, 10.244.1.5:8080, 10.244.2.9:8080', masq: true },
    { name: 'external → clusterIP: SNAT', src: EXTERNAL, dst: '10.96.10.10', port: 80, to: '10.244.0.7:8080, 10.244.1.5:8080, 10.244.2.9:8080', masq: true },
    { name: 'wrong port of a clusterIP: rejected by cluster-ips-check (nftables mode, unlike iptables)', src: POD, dst: '10.96.10.10', port: 81, to: 'REJECT', masq: false },
    { name: 'unallocated address in the service CIDR: dropped', src: POD, dst: '10.96.99.99', port: 80, to: 'DROP', masq: false },
    { name: 'UDP service, unnamed port', src: POD, dst: '10.96.10.53', port: 53, proto: 'udp', to: '10.244.0.11:5353, 10.244.1.12:5353', masq: false },
    { name: 'external → NodePort (eTP Cluster) through @nodeport-ips: SNAT', src: EXTERNAL, dst: NODE_IP, port: 30080, to: '10.244.1.20:8080', masq: true },
    { name: 'pod → externalIP (eTP Cluster): SNAT', src: POD, dst: '192.168.8.100', port: 80, to: '10.244.1.40:80, 10.244.2.41:80', masq: true },
    { name: 'no endpoints: clusterIP rejected', src: POD, dst: '10.96.10.110', port: 80, to: 'REJECT', masq: false },
    { name: 'no endpoints: externalIP rejected', src: EXTERNAL, dst: '192.168.8.110', port: 80, to: 'REJECT', masq: false },
    { name: 'no endpoints: NodePort rejected', src: EXTERNAL, dst: NODE_IP, port: 30110, to: 'REJECT', masq: false },
    { name: 'iTP Local without local endpoints: dropped', src: POD, dst: '10.96.10.120', port: 80, to: 'DROP', masq: false },
    { name: 'only serving+terminating endpoints: used', src: POD, dst: '10.96.10.130', port: 80, to: '10.244.1.60:80', masq: false },
    { name: 'hairpin: an endpoint reaching its own service is SNATed', src: '10.244.1.20', dst: '10.96.10.80', port: 8080, to: '10.244.1.20:8080', masq: true },
    { name: 'a port no service uses on the node: delivered untouched', src: EXTERNAL, dst: NODE_IP, port: 22, to: 'no DNAT', masq: false },
  ]);
});

test('no endpoints: the rejection comes from the verdict map element, through reject-chain', () => {
  const r = trace(table('overall'), EXTERNAL, NODE_IP, 30110);
  assert.equal(r.outcomes.length, 1);
  assert.equal(r.outcomes[0]!.delivery, null);
  assert.deepEqual(actions(r.outcomes[0]!.steps).slice(-3), [
    'filter-input: jump nodeport-endpoints-check',
    'nodeport-endpoints-check: @no-endpoint-nodeports: tcp . 30110 → goto reject-chain',
    'reject-chain: reject',
  ]);
  // iTP Local without a local endpoint: the element's verdict is drop itself.
  const d = trace(table('overall'), POD, '10.96.10.120', 80);
  assert.ok(actions(d.outcomes[0]!.steps).includes('service-endpoints-check: @no-endpoint-services: 10.96.10.120 . tcp . 80 → drop'));
});

test('LoadBalancer source ranges (firewall) and externalTrafficPolicy Local (overall)', () => {
  check(table('overall'), [
    { name: 'allowed range → LB IP: the local endpoint only, client IP kept', src: '198.51.100.7', dst: '203.0.113.10', port: 443, to: '10.244.0.30:8443', masq: false },
    { name: 'the LB IP itself is in the ranges', src: '203.0.113.10', dst: '203.0.113.10', port: 443, to: '10.244.0.30:8443', masq: false },
    { name: 'other source → LB IP: dropped by the firewall chain', src: EXTERNAL, dst: '203.0.113.10', port: 443, to: 'DROP', masq: false },
    { name: 'pod → LB IP, outside the ranges: dropped as well', src: POD, dst: '203.0.113.10', port: 443, to: 'DROP', masq: false },
    { name: 'node → LB IP (node in a range): short-circuit to all endpoints, SNAT', src: NODE_IP, dst: '203.0.113.10', port: 443, to: '10.244.0.30:8443, 10.244.2.31:8443', masq: true },
    { name: 'external → NodePort of the LB: not subject to source ranges, eTP Local', src: EXTERNAL, dst: NODE_IP, port: 30443, to: '10.244.0.30:8443', masq: false },
  ]);
  const dropped = trace(table('overall'), EXTERNAL, '203.0.113.10', 443).outcomes[0]!;
  assert.deepEqual(actions(dropped.steps).slice(-3), [
    'filter-prerouting-pre-dnat: jump firewall-check',
    'firewall-check: @firewall-ips: 203.0.113.10 . tcp . 443 → goto firewall-2ECW3NZX-shop/lb/tcp/https',
    'firewall-2ECW3NZX-shop/lb/tcp/https: drop',
  ]);
  // Dropped before DNAT: the nat chains never saw it.
  assert.ok(!(dropped.steps as NftTraceStep[]).some((s) => s.chain === 'nat-prerouting'));
});

test('traffic policies: eTP Local without local endpoints, iTP Local, ipMode Proxy, topology (local-policies)', () => {
  check(table('local-policies'), [
    { name: 'external → LB IP, no local endpoint: dropped', src: EXTERNAL, dst: '203.0.113.41', port: 80, to: 'DROP', masq: false },
    { name: 'external → NodePort, no local endpoint: dropped', src: EXTERNAL, dst: NODE_IP, port: 30410, to: 'DROP', masq: false },
    { name: 'pod → LB IP, no local endpoint: short-circuited to the remote one', src: POD, dst: '203.0.113.41', port: 80, to: '10.244.1.41:80', masq: false },
    { name: 'node → NodePort, no local endpoint: short-circuited, SNAT', src: NODE_IP, dst: NODE_IP, port: 30410, to: '10.244.1.41:80', masq: true },
    { name: 'ipMode Proxy ingress is not captured', src: EXTERNAL, dst: '203.0.113.42', port: 80, to: 'no DNAT', masq: false },
    { name: 'ipMode VIP ingress is', src: EXTERNAL, dst: '203.0.113.43', port: 80, to: '10.244.1.42:80', masq: true },
    { name: 'iTP Local: clusterIP uses the local endpoint only', src: POD, dst: '10.96.40.30', port: 80, to: '10.244.0.43:80', masq: false },
    { name: 'iTP Local + eTP Cluster: NodePort uses all endpoints', src: EXTERNAL, dst: NODE_IP, port: 30430, to: '10.244.0.43:80, 10.244.1.43:80', masq: true },
    { name: 'zone hints: only this zone\'s endpoints', src: POD, dst: '10.96.40.40', port: 80, to: '10.244.0.44:80, 10.244.1.44:80', masq: false },
    { name: 'externalIP with eTP Local from outside: local endpoint, client kept', src: EXTERNAL, dst: '192.168.8.160', port: 80, to: '10.244.0.46:80', masq: false },
    // Not in @cluster-ips (kube-proxy does not watch it), so to kube-proxy it is an unallocated service address.
    { name: 'a service for another proxy is not ours: dropped as an unallocated ClusterIP', src: POD, dst: '10.96.40.70', port: 80, to: 'DROP', masq: false },
  ]);
  // eTP Local, no local endpoint, external client: the external chain ends without a verdict,
  // so there is no DNAT, and the filter hook drops it by the no-endpoint map.
  const r = trace(table('local-policies'), EXTERNAL, '203.0.113.41', 80).outcomes[0]!;
  assert.equal(r.dnat, null);
  assert.ok(actions(r.steps).includes('service-endpoints-check: @no-endpoint-services: 203.0.113.41 . tcp . 80 → drop'));
});

test('NodePort through `fib daddr type local` (no --nodeport-addresses): the node\'s own addresses decide', () => {
  const rs = table('ipv4-no-cidr');
  check(rs, [
    { name: 'node → its NodePort: short-circuit to every endpoint, SNAT', src: NODE_IP, dst: NODE_IP, port: 30500, to: '10.244.1.50:80, 10.244.2.50:80', masq: true },
    { name: 'external → NodePort, eTP Local, no endpoint on this node: dropped', src: EXTERNAL, dst: NODE_IP, port: 30500, to: 'DROP', masq: false },
    { name: 'no cluster CIDR: a pod is not short-circuited either', src: POD, dst: NODE_IP, port: 30500, to: 'DROP', masq: false },
    { name: 'localhost NodePorts are excluded (ip daddr != 127.0.0.0/8)', src: NODE_IP, dst: '127.0.0.1', port: 30500, to: 'no DNAT', masq: false },
  ]);
  const viaFib = trace(rs, NODE_IP, NODE_IP, 30500).outcomes[0]!;
  assert.ok(actions(viaFib.steps).includes('services: @service-nodeports: tcp . 30500 → goto external-N5NQBHQP-lab/guarded/tcp/http'));
  // The same address, not one of the node's: not a NodePort, so nothing catches it.
  check(rs, [{ name: 'an address that is not local', src: EXTERNAL, dst: '192.168.8.3', port: 30500, to: 'no DNAT', masq: false }]);
  const notLocal = trace(rs, EXTERNAL, NODE_IP, 30500, 'tcp', { localAddresses: [] });
  assert.deepEqual(summarize(notLocal).map((o) => [o.dnat, o.verdict, o.masquerade]), [[null, 'ACCEPT', false]]);
  assert.equal(notLocal.outcomes[0]!.delivery, 'forward');
});

test('masquerade-all: every service connection is marked and masqueraded, pod traffic too', () => {
  const rs = table('masquerade-all');
  check(rs, [
    { name: 'pod → clusterIP', src: POD, dst: '10.96.20.10', port: 9000, to: '10.244.0.3:9000, 10.244.3.3:9000', masq: true },
    { name: 'pod → clusterIP (udp)', src: POD, dst: '10.96.20.30', port: 7000, proto: 'udp', to: '10.244.2.31:7001', masq: true },
    { name: 'without a cluster CIDR, eTP Local has no pod short-circuit: pod → NodePort uses the local endpoint, client kept', src: POD, dst: NODE_IP, port: 31080, to: '10.244.0.21:8080', masq: false },
  ]);
  const steps = actions(trace(rs, POD, '10.96.20.10', 9000).outcomes[0]!.steps);
  assert.deepEqual(steps.filter((s) => s.startsWith('mark-for-masquerade') || s.startsWith('masquerading')), [
    'mark-for-masquerade: meta mark is now 0x00004000',
    'masquerading: meta mark is now 0x00000000',
    'masquerading: MASQUERADE: the source becomes the address the packet leaves by',
  ]);
  // Without the mark the masquerading chain returns at once: the masquerade decision.
  const kept = actions(trace(table('overall'), POD, '10.96.10.10', 80).outcomes[0]!.steps);
  assert.equal(kept.at(-1), 'masquerading: return');
});

test('session affinity: a new client is balanced and recorded in the affinity set; a returning one sticks', () => {
  const rs = table('overall');
  const fresh = trace(rs, POD, '10.96.10.100', 80);
  assert.deepEqual(fresh.outcomes.map((o) => [o.dnat, o.probability]), [['10.244.1.40:80', 0.5], ['10.244.2.41:80', 0.5]]);
  assert.ok(fresh.notes.some((n) => n.startsWith('@affinity-AHT4IWTG-shop/sticky/tcp/http__10.244.1.40/80 holds the clients')), fresh.notes.join('\n'));
  assert.ok(actions(fresh.outcomes[0]!.steps).includes('endpoint-AHT4IWTG-shop/sticky/tcp/http__10.244.1.40/80: @affinity-AHT4IWTG-shop/sticky/tcp/http__10.244.1.40/80 now holds 10.244.5.5 (a returning client comes back here)'));

  const back = trace(rs, POD, '10.96.10.100', 80, 'tcp', { recent: ['affinity-P3YGRD3Z-shop/sticky/tcp/http__10.244.2.41/80'] });
  assert.deepEqual(summarize(back).map((o) => [o.dnat, o.probability]), [['10.244.2.41:80', 1]]);
  assert.ok(actions(back.outcomes[0]!.steps).includes('service-G5HJIGAW-shop/sticky/tcp/http: goto endpoint-P3YGRD3Z-shop/sticky/tcp/http__10.244.2.41/80'));

  // On a live node the set lists the clients traffic put there: the listing alone makes it stick.
  const live = listing('overall').replace(
    /(set affinity-AHT4IWTG-shop\/sticky\/tcp\/http__10\.244\.1\.40\/80 \{\n(?:\t\t.*\n)*?\t\ttimeout 5m\n)/,
    '$1\t\telements = { 10.244.5.5 timeout 5m expires 4m51s230ms, 10.244.7.7 timeout 5m expires 1m2s }\n',
  );
  assert.notEqual(live, listing('overall'));
  assert.deepEqual(summarize(trace(parseNftRuleset(live), POD, '10.96.10.100', 80)).map((o) => [o.dnat, o.probability]), [['10.244.1.40:80', 1]]);
  assert.equal(summarize(trace(parseNftRuleset(live), '10.244.6.6', '10.96.10.100', 80)).length, 2);
});

test('a service with 501 endpoints (large-cluster): 501 paths of 1/501, one per endpoint', () => {
  const r = trace(table('large-cluster'), '10.64.5.5', '10.96.60.1', 80);
  assert.equal(r.outcomes.length, 501);
  assert.ok(r.outcomes.every((o) => Math.abs(o.probability - 1 / 501) < 1e-12 && o.dnat !== null && o.verdict === 'ACCEPT'));
  assert.equal(new Set(r.outcomes.map((o) => o.dnat)).size, 501);
  assert.ok(r.outcomes.some((o) => o.steps.some((s) => s.action.startsWith('numgen random mod 501 = 500 (probability 1/501): goto endpoint-'))));
});

test('the nft -f input (expected-input.nft, what svclab proxy render prints) traces exactly as the listing', () => {
  for (const name of ['overall', 'local-policies', 'masquerade-all', 'nodeport-addresses', 'ipv4-no-cidr']) {
    const fromListing = table(name);
    const fromInput = parseNftRuleset(readFileSync(join(golden, name, 'expected-input.nft'), 'utf8'));
    const flows: [string, number, 'tcp' | 'udp'][] = [];
    for (const set of ['service-ips', 'no-endpoint-services', 'firewall-ips']) {
      for (const e of fromListing.tables[0]!.sets.get(set)!.elements) flows.push([e.key[0]!, Number(e.key[2]), e.key[1] as 'tcp']);
    }
    for (const e of fromListing.tables[0]!.sets.get('service-nodeports')!.elements) flows.push([NODE_IP, Number(e.key[1]), e.key[0] as 'tcp']);
    assert.ok(flows.length > 3, name);
    for (const [dst, port, proto] of flows) {
      for (const src of [POD, NODE_IP, EXTERNAL, '198.51.100.7']) {
        const a = trace(fromListing, src, dst, port, proto);
        const b = trace(fromInput, src, dst, port, proto);
        assert.deepEqual(summarize(b), summarize(a), `${name}: ${src} -> ${dst}:${port}/${proto}`);
        assert.deepEqual(b.outcomes.map((o) => o.steps.length), a.outcomes.map((o) => o.steps.length), `${name}: ${src} -> ${dst}:${port}/${proto}`);
      }
    }
  }
});

test('nft list ruleset: several tables, base chains of one hook ordered by priority across tables, accept ends only its own chain', () => {
  const ruleset = `# Warning: table ip nat is managed by iptables-nft, do not touch!
${listing('overall')}
table ip early { # handle 7
	chain pre { # handle 1
		type filter hook prerouting priority raw; policy accept;
		ip saddr 198.51.100.0/24 meta mark set 0x00000001 # handle 2
		accept # handle 3
	}
}
table inet guard {
	chain fwd {
		type filter hook forward priority 10; policy drop;
		ct state established,related accept
		meta mark & 0x00000001 == 0x00000001 accept comment "marked in table early"
		ip daddr { 10.244.0.7, 10.244.1.5 } tcp dport 8080 accept
	}
}
table ip6 other {
	chain pre {
		type filter hook prerouting priority -500; policy drop;
	}
}`;
  const rs = parseNftRuleset(ruleset);
  assert.deepEqual(rs.tables.map((t) => `${t.family} ${t.name}`), ['ip kube-proxy', 'ip early', 'inet guard', 'ip6 other']);
  // From 198.51.100.7: marked in "early" (priority raw = -300: first, though listed after kube-proxy), accepted
  // there, and still walked through kube-proxy's chains; the inet forward chain lets the mark through. The ip6
  // table's drop-everything chain does not see IPv4 packets.
  const marked = trace(rs, '198.51.100.7', '10.96.10.10', 80);
  assert.equal(outcomeText(summarize(marked)), '10.244.0.7:8080, 10.244.1.5:8080, 10.244.2.9:8080');
  const hooks = (marked.outcomes[0]!.steps as NftTraceStep[]).filter((s) => s.rule === 0).map((s) => `${s.table}/${s.chain}`);
  assert.deepEqual(hooks, ['early/pre', 'kube-proxy/filter-prerouting-pre-dnat', 'kube-proxy/nat-prerouting', 'kube-proxy/filter-forward', 'guard/fwd', 'kube-proxy/nat-postrouting']);
  // Unmarked: only the endpoints the inet table lets through survive; the third is dropped by its policy.
  const other = summarize(trace(rs, EXTERNAL, '10.96.10.10', 80));
  assert.deepEqual(other.map((o) => [o.dnat, o.verdict, o.probability.toFixed(4)]), [
    ['10.244.0.7:8080', 'ACCEPT', '0.3333'],
    ['10.244.1.5:8080', 'ACCEPT', '0.3333'],
    ['10.244.2.9:8080', 'DROP', '0.3333'],
  ]);
  const dropped = trace(rs, EXTERNAL, '10.96.10.10', 80).outcomes.find((o) => o.verdict === 'DROP')!;
  assert.deepEqual(actions(dropped.steps).at(-1), 'fwd: policy drop');
});

test('jump returns to the rule after it, goto does not; return in a base chain applies the policy', () => {
  const rs = parseNftRuleset(`table ip t {
	chain leaf {
		return
		meta mark set 0x00000009
	}
	chain via-goto {
		goto leaf
		meta mark set 0x00000008
	}
	chain pre {
		type filter hook prerouting priority 0; policy accept;
		ip daddr 10.0.0.1 jump via-goto
		ip daddr 10.0.0.1 meta mark set meta mark | 0x00000002
		ip daddr 10.0.0.2 goto leaf
		ip daddr 10.0.0.2 drop
		ip daddr 10.0.0.3 return
		ip daddr 10.0.0.3 drop
	}
	chain fwd {
		type filter hook forward priority 0; policy accept;
		meta mark 0x00000002 reject
		meta mark != 0x00000000 drop
	}
}`);
  // jump via-goto → goto leaf → return: back in pre after the jump, where the mark is set to 2 → rejected in forward.
  const one = trace(rs, EXTERNAL, '10.0.0.1', 80).outcomes;
  assert.deepEqual(one.map((o) => o.verdict), ['REJECT']);
  assert.deepEqual(actions(one[0]!.steps).filter((a) => !a.includes('base chain')), ['pre: jump via-goto', 'via-goto: goto leaf', 'leaf: return', 'pre: meta mark is now 0x00000002', 'fwd: reject']);
  // goto from the base chain: leaf's return ends pre (policy accept); the drop after it is never reached.
  assert.deepEqual(trace(rs, EXTERNAL, '10.0.0.2', 80).outcomes.map((o) => o.verdict), ['ACCEPT']);
  assert.deepEqual(trace(rs, EXTERNAL, '10.0.0.3', 80).outcomes.map((o) => o.verdict), ['ACCEPT']);
});

test('nat chains: the first DNAT of a hook settles it (later nat chains of the hook are not consulted); a packet for the node comes back in on lo', () => {
  const rs = parseNftRuleset(`table ip t {
	chain out1 {
		type nat hook output priority -100; policy accept;
		ip daddr 10.0.0.1 tcp dport 80 dnat ip to 192.168.8.2:8080
	}
	chain out2 {
		type nat hook output priority -90; policy accept;
		ip daddr 10.0.0.1 dnat to 10.9.9.9:1
	}
	chain pre {
		type filter hook prerouting priority 0; policy accept;
		ct status dnat tcp dport 8080 meta mark set 0x00000005
	}
	chain in {
		type filter hook input priority 0; policy accept;
		meta mark 0x00000005 accept
		drop
	}
}`);
  const r = trace(rs, NODE_IP, '10.0.0.1', 80);
  assert.deepEqual(r.outcomes.map((o) => [o.dnat, o.verdict, o.delivery]), [['192.168.8.2:8080', 'ACCEPT', 'local']]);
  const steps = actions(r.outcomes[0]!.steps);
  assert.ok(steps.includes('out2: hook output: not consulted, the connection\'s destination NAT is already settled'), steps.join('\n'));
  assert.ok(steps.includes('pre: hook prerouting: base chain, type filter, priority 0'), 'looped back through prerouting');
  assert.ok(steps.includes('pre: meta mark is now 0x00000005'));
});

test('what the tracer does not understand is reported in the trace and in the notes, never a crash', () => {
  const rs = parseNftRuleset(`table ip t {
	chain in {
		type filter hook input priority 0; policy accept;
		iifname "eth0" tcp dport 22 drop
		ip saddr 203.0.113.99 limit rate 10/second accept
		jhash ip saddr mod 2 vmap { 0 : drop, 1 : accept }
		ct mark set 0x00000001
		ip daddr 192.168.8.2 tcp dport 22 counter packets 7 bytes 420 reject with tcp reset
	}
}`);
  const r = trace(rs, EXTERNAL, NODE_IP, 22);
  assert.deepEqual(r.outcomes.map((o) => o.verdict), ['REJECT']);
  const steps = actions(r.outcomes[0]!.steps);
  assert.deepEqual(steps.filter((s) => s.includes('not understood')), [
    'in: not understood: iifname "eth0" tcp dport 22 drop (interface matches ("iifname") are not modelled); rule assumed not to match',
    'in: not understood: limit rate 10/second accept ("limit" is not modelled); rule assumed not to match',
    'in: not understood: jhash ip saddr mod 2 vmap { 0 : drop, 1 : accept } ("jhash" is not modelled); rule assumed not to match',
    'in: not understood: ct mark set 0x00000001 (setting ct mark is not modelled); rule assumed not to match',
  ]);
  assert.equal(r.notes.filter((n) => n.startsWith('not understood in chain in:')).length, 4);
  assert.equal(steps.at(-1), 'in: reject');
});

test('parse errors name the line', () => {
  const bad = (text: string, re: RegExp) => assert.throws(() => parseNftRuleset(text), (err: Error) => re.test(err.message) && !err.message.includes('\n'));
  bad('table ip t {\n\tchain c {\n\t\tdrop\n\t}\n\tnonsense here\n}\n', /^line 5: expected a chain, set or map in table ip t, found "nonsense here"$/);
  bad('table ip t {\n\tchain c {\n\t\tdrop\n', /^line 2: chain c is never closed$/);
  bad('\n\ntable ip t {\n\tset s {\n\t\ttype ipv4_addr\n\t\telements = { 10.0.0.1 10.0.0.2 }\n\t}\n}\n', /^line 6: set s: cannot read the elements: expected "," or "}" in a set, found "10.0.0.2"$/);
  bad('table ip t {\n\tchain c {\n\t\ttype filter hook input priority sideways; policy accept;\n\t}\n}\n', /^line 3: chain c: cannot read priority "sideways"$/);
  bad('add table ip t\nadd rule ip t missing drop\n', /^line 2: no chain missing in table ip t \(add it first\)$/);
  bad('*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n', /^line 1: expected "table FAMILY NAME \{" or an nft command, found "\*nat"$/);
});

test('looks at the real nft listing format: comma-separated elements over several lines, chain names with slashes', () => {
  const rs = parseNftRuleset(`table ip kube-proxy {
	set cluster-ips {
		type ipv4_addr
		comment "Active ClusterIPs"
		elements = { 10.96.0.1, 10.96.10.10,
			     10.96.10.53 }
	}

	map no-endpoint-services {
		type ipv4_addr . inet_proto . inet_service : verdict
		elements = { 192.168.8.110 . tcp . 80 comment "shop/empty:http" : goto reject-chain,
			     10.96.0.1 . tcp . 443 comment "default/kubernetes:https" : goto reject-chain }
	}

	chain reject-chain {
		comment "helper for @no-endpoint-services / @no-endpoint-nodeports"
		reject
	}
}`);
  const t = rs.tables[0]!;
  assert.deepEqual(t.sets.get('cluster-ips')!.elements.map((e) => e.key.join(' . ')), ['10.96.0.1', '10.96.10.10', '10.96.10.53']);
  assert.deepEqual(t.sets.get('no-endpoint-services')!.elements.map((e) => [e.key.join(' . '), e.value]), [['192.168.8.110 . tcp . 80', 'goto reject-chain'], ['10.96.0.1 . tcp . 443', 'goto reject-chain']]);
  assert.deepEqual(t.chains.get('reject-chain')!.rules.map((r) => r.text), ['reject']);
});

test('malformed input never crashes: mangled tables either parse (and trace) or fail with one line naming the line', () => {
  // A fixed pseudo-random sequence of edits (insert a token, cut some characters, drop or
  // repeat a line) on both formats of a golden table.
  let seed = 12345;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed % n;
  };
  const vocab = ['{', '}', ',', '.', ':', '@x', '@service-ips', 'goto', 'jump', 'numgen random mod 0', 'numgen inc mod 2', 'dnat to 1.2.3', 'dnat to 1.2.3.4:99999', '!=', '"', 'ip', 'meta mark set', 'update @y {', '10.0.0.0/33', 'tcp . 80', '0x', '-', 'elements = {', 'chain', 'type filter hook input priority x;', 'return', '# handle 3', 'th dport 1-', 'ct state', 'fib daddr type', 'vmap', 'vmap { 0 : goto nowhere }'];
  const sources = [listing('overall'), readFileSync(join(golden, 'overall', 'expected-input.nft'), 'utf8')];
  let parsed = 0;
  for (let i = 0; i < 600; i++) {
    const lines = sources[i % 2]!.split('\n');
    for (let m = 0; m < 1 + rnd(3); m++) {
      const li = rnd(lines.length);
      const l = lines[li]!;
      const at = rnd(l.length + 1);
      const kind = rnd(4);
      if (kind === 0) lines[li] = `${l.slice(0, at)} ${vocab[rnd(vocab.length)]} ${l.slice(at)}`;
      else if (kind === 1) lines[li] = l.slice(0, at) + l.slice(at + rnd(10));
      else if (kind === 2) lines.splice(li, 1);
      else lines.splice(li, 0, lines[rnd(lines.length)]!);
    }
    let rs: NftRuleset;
    try {
      rs = parseNftRuleset(lines.join('\n'));
    } catch (err) {
      assert.match((err as Error).message, /^line \d+: [^\n]+$/);
      continue;
    }
    parsed++;
    for (const [src, dst, port] of [[POD, '10.96.10.10', 80], [NODE_IP, '10.96.10.100', 80], [EXTERNAL, NODE_IP, 30080], ['198.51.100.7', '203.0.113.10', 443]] as const) {
      const r = trace(rs, src, dst, port);
      assert.ok(Math.abs(r.outcomes.reduce((n, o) => n + o.probability, 0) - 1) < 1e-9);
    }
  }
  assert.ok(parsed > 20, `${parsed} mangled tables parsed`);
});

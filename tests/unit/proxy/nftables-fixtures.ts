// Helpers for the nftables proxy tests, after upstream's proxier_test.go and
// helpers_test.go: the fake proxier's settings (node "test-node", pods 10.0.0.0/8,
// ServiceCIDR 172.30.0.0/16, NodePorts on 192.168.0.2 only, mark 0x4000), its base rules,
// object builders, and upstream's canonical transaction order for comparing dumps.
import type { IPFamily } from '../../../runner/core/proxy/ip.ts';
import { FakeTable, NftError } from '../../../runner/core/proxy/nftables/fake.ts';
import type { TableListing } from '../../../runner/core/proxy/nftables/listing.ts';
import { emptyTable } from '../../../runner/core/proxy/nftables/render.ts';
import { buildSyncTransaction, NftSyncState, nftFamily, type NftRenderOptions } from '../../../runner/core/proxy/nftables/sync.ts';
import { ProxyState } from '../../../runner/core/proxy/tracker.ts';
import type { EndpointSlice, Service } from '../../../runner/core/proxy/types.ts';
import { NftRunError, type Nft } from '../../../runner/proxy/nftables/nft.ts';

export const TEST_NODE = 'test-node';

export function upstreamFakeOptions(family: IPFamily = 'IPv4', over: Partial<NftRenderOptions> = {}): NftRenderOptions {
  const v6 = family === 'IPv6';
  const pods = v6 ? 'fd00:10::/64' : '10.0.0.0/8';
  const ipX = v6 ? 'ip6' : 'ip';
  return {
    ipFamily: family,
    nodeName: TEST_NODE,
    nodeIP: v6 ? '2001:db8::1' : '192.168.0.2',
    masqueradeAll: false,
    masqueradeMark: '0x4000',
    localDetector: { ifLocal: [ipX, 'saddr', pods], ifNotLocal: [ipX, 'saddr', '!=', pods] },
    nodePortIPs: [v6 ? '2001:db8::1' : '192.168.0.2'],
    serviceCIDRs: [v6 ? 'fd00:10:96::/112' : '172.30.0.0/16'],
    topologyLabels: {},
    ...over,
  };
}

/** upstream's baseRules: what a full sync of the fake proxier writes with no services. */
export const BASE_RULES = `
add table ip kube-proxy { comment "rules for kube-proxy" ; }

add set ip kube-proxy cluster-ips { type ipv4_addr ; comment "Active ClusterIPs" ; }
add set ip kube-proxy nodeport-ips { type ipv4_addr ; comment "IPs that accept NodePort traffic" ; }

add map ip kube-proxy firewall-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "destinations that are subject to LoadBalancerSourceRanges" ; }
add map ip kube-proxy no-endpoint-nodeports { type inet_proto . inet_service : verdict ; comment "vmap to drop or reject packets to service nodeports with no endpoints" ; }
add map ip kube-proxy no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict ; comment "vmap to drop or reject packets to services with no endpoints" ; }
add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }
add map ip kube-proxy service-nodeports { type inet_proto . inet_service : verdict ; comment "NodePort traffic" ; }

add chain ip kube-proxy cluster-ips-check
add chain ip kube-proxy filter-prerouting-pre-dnat { type filter hook prerouting priority -110 ; }
add chain ip kube-proxy filter-output-pre-dnat { type filter hook output priority -110 ; }
add chain ip kube-proxy filter-forward { type filter hook forward priority 0 ; }
add chain ip kube-proxy filter-input { type filter hook input priority 0 ; }
add chain ip kube-proxy filter-output { type filter hook output priority 0 ; }
add chain ip kube-proxy firewall-check
add chain ip kube-proxy mark-for-masquerade
add chain ip kube-proxy masquerading
add chain ip kube-proxy nat-output { type nat hook output priority -100 ; }
add chain ip kube-proxy nat-postrouting { type nat hook postrouting priority 100 ; }
add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }
add chain ip kube-proxy nodeport-endpoints-check
add chain ip kube-proxy reject-chain { comment "helper for @no-endpoint-services / @no-endpoint-nodeports" ; }
add chain ip kube-proxy services
add chain ip kube-proxy service-endpoints-check

add rule ip kube-proxy cluster-ips-check ip daddr @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs"
add rule ip kube-proxy cluster-ips-check ip daddr { 172.30.0.0/16 } drop comment "Drop traffic to unallocated ClusterIPs"
add rule ip kube-proxy filter-prerouting-pre-dnat ct state new jump firewall-check
add rule ip kube-proxy filter-forward ct state new jump service-endpoints-check
add rule ip kube-proxy filter-forward ct state new jump cluster-ips-check
add rule ip kube-proxy filter-input ct state new jump nodeport-endpoints-check
add rule ip kube-proxy filter-input ct state new jump service-endpoints-check
add rule ip kube-proxy filter-output ct state new jump service-endpoints-check
add rule ip kube-proxy filter-output-pre-dnat ct state new jump firewall-check
add rule ip kube-proxy filter-output ct state new jump cluster-ips-check
add rule ip kube-proxy firewall-check ip daddr . meta l4proto . th dport vmap @firewall-ips
add rule ip kube-proxy mark-for-masquerade mark set mark or 0x4000
add rule ip kube-proxy masquerading mark and 0x4000 == 0 return
add rule ip kube-proxy masquerading mark set mark xor 0x4000
add rule ip kube-proxy masquerading masquerade fully-random
add rule ip kube-proxy nat-output jump services
add rule ip kube-proxy nat-postrouting jump masquerading
add rule ip kube-proxy nat-prerouting jump services
add rule ip kube-proxy nodeport-endpoints-check ip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports
add rule ip kube-proxy reject-chain reject
add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips
add rule ip kube-proxy services ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports

add element ip kube-proxy nodeport-ips { 192.168.0.2 }
add rule ip kube-proxy service-endpoints-check ip daddr . meta l4proto . th dport vmap @no-endpoint-services
`;

const OBJECT_ORDER: Record<string, number> = { table: 10, chain: 9, rule: 8, set: 7, map: 6, element: 5 };

/** upstream sortNFTablesTransaction: by object type, then object name; rules keep their order. */
export function sortNFTablesTransaction(tx: string): string {
  const lines = tx.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  const rank = (w: string[]) => OBJECT_ORDER[w[1]!] ?? 0;
  // A stable merge sort with upstream's comparator (which is a "less", not a total order).
  const less = (li: string, lj: string): boolean => {
    const wi = li.split(' ');
    const wj = lj.split(' ');
    if (wi.length < 5 || wj.length < 5) return false;
    if (wi[1] !== wj[1]) return rank(wi) >= rank(wj);
    if (wi[4] !== wj[4]) return wi[4]! < wj[4]!;
    if (wi[1] === 'rule') return false;
    return li < lj;
  };
  const sorted = lines
    .map((l, i) => ({ l, i }))
    .sort((a, b) => (less(a.l, b.l) ? -1 : less(b.l, a.l) ? 1 : a.i - b.i))
    .map((x) => x.l);
  return sorted.join('\n');
}

export function dedent(s: string): string {
  return s
    .split('\n')
    .map((l) => l.trim())
    .join('\n');
}

/** upstream makeTestService: ports, type etc. set by `mutate`. */
export function makeService(ns: string, name: string, mutate: (s: Service & { spec: NonNullable<Service['spec']> }) => void): Service {
  const svc = { apiVersion: 'v1', kind: 'Service', metadata: { namespace: ns, name }, spec: {}, status: { loadBalancer: {} } } as Service & { spec: NonNullable<Service['spec']> };
  mutate(svc);
  return svc;
}

/** upstream makeTestEndpointSlice: named NAME-N, labelled for the service. */
export function makeSlice(ns: string, name: string, n: number, mutate: (s: EndpointSlice) => void): EndpointSlice {
  const slice: EndpointSlice = { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { namespace: ns, name: `${name}-${n}`, labels: { 'kubernetes.io/service-name': name } } };
  mutate(slice);
  return slice;
}

export function tcpSlice(ns: string, name: string, portName: string, port: number, ips: (string | [string, string])[], family: IPFamily = 'IPv4'): EndpointSlice {
  return makeSlice(ns, name, 1, (s) => {
    s.addressType = family;
    s.endpoints = ips.map((ip) => (Array.isArray(ip) ? { addresses: [ip[0]], nodeName: ip[1] } : { addresses: [ip] }));
    s.ports = [{ name: portName, port, protocol: 'TCP' }];
  });
}

/** One full sync on an empty table; the table it leaves, in Dump order. */
export function fullSyncDump(services: Service[], slices: EndpointSlice[], options: NftRenderOptions = upstreamFakeOptions()): string {
  const state = new ProxyState(options.ipFamily, options.nodeName, () => {});
  for (const s of services) state.onService(null, s);
  for (const s of slices) state.onEndpointSlice(s, false);
  state.update();
  const result = buildSyncTransaction({ servicePorts: state.servicePorts(), endpointsFor: (k) => state.endpointsFor(k) }, options, new NftSyncState(), { full: true, now: 0 }, emptyTable());
  const table = new FakeTable(nftFamily(options.ipFamily), 'kube-proxy');
  table.run(result.tx);
  return table.dump();
}

/** The rules of one chain in a dump, in order, without "add rule FAMILY kube-proxy CHAIN ". */
export function chainRules(dump: string, chain: string): string[] {
  const out: string[] = [];
  for (const line of dump.split('\n')) {
    const m = /^add rule (?:ip|ip6) kube-proxy (\S+) (.*)$/.exec(line);
    if (m && m[1] === chain) out.push(m[2]!);
  }
  return out;
}

/** The elements of one set or map in a dump, as "key" or "key : value" (comments dropped). */
export function elements(dump: string, container: string): string[] {
  const out: string[] = [];
  for (const line of dump.split('\n')) {
    const m = /^add element (?:ip|ip6) kube-proxy (\S+) \{ (.*?)(?: comment "[^"]*")?(?: : (.*))? \}$/.exec(line);
    if (m && m[1] === container) out.push(m[3] === undefined ? m[2]! : `${m[2]} : ${m[3]}`);
  }
  return out.sort();
}

/**
 * An Nft backed by in-memory tables (one per family), recording every transaction;
 * failNext makes the next run fail as nft would, without changing anything.
 */
export class FakeNft implements Nft {
  readonly tables = { ip: new FakeTable('ip', 'kube-proxy'), ip6: new FakeTable('ip6', 'kube-proxy') };
  readonly transactions: string[] = [];
  failNext: string | null = null;
  listFails = false;

  async run(text: string): Promise<void> {
    this.transactions.push(text);
    const family = /^\S+ \S+ (ip6?) /.exec(text)?.[1] as 'ip' | 'ip6' | undefined;
    if (this.failNext !== null) {
      const why = this.failNext;
      this.failNext = null;
      throw new NftRunError(`nft -f exited 1: /dev/stdin:1:1-10: Error: ${why}`, 1);
    }
    try {
      this.tables[family ?? 'ip'].runText(text);
    } catch (err) {
      throw new NftRunError(`nft -f exited 1: ${(err as Error).message}`, err instanceof NftError ? err.operation : null);
    }
  }

  async listTable(family: 'ip' | 'ip6'): Promise<TableListing | null> {
    if (this.listFails) throw new Error('nft -j list table failed');
    const t = this.tables[family];
    if (!t.exists) return null;
    const elements = new Map<string, Map<string, string>>();
    for (const name of [...t.sets(), ...t.maps()]) elements.set(name, new Map(t.elements(name)!.map((e) => [e.key.join(' . '), e.value.join(' . ')])));
    return { chains: new Set(t.chains()), sets: new Set(t.sets()), elements };
  }

  async deleteTable(family: 'ip' | 'ip6'): Promise<boolean> {
    if (!this.tables[family].exists) return false;
    this.tables[family].runText(`delete table ${family} kube-proxy\n`);
    return true;
  }
}

// One sync's nftables transaction (upstream pkg/proxy/nftables syncProxyRules and
// setupNFTables, minus the I/O): on a full sync the base chains, jumps, helper chains,
// sets and maps; on every sync the map and set elements that changed, and the chains of
// the services that changed (all of them on a full sync); stale service chains flushed
// and, a second later, deleted in a transaction of their own.
import type { EndpointInfo } from '../endpoints.ts';
import { cidrContains, isLoopback, parseCIDR, parseIP, type IPFamily } from '../ip.ts';
import { externallyAccessible, usesClusterEndpoints, usesLocalEndpoints, type ServicePortInfo } from '../service-port.ts';
import { categorizeEndpoints } from '../topology.ts';
import { ElementStorage } from './elements.ts';
import {
  CLUSTER_IPS_CHECK_CHAIN, CLUSTER_IPS_SET, FILTER_FORWARD, FILTER_INPUT, FILTER_OUTPUT, FILTER_OUTPUT_PRE_DNAT, FILTER_PREROUTING_PRE_DNAT,
  FIREWALL_CHECK_CHAIN, FIREWALL_IPS_MAP, MARK_MASQ_CHAIN, MASQUERADING_CHAIN, NAT_OUTPUT, NAT_POSTROUTING, NAT_PREROUTING,
  NODEPORT_ENDPOINTS_CHECK_CHAIN, NODEPORT_IPS_SET, NO_ENDPOINT_NODEPORTS_MAP, NO_ENDPOINT_SERVICES_MAP, REJECT_CHAIN, SERVICES_CHAIN,
  SERVICE_ENDPOINTS_CHECK_CHAIN, SERVICE_IPS_MAP, SERVICE_NODEPORTS_MAP, TABLE, endpointNames, isServiceChainName, servicePortNames,
  type EndpointNames, type ServicePortNames,
} from './names.ts';
import { Transaction, type NftFamily } from './transaction.ts';

/** How traffic from pods is recognised, as nft words (upstream IfLocalNFT/IfNotLocalNFT); null: not at all. */
export interface NftLocalDetector {
  ifLocal: string[];
  ifNotLocal: string[];
}

export interface NftRenderOptions {
  ipFamily: IPFamily;
  nodeName: string;
  /** The node's primary IP of this family (loopback when unknown), for loadBalancerSourceRanges. */
  nodeIP: string;
  masqueradeAll: boolean;
  /** e.g. "0x00004000". */
  masqueradeMark: string;
  localDetector: NftLocalDetector | null;
  /** null: NodePorts on every local address but loopback; else the node IPs --nodeport-addresses selects. */
  nodePortIPs: string[] | null;
  /** The ServiceCIDRs of this family (traffic to their unallocated addresses is dropped). */
  serviceCIDRs: string[];
  topologyLabels: Record<string, string>;
}

export interface RenderState {
  servicePorts: ServicePortInfo[];
  endpointsFor(key: string): EndpointInfo[];
}

export function nftFamily(family: IPFamily): NftFamily {
  return family === 'IPv6' ? 'ip6' : 'ip';
}

const CONTAINERS = [
  ['set', CLUSTER_IPS_SET],
  ['map', SERVICE_IPS_MAP],
  ['map', FIREWALL_IPS_MAP],
  ['map', NO_ENDPOINT_SERVICES_MAP],
  ['map', NO_ENDPOINT_NODEPORTS_MAP],
  ['map', SERVICE_NODEPORTS_MAP],
] as const;

/** What a proxier remembers between syncs of one family (fields of upstream's Proxier). */
export class NftSyncState {
  /** The one-time "add + delete" of the base chains (so their properties can change) is done. */
  flushed = false;
  /** A sync was attempted; endpoint chains found at startup are reused only before that. */
  syncedOnce = false;
  /** Stale service chain → when it was (last) flushed, ms. */
  readonly staleChains = new Map<string, number>();
  readonly clusterIPs = new ElementStorage('set', CLUSTER_IPS_SET);
  readonly serviceIPs = new ElementStorage('map', SERVICE_IPS_MAP);
  readonly firewallIPs = new ElementStorage('map', FIREWALL_IPS_MAP);
  readonly noEndpointServices = new ElementStorage('map', NO_ENDPOINT_SERVICES_MAP);
  readonly noEndpointNodePorts = new ElementStorage('map', NO_ENDPOINT_NODEPORTS_MAP);
  readonly serviceNodePorts = new ElementStorage('map', SERVICE_NODEPORTS_MAP);

  storage(name: string): ElementStorage {
    const all = [this.clusterIPs, this.serviceIPs, this.firewallIPs, this.noEndpointServices, this.noEndpointNodePorts, this.serviceNodePorts];
    return all.find((s) => s.name === name)!;
  }
}

/** What the table holds before this sync (from `nft list`, or tracked by the proxier). */
export interface ExistingObjects {
  /** All chains of the table; null when they could not be listed. */
  chains: Set<string> | null;
  /** Its affinity-… sets; null when they could not be listed. */
  affinitySets: Set<string> | null;
  /**
   * For a full sync: the elements of the six sets and maps kube-proxy fills (key → value,
   * " . "-joined); a missing or null entry is flushed and written from scratch.
   */
  elements?: Map<string, Map<string, string> | null>;
}

export interface SyncScope {
  full: boolean;
  /** On a partial sync, the Services ("namespace/name") whose chains are rewritten. */
  updatedServices?: Set<string>;
  /** The sync's start time, ms (stale chain bookkeeping). */
  now: number;
}

export interface SyncResult {
  tx: Transaction;
  /** Service and endpoint chains this sync keeps (created or kept). */
  activeChains: Set<string>;
  /** Affinity sets this sync keeps. */
  activeAffinitySets: Set<string>;
  /** Stale affinity sets the transaction deletes. */
  deletedAffinitySets: string[];
  /** Chains the transaction flushes because nothing uses them any more. */
  flushedStaleChains: string[];
  totalEndpoints: number;
  noLocalEndpoints: { internal: number; external: number };
  /** --nodeport-addresses selected a loopback address: localhost NodePorts are not supported. */
  ignoredLoopbackNodePortIPs: string[];
}

const BASE_CHAINS: { name: string; type: string; hook: string; priority: number }[] = [
  { name: FILTER_PREROUTING_PRE_DNAT, type: 'filter', hook: 'prerouting', priority: -110 },
  { name: FILTER_OUTPUT_PRE_DNAT, type: 'filter', hook: 'output', priority: -110 },
  { name: FILTER_INPUT, type: 'filter', hook: 'input', priority: 0 },
  { name: FILTER_FORWARD, type: 'filter', hook: 'forward', priority: 0 },
  { name: FILTER_OUTPUT, type: 'filter', hook: 'output', priority: 0 },
  { name: NAT_PREROUTING, type: 'nat', hook: 'prerouting', priority: -100 },
  { name: NAT_OUTPUT, type: 'nat', hook: 'output', priority: -100 },
  { name: NAT_POSTROUTING, type: 'nat', hook: 'postrouting', priority: 100 },
];

const NEW = 'ct state new';
const JUMP_CHAINS: { dst: string; src: string; extra: string }[] = [
  { dst: NODEPORT_ENDPOINTS_CHECK_CHAIN, src: FILTER_INPUT, extra: NEW },
  { dst: SERVICE_ENDPOINTS_CHECK_CHAIN, src: FILTER_INPUT, extra: NEW },
  { dst: SERVICE_ENDPOINTS_CHECK_CHAIN, src: FILTER_FORWARD, extra: NEW },
  { dst: SERVICE_ENDPOINTS_CHECK_CHAIN, src: FILTER_OUTPUT, extra: NEW },
  { dst: FIREWALL_CHECK_CHAIN, src: FILTER_PREROUTING_PRE_DNAT, extra: NEW },
  { dst: FIREWALL_CHECK_CHAIN, src: FILTER_OUTPUT_PRE_DNAT, extra: NEW },
  { dst: SERVICES_CHAIN, src: NAT_OUTPUT, extra: '' },
  { dst: SERVICES_CHAIN, src: NAT_PREROUTING, extra: '' },
  { dst: MASQUERADING_CHAIN, src: NAT_POSTROUTING, extra: '' },
  { dst: CLUSTER_IPS_CHECK_CHAIN, src: FILTER_FORWARD, extra: NEW },
  { dst: CLUSTER_IPS_CHECK_CHAIN, src: FILTER_OUTPUT, extra: NEW },
];

/** Adds "add chain + flush chain" once per chain per transaction; skipCreation only records it. */
function ensureChain(tx: Transaction, created: Set<string>, name: string, skipCreation = false): void {
  if (created.has(name)) return;
  created.add(name);
  if (skipCreation) return;
  tx.add({ kind: 'chain', name });
  tx.flush({ kind: 'chain', name });
}

const words = (...parts: (string | string[])[]) => parts.flat().filter((p) => p !== '').join(' ');

// The tracker keeps a service port's and an endpoint's objects until they change: their
// hashed names are computed once per object, not on every sync.
const portNamesCache = new WeakMap<ServicePortInfo, ServicePortNames>();
const endpointNamesCache = new WeakMap<EndpointInfo, EndpointNames>();

function namesOf(sp: ServicePortInfo): ServicePortNames {
  let n = portNamesCache.get(sp);
  if (!n) portNamesCache.set(sp, (n = servicePortNames(sp.service, sp.portName, sp.protocol.toLowerCase())));
  return n;
}

function endpointNamesOf(sp: ServicePortInfo, ep: EndpointInfo): EndpointNames {
  let n = endpointNamesCache.get(ep);
  if (!n) endpointNamesCache.set(ep, (n = endpointNames(sp.service, sp.portName, sp.protocol.toLowerCase(), ep.endpoint)));
  return n;
}

/** upstream setupNFTables: everything but the per-service objects; returns loopback node IPs it left out. */
function setupTable(tx: Transaction, o: NftRenderOptions, state: NftSyncState, existing: ExistingObjects): string[] {
  const v6 = o.ipFamily === 'IPv6';
  const ipX = v6 ? 'ip6' : 'ip';
  const addrType = v6 ? 'ipv6_addr' : 'ipv4_addr';
  const noLocalhost = v6 ? 'ip6 daddr != ::1' : 'ip daddr != 127.0.0.0/8';
  const mark = o.masqueradeMark;
  tx.add({ kind: 'table', comment: 'rules for kube-proxy' });
  if (!state.flushed) {
    for (const bc of BASE_CHAINS) {
      tx.add({ kind: 'chain', name: bc.name });
      tx.delete({ kind: 'chain', name: bc.name });
    }
    state.flushed = true;
  }
  for (const bc of BASE_CHAINS) {
    tx.add({ kind: 'chain', name: bc.name, type: bc.type, hook: bc.hook, priority: bc.priority });
    tx.flush({ kind: 'chain', name: bc.name });
  }
  const created = new Set<string>();
  for (const j of JUMP_CHAINS) {
    ensureChain(tx, created, j.dst);
    tx.add({ kind: 'rule', chain: j.src, rule: words(j.extra, 'jump', j.dst) });
  }
  for (const c of [SERVICES_CHAIN, CLUSTER_IPS_CHECK_CHAIN, MASQUERADING_CHAIN, MARK_MASQ_CHAIN]) ensureChain(tx, created, c);
  tx.add({ kind: 'rule', chain: MARK_MASQ_CHAIN, rule: `mark set mark or ${mark}` });
  tx.add({ kind: 'rule', chain: MASQUERADING_CHAIN, rule: `mark and ${mark} == 0 return` });
  tx.add({ kind: 'rule', chain: MASQUERADING_CHAIN, rule: `mark set mark xor ${mark}` });
  tx.add({ kind: 'rule', chain: MASQUERADING_CHAIN, rule: 'masquerade fully-random' });

  tx.add({ kind: 'set', name: CLUSTER_IPS_SET, type: addrType, comment: 'Active ClusterIPs' });
  tx.add({ kind: 'rule', chain: CLUSTER_IPS_CHECK_CHAIN, rule: `${ipX} daddr @${CLUSTER_IPS_SET} reject`, comment: 'Reject traffic to invalid ports of ClusterIPs' });
  if (o.serviceCIDRs.length > 0) {
    tx.add({ kind: 'rule', chain: CLUSTER_IPS_CHECK_CHAIN, rule: `${ipX} daddr { ${o.serviceCIDRs.join(',')} } drop`, comment: 'Drop traffic to unallocated ClusterIPs' });
  }

  const ignoredLoopback: string[] = [];
  tx.add({ kind: 'set', name: NODEPORT_IPS_SET, type: addrType, comment: 'IPs that accept NodePort traffic' });
  if (o.nodePortIPs === null) {
    tx.delete({ kind: 'set', name: NODEPORT_IPS_SET });
  } else {
    tx.flush({ kind: 'set', name: NODEPORT_IPS_SET });
    for (const ip of o.nodePortIPs) {
      const parsed = parseIP(ip);
      if (parsed && isLoopback(parsed)) {
        ignoredLoopback.push(ip);
        continue;
      }
      tx.add({ kind: 'element', container: NODEPORT_IPS_SET, key: [ip], value: [] });
    }
  }

  tx.add({ kind: 'map', name: NO_ENDPOINT_SERVICES_MAP, type: `${addrType} . inet_proto . inet_service : verdict`, comment: 'vmap to drop or reject packets to services with no endpoints' });
  tx.add({ kind: 'map', name: NO_ENDPOINT_NODEPORTS_MAP, type: 'inet_proto . inet_service : verdict', comment: 'vmap to drop or reject packets to service nodeports with no endpoints' });
  tx.add({ kind: 'chain', name: REJECT_CHAIN, comment: 'helper for @no-endpoint-services / @no-endpoint-nodeports' });
  tx.flush({ kind: 'chain', name: REJECT_CHAIN });
  tx.add({ kind: 'rule', chain: REJECT_CHAIN, rule: 'reject' });
  tx.add({ kind: 'rule', chain: SERVICE_ENDPOINTS_CHECK_CHAIN, rule: `${ipX} daddr . meta l4proto . th dport vmap @${NO_ENDPOINT_SERVICES_MAP}` });
  const nodePortDest = o.nodePortIPs === null ? noLocalhost : `${ipX} daddr @${NODEPORT_IPS_SET}`;
  tx.add({ kind: 'rule', chain: NODEPORT_ENDPOINTS_CHECK_CHAIN, rule: `${nodePortDest} meta l4proto . th dport vmap @${NO_ENDPOINT_NODEPORTS_MAP}` });

  tx.add({ kind: 'map', name: FIREWALL_IPS_MAP, type: `${addrType} . inet_proto . inet_service : verdict`, comment: 'destinations that are subject to LoadBalancerSourceRanges' });
  ensureChain(tx, created, FIREWALL_CHECK_CHAIN);
  tx.add({ kind: 'rule', chain: FIREWALL_CHECK_CHAIN, rule: `${ipX} daddr . meta l4proto . th dport vmap @${FIREWALL_IPS_MAP}` });

  tx.add({ kind: 'map', name: SERVICE_IPS_MAP, type: `${addrType} . inet_proto . inet_service : verdict`, comment: 'ClusterIP, ExternalIP and LoadBalancer IP traffic' });
  tx.add({ kind: 'map', name: SERVICE_NODEPORTS_MAP, type: 'inet_proto . inet_service : verdict', comment: 'NodePort traffic' });
  tx.add({ kind: 'rule', chain: SERVICES_CHAIN, rule: `${ipX} daddr . meta l4proto . th dport vmap @${SERVICE_IPS_MAP}` });
  const nodePortMatch = o.nodePortIPs === null ? `fib daddr type local ${noLocalhost}` : `${ipX} daddr @${NODEPORT_IPS_SET}`;
  tx.add({ kind: 'rule', chain: SERVICES_CHAIN, rule: `${nodePortMatch} meta l4proto . th dport vmap @${SERVICE_NODEPORTS_MAP}` });

  for (const [, name] of CONTAINERS) state.storage(name).readOrReset(tx, existing.elements?.get(name) ?? null);
  return ignoredLoopback;
}

/**
 * The transaction that deletes service chains flushed at least a second before `now`
 * (kernels before 6.2 notice only later that a deleted map element no longer uses its
 * chain), or null when there are none. The chains leave staleChains either way, like
 * upstream; if the deletion fails they are found stale again by the next sync.
 */
export function staleChainsTransaction(state: NftSyncState, family: IPFamily, now: number): { tx: Transaction; chains: string[] } | null {
  const chains = [...state.staleChains].filter(([, t]) => t < now - 1000).map(([c]) => c).sort();
  if (chains.length === 0) return null;
  const tx = new Transaction(nftFamily(family), TABLE);
  for (const c of chains) {
    tx.delete({ kind: 'chain', name: c });
    state.staleChains.delete(c);
  }
  return { tx, chains };
}

export function countEndpoints(view: RenderState): number {
  let n = 0;
  for (const sp of view.servicePorts) n += view.endpointsFor(sp.key).length;
  return n;
}

/** upstream syncProxyRules' main transaction. Updates `state` (element storages, stale chains) as upstream does. */
export function buildSyncTransaction(view: RenderState, o: NftRenderOptions, state: NftSyncState, scope: SyncScope, existing: ExistingObjects): SyncResult {
  const tx = new Transaction(nftFamily(o.ipFamily), TABLE);
  const v6 = o.ipFamily === 'IPv6';
  const ipX = v6 ? 'ip6' : 'ip';
  const addrType = v6 ? 'ipv6_addr' : 'ipv4_addr';
  const ignoredLoopbackNodePortIPs = scope.full ? setupTable(tx, o, state, existing) : [];
  const firstSync = !state.syncedOnce;
  state.syncedOnce = true;

  const activeChains = new Set<string>();
  const activeAffinitySets = new Set<string>();
  const totalEndpoints = countEndpoints(view);
  let noLocalInternal = 0;
  let noLocalExternal = 0;
  const nodeIP = parseIP(o.nodeIP);

  // At startup, an endpoint chain already in the table holds exactly its rules (its name
  // says the endpoint) unless session affinity changed, which its affinity set shows.
  const epChainSkipUpdate = (sp: ServicePortInfo, affinitySet: string, chain: string): boolean => {
    if (!firstSync || existing.chains === null || existing.affinitySets === null) return false;
    return existing.chains.has(chain) && sp.sessionAffinityClientIP === existing.affinitySets.has(affinitySet);
  };

  for (const sp of view.servicePorts) {
    const protocol = sp.protocol.toLowerCase();
    const names = namesOf(sp);
    const { clusterEndpoints, localEndpoints, allReachableEndpoints, hasAnyEndpoints: hasEndpoints } = categorizeEndpoints(view.endpointsFor(sp.key), sp, o.nodeName, o.topologyLabels);
    const skipServiceUpdate = !scope.full && !scope.updatedServices?.has(sp.service);
    const epName = (ep: EndpointInfo) => endpointNamesOf(sp, ep);

    for (const ep of allReachableEndpoints) {
      const n = epName(ep);
      ensureChain(tx, activeChains, n.chain, skipServiceUpdate || epChainSkipUpdate(sp, n.affinitySet, n.chain));
      if (sp.sessionAffinityClientIP) activeAffinitySets.add(n.affinitySet);
    }

    const clusterPolicyChain = names.clusterPolicy;
    const usesClusterPolicyChain = clusterEndpoints.length > 0 && usesClusterEndpoints(sp);
    if (usesClusterPolicyChain) ensureChain(tx, activeChains, clusterPolicyChain, skipServiceUpdate);
    const localPolicyChain = names.localPolicy;
    const usesLocalPolicyChain = localEndpoints.length > 0 && usesLocalEndpoints(sp);
    if (usesLocalPolicyChain) ensureChain(tx, activeChains, localPolicyChain, skipServiceUpdate);

    let internalTrafficChain = clusterPolicyChain;
    let hasInternalEndpoints = hasEndpoints;
    if (sp.internalPolicyLocal) {
      internalTrafficChain = localPolicyChain;
      if (localEndpoints.length === 0) hasInternalEndpoints = false;
    }
    let externalPolicyChain = clusterPolicyChain;
    let hasExternalEndpoints = hasEndpoints;
    if (sp.externalPolicyLocal) {
      externalPolicyChain = localPolicyChain;
      if (localEndpoints.length === 0) hasExternalEndpoints = false;
    }
    const externalTrafficChain = names.external;
    const usesExternalTrafficChain = hasEndpoints && externallyAccessible(sp);
    if (usesExternalTrafficChain) ensureChain(tx, activeChains, externalTrafficChain, skipServiceUpdate);

    let internalVerdict = '';
    let externalVerdict = '';
    if (!hasEndpoints) {
      internalVerdict = externalVerdict = `goto ${REJECT_CHAIN}`;
    } else {
      if (!hasInternalEndpoints) {
        internalVerdict = 'drop';
        noLocalInternal++;
      }
      if (!hasExternalEndpoints) {
        externalVerdict = 'drop';
        noLocalExternal++;
      }
    }

    const port = String(sp.port);
    state.clusterIPs.ensure(tx, [sp.clusterIP]);
    if (hasInternalEndpoints) state.serviceIPs.ensure(tx, [sp.clusterIP, protocol, port], [`goto ${internalTrafficChain}`]);
    else state.noEndpointServices.ensure(tx, [sp.clusterIP, protocol, port], [internalVerdict], sp.name);

    for (const ip of sp.externalIPs) {
      if (hasEndpoints) state.serviceIPs.ensure(tx, [ip, protocol, port], [`goto ${externalTrafficChain}`]);
      if (!hasExternalEndpoints) state.noEndpointServices.ensure(tx, [ip, protocol, port], [externalVerdict], sp.name);
    }

    // Unlike iptables mode, the firewall exists even when the service has no endpoints.
    const usesFWChain = sp.loadBalancerVIPs.length > 0 && sp.loadBalancerSourceRanges.length > 0;
    const fwChain = names.firewall;
    if (usesFWChain) ensureChain(tx, activeChains, fwChain, skipServiceUpdate);
    for (const ip of sp.loadBalancerVIPs) {
      if (hasEndpoints) state.serviceIPs.ensure(tx, [ip, protocol, port], [`goto ${externalTrafficChain}`]);
      if (usesFWChain) state.firewallIPs.ensure(tx, [ip, protocol, port], [`goto ${fwChain}`]);
    }
    if (!hasExternalEndpoints) for (const ip of sp.loadBalancerVIPs) state.noEndpointServices.ensure(tx, [ip, protocol, port], [externalVerdict], sp.name);

    if (sp.nodePort !== 0) {
      const np = String(sp.nodePort);
      if (hasEndpoints) state.serviceNodePorts.ensure(tx, [protocol, np], [`goto ${externalTrafficChain}`]);
      if (!hasExternalEndpoints) state.noEndpointNodePorts.ensure(tx, [protocol, np], [externalVerdict], sp.name);
    }

    if (skipServiceUpdate) continue;

    if (hasInternalEndpoints) {
      if (o.masqueradeAll) tx.add({ kind: 'rule', chain: internalTrafficChain, rule: `${ipX} daddr ${sp.clusterIP} jump ${MARK_MASQ_CHAIN}` });
      else if (o.localDetector) tx.add({ kind: 'rule', chain: internalTrafficChain, rule: words(`${ipX} daddr ${sp.clusterIP}`, o.localDetector.ifNotLocal, 'jump', MARK_MASQ_CHAIN) });
    }

    if (usesExternalTrafficChain) {
      if (!sp.externalPolicyLocal) {
        tx.add({ kind: 'rule', chain: externalTrafficChain, rule: `jump ${MARK_MASQ_CHAIN}` });
      } else {
        if (o.localDetector) tx.add({ kind: 'rule', chain: externalTrafficChain, rule: words(o.localDetector.ifLocal, 'goto', clusterPolicyChain), comment: 'short-circuit pod traffic' });
        tx.add({ kind: 'rule', chain: externalTrafficChain, rule: `fib saddr type local jump ${MARK_MASQ_CHAIN}`, comment: 'masquerade local traffic' });
        tx.add({ kind: 'rule', chain: externalTrafficChain, rule: `fib saddr type local goto ${clusterPolicyChain}`, comment: 'short-circuit local traffic' });
      }
      if (hasExternalEndpoints) tx.add({ kind: 'rule', chain: externalTrafficChain, rule: `goto ${externalPolicyChain}` });
    }

    if (usesFWChain) {
      const sources: string[] = [];
      let allowFromNode = false;
      for (const range of sp.loadBalancerSourceRanges) {
        sources.push(range);
        const cidr = parseCIDR(range);
        if (cidr && nodeIP && cidrContains(cidr, nodeIP)) allowFromNode = true;
      }
      // A VIP that is also a local address makes the node's own requests arrive from the VIP.
      if (allowFromNode) sources.push(...sp.loadBalancerVIPs);
      tx.add({ kind: 'rule', chain: fwChain, rule: `${ipX} saddr != { ${sources.join(' , ')} } drop` });
    }

    if (sp.sessionAffinityClientIP) {
      for (const ep of allReachableEndpoints) {
        tx.add({ kind: 'set', name: epName(ep).affinitySet, type: addrType, flags: ['dynamic', 'timeout'], timeoutSeconds: sp.stickyMaxAgeSeconds });
      }
    }

    if (usesClusterPolicyChain) writeServiceToEndpointRules(tx, ipX, sp, clusterPolicyChain, clusterEndpoints.map(epName));
    if (usesLocalPolicyChain) writeServiceToEndpointRules(tx, ipX, sp, localPolicyChain, localEndpoints.map(epName));

    for (const ep of allReachableEndpoints) {
      const n = epName(ep);
      if (epChainSkipUpdate(sp, n.affinitySet, n.chain)) continue;
      tx.add({ kind: 'rule', chain: n.chain, rule: `${ipX} saddr ${ep.ip} jump ${MARK_MASQ_CHAIN}` });
      if (sp.sessionAffinityClientIP) tx.add({ kind: 'rule', chain: n.chain, rule: `update @${n.affinitySet} { ${ipX} saddr }` });
      tx.add({ kind: 'rule', chain: n.chain, rule: `meta l4proto ${protocol} dnat to ${ep.endpoint}` });
    }
  }

  // Chains nothing uses any more are flushed now and deleted a second later (see staleChainsTransaction).
  const flushedStaleChains: string[] = [];
  for (const chain of existing.chains ?? []) {
    if (activeChains.has(chain)) state.staleChains.delete(chain);
    else if (isServiceChainName(chain)) flushedStaleChains.push(chain);
  }
  flushedStaleChains.sort();
  for (const chain of flushedStaleChains) {
    tx.flush({ kind: 'chain', name: chain });
    state.staleChains.set(chain, scope.now);
  }
  // Affinity sets can go at once.
  const deletedAffinitySets: string[] = [];
  for (const set of [...(existing.affinitySets ?? [])].sort()) {
    if (!activeAffinitySets.has(set)) {
      tx.delete({ kind: 'set', name: set });
      deletedAffinitySets.push(set);
    }
  }
  for (const [, name] of CONTAINERS) state.storage(name).cleanupLeftovers(tx);

  return {
    tx,
    activeChains,
    activeAffinitySets,
    deletedAffinitySets,
    flushedStaleChains,
    totalEndpoints,
    noLocalEndpoints: { internal: noLocalInternal, external: noLocalExternal },
    ignoredLoopbackNodePortIPs,
  };
}

function writeServiceToEndpointRules(tx: Transaction, ipX: string, sp: ServicePortInfo, chain: string, endpoints: { chain: string; affinitySet: string }[]): void {
  if (sp.sessionAffinityClientIP) {
    for (const ep of endpoints) tx.add({ kind: 'rule', chain, rule: `${ipX} saddr @${ep.affinitySet} goto ${ep.chain}` });
  }
  const elements = endpoints.map((ep, i) => `${i} : goto ${ep.chain}`).join(' , ');
  tx.add({ kind: 'rule', chain, rule: `numgen random mod ${endpoints.length} vmap { ${elements} }` });
}

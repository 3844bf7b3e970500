// From kube-proxy's command-line settings (upstream flag names) and this node's Node object
// to the renderer's options, applying upstream's defaults and adjustments.
import { masqueradeMark } from './chains.ts';
import { cidrContains, familyOf, formatCIDR, formatIP, isLoopback, parseCIDR, parseIP, type CIDR, type IP, type IPFamily } from './ip.ts';
import { detectLocalByCIDR, type LocalDetector, type RenderOptions } from './render.ts';
import type { IpvsSettings } from './ipvs/options.ts';
import { LABEL_TOPOLOGY_ZONE, type Node } from './types.ts';

export interface ProxySettings {
  /** --hostname-override, else the host name. */
  nodeName: string;
  /** --cluster-cidr (comma-separated, one per family). */
  clusterCIDRs: string[];
  /** --detect-local-mode: ClusterCIDR (default), NodeCIDR, BridgeInterface, InterfaceNamePrefix. */
  detectLocalMode: string;
  podBridgeInterface: string;
  podInterfaceNamePrefix: string;
  masqueradeAll: boolean;
  masqueradeBit: number;
  /** --nodeport-addresses: CIDRs, or the single value "primary"; empty: all addresses. */
  nodePortAddresses: string[];
  localhostNodePorts: boolean;
  /** --bind-address: overrides the node's primary IP when not 0.0.0.0/::. */
  bindAddress: string;
  /** The addresses assigned to this node's interfaces (NodePorts listen on those --nodeport-addresses selects). */
  localAddresses: string[];
  nfacct: boolean;
  /** iptables >= 1.6.2 supports MASQUERADE --random-fully (every iptables 1.8 does). */
  randomFully: boolean;
  /** --conntrack-tcp-be-liberal, or the sysctl already set. */
  conntrackTCPBeLiberal: boolean;
  /** The --ipvs-* flags (IPVS mode); upstream's defaults when absent. */
  ipvs?: IpvsSettings;
}

export const DEFAULT_SETTINGS: ProxySettings = {
  nodeName: '',
  clusterCIDRs: [],
  detectLocalMode: 'ClusterCIDR',
  podBridgeInterface: '',
  podInterfaceNamePrefix: '',
  masqueradeAll: false,
  masqueradeBit: 14,
  nodePortAddresses: [],
  localhostNodePorts: true,
  bindAddress: '0.0.0.0',
  localAddresses: [],
  nfacct: true,
  randomFully: true,
  conntrackTCPBeLiberal: false,
};

/** A setting that cannot work: what is wrong, for a one-line error. */
export function validateSettings(s: ProxySettings): string | null {
  if (!Number.isInteger(s.masqueradeBit) || s.masqueradeBit < 0 || s.masqueradeBit > 31) return `--iptables-masquerade-bit ${s.masqueradeBit} must be within the range [0, 31]`;
  for (const c of s.clusterCIDRs) if (!parseCIDR(c.trim())) return `--cluster-cidr ${JSON.stringify(c)} is not a CIDR`;
  if (!(s.nodePortAddresses.length === 1 && s.nodePortAddresses[0] === 'primary')) {
    for (const c of s.nodePortAddresses) if (!parseCIDR(c)) return `--nodeport-addresses ${JSON.stringify(c)} is not a CIDR (or the single value "primary")`;
  }
  for (const a of s.localAddresses) if (!parseIP(a)) return `--node-ip ${JSON.stringify(a)} is not an IP address`;
  if (s.bindAddress !== '' && !parseIP(s.bindAddress)) return `--bind-address ${JSON.stringify(s.bindAddress)} is not an IP address`;
  const modes = ['ClusterCIDR', 'NodeCIDR', 'BridgeInterface', 'InterfaceNamePrefix'];
  if (!modes.includes(s.detectLocalMode)) return `--detect-local-mode ${JSON.stringify(s.detectLocalMode)} must be one of ${modes.join(', ')}`;
  if (s.detectLocalMode === 'BridgeInterface' && !s.podBridgeInterface) return '--detect-local-mode=BridgeInterface needs --pod-bridge-interface';
  if (s.detectLocalMode === 'InterfaceNamePrefix' && !s.podInterfaceNamePrefix) return '--detect-local-mode=InterfaceNamePrefix needs --pod-interface-name-prefix';
  return null;
}

/** The node's IPs from its Node object: InternalIPs, then ExternalIPs (upstream GetNodeHostIPs). */
export function nodeHostIPs(node: Node | null | undefined): IP[] {
  const all: IP[] = [];
  for (const type of ['InternalIP', 'ExternalIP']) {
    for (const a of node?.status?.addresses ?? []) {
      const ip = a.type === type && a.address ? parseIP(a.address) : null;
      if (ip) all.push(ip);
    }
  }
  return all;
}

/** The node IP of one family: --bind-address, else the Node object's, else loopback. */
export function primaryNodeIP(family: IPFamily, node: Node | null | undefined, bindAddress: string): string {
  const bind = parseIP(bindAddress);
  const unspecified = bind !== null && (familyOf(bind) === 'IPv4' ? bind.bytes.slice(12) : bind.bytes).every((b) => b === 0);
  if (bind && !unspecified && familyOf(bind) === family) return formatIP(bind);
  const ip = nodeHostIPs(node).find((a) => familyOf(a) === family);
  if (ip) return formatIP(ip);
  return family === 'IPv4' ? '127.0.0.1' : '::1';
}

function localDetector(s: ProxySettings, family: IPFamily, node: Node | null | undefined): LocalDetector | null {
  const firstOfFamily = (cidrs: string[]) => cidrs.map((c) => parseCIDR(c.trim())).find((c) => c && c.family === family) ?? null;
  switch (s.detectLocalMode) {
    case 'ClusterCIDR': {
      const c = firstOfFamily(s.clusterCIDRs);
      return c ? detectLocalByCIDR(formatCIDR(c)) : null;
    }
    case 'NodeCIDR': {
      const c = firstOfFamily(node?.spec?.podCIDRs ?? []);
      return c ? detectLocalByCIDR(formatCIDR(c)) : null;
    }
    case 'BridgeInterface':
      return { ifLocal: ['-i', s.podBridgeInterface], ifNotLocal: ['!', '-i', s.podBridgeInterface] };
    case 'InterfaceNamePrefix':
      return { ifLocal: ['-i', `${s.podInterfaceNamePrefix}+`], ifNotLocal: ['!', '-i', `${s.podInterfaceNamePrefix}+`] };
    default:
      return null;
  }
}

/** Upstream's NodePortAddresses for one family (--nodeport-addresses, "primary" resolved). */
export interface NodePortAddresses {
  /** No CIDR of this family, or a /0: NodePorts on every address. */
  matchAll: boolean;
  cidrs: CIDR[];
  containsIPv4Loopback: boolean;
}

export function nodePortAddressesFor(s: ProxySettings, family: IPFamily, node: Node | null | undefined): NodePortAddresses {
  const nodeIP = primaryNodeIP(family, node, s.bindAddress);
  let strings = s.nodePortAddresses;
  if (strings.length === 1 && strings[0] === 'primary') {
    const ip = parseIP(nodeIP)!;
    strings = isLoopback(ip) ? [] : [`${nodeIP}/${family === 'IPv4' ? 32 : 128}`];
  }
  const cidrs = strings.map((c) => parseCIDR(c)).filter((c): c is CIDR => c !== null && c.family === family);
  if (cidrs.length === 0 || cidrs.some((c) => c.prefix === 0)) {
    // Match-all; 0.0.0.0/0 contains 127.0.0.0.
    return { matchAll: true, cidrs: [], containsIPv4Loopback: family === 'IPv4' };
  }
  const loop = parseIP('127.0.0.0')!;
  return { matchAll: false, cidrs, containsIPv4Loopback: family === 'IPv4' && cidrs.some((c) => isLoopback(c.ip) || cidrContains(c, loop)) };
}

/**
 * Upstream GetNodeIPs: the given interface addresses inside the CIDRs, canonical, without
 * duplicates, sorted; null when every address matches.
 */
export function nodePortIPsFor(npa: NodePortAddresses, addresses: Iterable<string>): string[] | null {
  if (npa.matchAll) return null;
  const out = new Set<string>();
  for (const a of addresses) {
    const ip = parseIP(a);
    if (ip && npa.cidrs.some((c) => cidrContains(c, ip))) out.add(formatIP(ip));
  }
  return [...out].sort();
}

export function renderOptionsFor(s: ProxySettings, node: Node | null | undefined, family: IPFamily = 'IPv4'): RenderOptions {
  const nodeIP = primaryNodeIP(family, node, s.bindAddress);
  const npa = nodePortAddressesFor(s, family, node);
  const localhostNodePorts = family === 'IPv4' && s.localhostNodePorts && npa.containsIPv4Loopback;
  // Every node has the loopback addresses; the others are --node-ip (render) or read from the interfaces (run).
  const nodePortIPs = nodePortIPsFor(npa, ['127.0.0.1', '::1', ...s.localAddresses]);
  const zone = node?.metadata?.labels?.[LABEL_TOPOLOGY_ZONE];
  return {
    ipFamily: family,
    nodeName: s.nodeName,
    nodeIP,
    masqueradeAll: s.masqueradeAll,
    masqueradeMark: masqueradeMark(s.masqueradeBit),
    localDetector: localDetector(s, family, node),
    localhostNodePorts,
    nodePortIPs,
    hasRandomFully: s.randomFully,
    conntrackTCPLiberal: s.conntrackTCPBeLiberal,
    nfacct: { ctStateInvalidDropped: s.nfacct, localhostNodePortsAccepted: s.nfacct },
    topologyLabels: zone !== undefined ? { [LABEL_TOPOLOGY_ZONE]: zone } : {},
  };
}

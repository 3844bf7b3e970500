// kube-proxy's settings as nftables mode reads them: --nodeport-addresses defaults to
// "primary" (upstream platformApplyDefaults), the mark is nftables.masqueradeBit (14;
// --iptables-masquerade-bit is for the iptables and ipvs modes only), pod traffic is
// recognised with nft expressions.
import { masqueradeMark } from '../chains.ts';
import { formatCIDR, parseCIDR, type IPFamily } from '../ip.ts';
import { nodePortAddressesFor, nodePortIPsFor, primaryNodeIP, type ProxySettings } from '../options.ts';
import { LABEL_TOPOLOGY_ZONE, type Node } from '../types.ts';
import type { NftLocalDetector, NftRenderOptions } from './sync.ts';

/** KubeProxyNFTablesConfiguration.masqueradeBit's default; no command-line flag sets it. */
export const NFTABLES_MASQUERADE_BIT = 14;

/** The settings with nftables mode's defaults applied. */
export function nftablesSettings(s: ProxySettings): ProxySettings {
  return { ...s, nodePortAddresses: s.nodePortAddresses.length === 0 ? ['primary'] : s.nodePortAddresses, masqueradeBit: NFTABLES_MASQUERADE_BIT };
}

function detectorByCIDR(cidr: string, family: IPFamily): NftLocalDetector {
  const ipX = family === 'IPv6' ? 'ip6' : 'ip';
  return { ifLocal: [ipX, 'saddr', cidr], ifNotLocal: [ipX, 'saddr', '!=', cidr] };
}

/** upstream getLocalDetectors, for one family, in nft words. */
export function nftLocalDetector(s: ProxySettings, family: IPFamily, node: Node | null | undefined): NftLocalDetector | null {
  const firstOfFamily = (cidrs: string[]) => cidrs.map((c) => parseCIDR(c.trim())).find((c) => c && c.family === family) ?? null;
  switch (s.detectLocalMode) {
    case 'ClusterCIDR':
    case 'NodeCIDR': {
      const c = firstOfFamily(s.detectLocalMode === 'ClusterCIDR' ? s.clusterCIDRs : (node?.spec?.podCIDRs ?? []));
      return c ? detectorByCIDR(formatCIDR(c), family) : null;
    }
    case 'BridgeInterface':
      return { ifLocal: ['iifname', s.podBridgeInterface], ifNotLocal: ['iifname', '!=', s.podBridgeInterface] };
    case 'InterfaceNamePrefix':
      return { ifLocal: ['iifname', `${s.podInterfaceNamePrefix}*`], ifNotLocal: ['iifname', '!=', `${s.podInterfaceNamePrefix}*`] };
    default:
      return null;
  }
}

/** The ServiceCIDRs of one family, in a stable order (upstream's order is a set's). */
export function serviceCIDRsFor(cidrs: Iterable<string>, family: IPFamily): string[] {
  const out = new Set<string>();
  for (const c of cidrs) {
    const parsed = parseCIDR(c.trim());
    if (parsed && parsed.family === family) out.add(c.trim());
  }
  return [...out].sort();
}

/**
 * The renderer's options for one family. `settings` are the command-line settings (the
 * nftables defaults are applied here); `addresses` the node's interface addresses,
 * among which --nodeport-addresses selects (loopback is always there).
 */
export function nftRenderOptionsFor(settings: ProxySettings, node: Node | null | undefined, family: IPFamily, serviceCIDRs: Iterable<string>, addresses: Iterable<string> = []): NftRenderOptions {
  const s = nftablesSettings(settings);
  const npa = nodePortAddressesFor(s, family, node);
  const zone = node?.metadata?.labels?.[LABEL_TOPOLOGY_ZONE];
  return {
    ipFamily: family,
    nodeName: s.nodeName,
    nodeIP: primaryNodeIP(family, node, s.bindAddress),
    masqueradeAll: s.masqueradeAll,
    masqueradeMark: masqueradeMark(NFTABLES_MASQUERADE_BIT),
    localDetector: nftLocalDetector(s, family, node),
    nodePortIPs: nodePortIPsFor(npa, ['127.0.0.1', '::1', ...s.localAddresses, ...addresses]),
    serviceCIDRs: serviceCIDRsFor(serviceCIDRs, family),
    topologyLabels: zone !== undefined ? { [LABEL_TOPOLOGY_ZONE]: zone } : {},
  };
}

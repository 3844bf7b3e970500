// The IPVS mode's own settings (upstream's --ipvs-* flags) and its render options, built
// from the settings every mode shares, this node's Node object and its interface addresses.
import { parseCIDR, type CIDR, type IPFamily } from '../ip.ts';
import { nodePortAddressesFor, nodePortIPsFor, renderOptionsFor, type ProxySettings } from '../options.ts';
import type { Node } from '../types.ts';
import { validForFamily } from './interface.ts';
import { DEFAULT_SCHEDULER } from './names.ts';
import type { IpvsRenderOptions } from './render.ts';

export interface IpvsSettings {
  /** --ipvs-scheduler. */
  scheduler: string;
  /** --ipvs-exclude-cidrs: virtual servers there are never deleted. */
  excludeCIDRs: string[];
  /** --ipvs-strict-arp: arp_ignore=1, arp_announce=2. */
  strictARP: boolean;
  /** --ipvs-tcp-timeout, --ipvs-tcpfin-timeout, --ipvs-udp-timeout in seconds; 0 leaves the kernel's. */
  tcpTimeoutSeconds: number;
  tcpFinTimeoutSeconds: number;
  udpTimeoutSeconds: number;
}

export const DEFAULT_IPVS_SETTINGS: IpvsSettings = {
  scheduler: DEFAULT_SCHEDULER,
  excludeCIDRs: [],
  strictARP: false,
  tcpTimeoutSeconds: 0,
  tcpFinTimeoutSeconds: 0,
  udpTimeoutSeconds: 0,
};

/** What is wrong with the settings, for a one-line error; null when they can work. */
export function validateIpvsSettings(s: IpvsSettings): string | null {
  // The kernel decides which schedulers exist (checked at start); a name is at most 15 characters.
  if (!/^[a-z0-9]{1,15}$/.test(s.scheduler)) return `--ipvs-scheduler ${JSON.stringify(s.scheduler)} is not a scheduler name (rr, wrr, lc, wlc, sh, mh, …)`;
  for (const c of s.excludeCIDRs) if (!parseCIDR(c)) return `--ipvs-exclude-cidrs ${JSON.stringify(c)} is not a CIDR`;
  for (const [flag, v] of [['--ipvs-tcp-timeout', s.tcpTimeoutSeconds], ['--ipvs-tcpfin-timeout', s.tcpFinTimeoutSeconds], ['--ipvs-udp-timeout', s.udpTimeoutSeconds]] as const) {
    if (!Number.isInteger(v) || v < 0) return `${flag} must be greater than or equal to 0`;
  }
  return null;
}

export function excludeCIDRsFor(s: IpvsSettings): CIDR[] {
  return s.excludeCIDRs.map((c) => parseCIDR(c)).filter((c): c is CIDR => c !== null);
}

/** The node's addresses as one sync sees them (upstream reads them from the interfaces). */
export interface NodeAddressView {
  /** Every interface's addresses but kube-ipvs0's. */
  others: string[];
  /** Every interface's addresses, kube-ipvs0's included (--nodeport-addresses selects among them). */
  all: string[];
}

export function ipvsRenderOptionsFor(s: ProxySettings, ipvs: IpvsSettings, node: Node | null | undefined, addresses: NodeAddressView, family: IPFamily = 'IPv4'): IpvsRenderOptions {
  const base = renderOptionsFor(s, node, family);
  const valid = (list: string[]) => [...new Set(list.map((a) => validForFamily(a, family)).filter((a): a is string => a !== null))].sort();
  const nodeAddresses = valid(addresses.others);
  const npa = nodePortAddressesFor(s, family, node);
  const nodePortIPs = npa.matchAll ? nodeAddresses : valid(nodePortIPsFor(npa, addresses.all) ?? []);
  return {
    ipFamily: family,
    nodeName: base.nodeName,
    nodeIP: base.nodeIP,
    masqueradeAll: base.masqueradeAll,
    masqueradeMark: base.masqueradeMark,
    localDetector: base.localDetector,
    hasRandomFully: base.hasRandomFully,
    topologyLabels: base.topologyLabels,
    scheduler: ipvs.scheduler,
    nodeAddresses,
    nodePortIPs,
  };
}


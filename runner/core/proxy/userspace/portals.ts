// The userspace proxier's "portal" rules (upstream openPortal/openNodePort) as one
// iptables-restore --noflush input: for each service address a rule that sends its
// traffic to the local port where the proxy listens for that service port. The proxy,
// not the kernel, then picks an endpoint and opens a second connection to it.
//
// From pods, REDIRECT (to the address of the interface the packet came in on, where a
// proxy bound to 0.0.0.0 listens); from the node itself, DNAT to the node's IP (upstream:
// REDIRECT of local traffic goes to 127.0.0.1, and replies from another address confuse
// UDP clients). With --bind-address set, both DNAT to that address.
import { joinHostPort, parseIP, familyOf } from '../ip.ts';
import { saveString } from '../chains.ts';
import type { ServicePortInfo } from '../service-port.ts';
import { KUBE_NODEPORT_CONTAINER, KUBE_NODEPORT_HOST, KUBE_NODEPORT_NON_LOCAL, KUBE_PORTALS_CONTAINER, KUBE_PORTALS_HOST, USERSPACE_FILTER_CHAINS, USERSPACE_NAT_CHAINS } from './chains.ts';

export interface PortalOptions {
  /** Where the proxy's sockets listen (--bind-address): 0.0.0.0 or :: for every address. */
  listenIP: string;
  /** The node's address that the node's own traffic is DNATed to when listenIP is unspecified. */
  hostIP: string;
  /** Service ports (keys) whose node port the proxy could not hold open: no node-port rules for them. */
  unheldNodePorts?: ReadonlySet<string>;
}

export interface PortalRenderResult {
  text: string;
  natRules: number;
  filterRules: number;
  /** Service ports that got no rules: not TCP or UDP, or no proxy port. */
  skipped: string[];
}

export function isUnspecified(ip: string): boolean {
  return ip === '' || ip === '0.0.0.0' || ip === '::';
}

function hostCIDR(ip: string): string {
  const parsed = parseIP(ip);
  return `${ip}/${parsed && familyOf(parsed) === 'IPv6' ? 128 : 32}`;
}

/** The matches every portal rule shares (upstream iptablesCommonPortalArgs), in the order iptables-save prints them. */
function commonArgs(sp: ServicePortInfo, destIP: string | null, physdevNotIn: boolean, dstLocal: boolean, destPort: number): string[] {
  const proto = sp.protocol.toLowerCase();
  return [
    ...(destIP !== null ? ['-d', hostCIDR(destIP)] : []),
    '-p', proto,
    '-m', 'comment', '--comment', saveString(sp.name),
    '-m', proto, '--dport', String(destPort),
    ...(physdevNotIn ? ['-m', 'physdev', '!', '--physdev-is-in'] : []),
    ...(dstLocal ? ['-m', 'addrtype', '--dst-type', 'LOCAL'] : []),
  ];
}

/** True for the protocols the userspace proxy can carry (upstream: TCP and UDP; SCTP never). */
export function proxiable(sp: ServicePortInfo): boolean {
  return sp.protocol === 'TCP' || sp.protocol === 'UDP';
}

/**
 * The portal rules for every service port that has a proxy port, in the given order
 * (deterministic for a deterministic order). Declaring the chains flushes them, so the
 * text replaces all of the mode's rules at once.
 */
export function renderPortals(servicePorts: readonly ServicePortInfo[], proxyPorts: ReadonlyMap<string, number>, o: PortalOptions): PortalRenderResult {
  const nat = new Map<string, string[]>(USERSPACE_NAT_CHAINS.map((c) => [c, []]));
  const filter: string[] = [];
  const skipped: string[] = [];
  const listenAny = isUnspecified(o.listenIP);
  for (const sp of servicePorts) {
    const proxyPort = proxyPorts.get(sp.key);
    if (!proxiable(sp) || proxyPort === undefined) {
      skipped.push(sp.key);
      continue;
    }
    const fromContainer = listenAny ? ['-j', 'REDIRECT', '--to-ports', String(proxyPort)] : ['-j', 'DNAT', '--to-destination', joinHostPort(o.listenIP, proxyPort)];
    const fromHost = ['-j', 'DNAT', '--to-destination', joinHostPort(listenAny ? o.hostIP : o.listenIP, proxyPort)];
    const add = (chain: string, args: string[]) => nat.get(chain)!.push(`-A ${chain} ${args.join(' ')}`);

    const portals = [
      { ip: sp.clusterIP, external: false },
      ...sp.externalIPs.map((ip) => ({ ip, external: true })),
      ...sp.loadBalancerVIPs.map((ip) => ({ ip, external: false })),
    ];
    for (const p of portals) {
      // An external IP may arrive over a bridge port from a pod: physdev keeps bridged
      // traffic out of the first rule, the second catches it (and the node's own) when the
      // address is local.
      add(KUBE_PORTALS_CONTAINER, [...commonArgs(sp, p.ip, p.external, false, sp.port), ...fromContainer]);
      if (p.external) {
        add(KUBE_PORTALS_CONTAINER, [...commonArgs(sp, p.ip, false, true, sp.port), ...fromContainer]);
        add(KUBE_PORTALS_HOST, [...commonArgs(sp, p.ip, false, true, sp.port), ...fromHost]);
      } else {
        add(KUBE_PORTALS_HOST, [...commonArgs(sp, p.ip, false, false, sp.port), ...fromHost]);
      }
    }
    if (sp.nodePort !== 0 && !o.unheldNodePorts?.has(sp.key)) {
      add(KUBE_NODEPORT_CONTAINER, [...commonArgs(sp, null, false, false, sp.nodePort), ...fromContainer]);
      add(KUBE_NODEPORT_HOST, [...commonArgs(sp, null, false, false, sp.nodePort), ...fromHost]);
      // After the REDIRECT the packet's destination port is the proxy port.
      filter.push(`-A ${KUBE_NODEPORT_NON_LOCAL} ${[...commonArgs(sp, null, false, false, proxyPort), '-m', 'state', '--state', 'NEW', '-j', 'ACCEPT'].join(' ')}`);
    }
  }
  const natRules = [...nat.values()].flat();
  const lines = [
    '*filter',
    ...USERSPACE_FILTER_CHAINS.map((c) => `:${c} - [0:0]`),
    ...filter,
    'COMMIT',
    '*nat',
    ...USERSPACE_NAT_CHAINS.map((c) => `:${c} - [0:0]`),
    ...natRules,
    'COMMIT',
  ];
  return { text: `${lines.join('\n')}\n`, natRules: natRules.length, filterRules: filter.length, skipped };
}

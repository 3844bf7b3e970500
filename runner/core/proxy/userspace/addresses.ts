// Where the userspace proxy listens and where the node's own traffic is sent (upstream
// NewCustomProxier: listenIP from --bind-address, refused when loopback; hostIP the
// listen address, else a host interface's address).
import { isLoopback, parseIP } from '../ip.ts';
import { primaryNodeIP, type ProxySettings } from '../options.ts';
import type { Node } from '../types.ts';
import { isUnspecified, type PortalOptions } from './portals.ts';

/** Why the proxy cannot listen at --bind-address, or null when it can. */
export function listenProblem(bindAddress: string): string | null {
  const ip = parseIP(bindAddress);
  if (ip && isLoopback(ip)) return `--bind-address ${bindAddress}: the userspace proxy cannot proxy on localhost (pods could not reach it); use 0.0.0.0 or a node address`;
  return null;
}

/**
 * The portal options for this node: listen where --bind-address says (every address when
 * unset); the node's own traffic goes to the Node object's IP, else the first
 * non-loopback address among `localAddresses`, else 127.0.0.1 (which cannot work, as
 * upstream notes: DNAT to loopback drops the packets).
 */
export function portalOptionsFor(settings: ProxySettings, node: Node | null | undefined, localAddresses: readonly string[]): PortalOptions {
  const listenIP = isUnspecified(settings.bindAddress) ? '0.0.0.0' : settings.bindAddress;
  let hostIP = isUnspecified(listenIP) ? primaryNodeIP('IPv4', node, '0.0.0.0') : listenIP;
  if (hostIP === '127.0.0.1') {
    const other = localAddresses.find((a) => {
      const ip = parseIP(a);
      return ip !== null && !a.includes(':') && !isLoopback(ip);
    });
    if (other) hostIP = other;
  }
  return { listenIP, hostIP };
}

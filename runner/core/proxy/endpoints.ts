// Endpoints of service ports, merged from EndpointSlices like upstream's EndpointSliceCache.
import { endpointChainName } from './chains.ts';
import { formatIP, joinHostPort, parseIP, type IPFamily } from './ip.ts';
import { intInRange, servicePortKey, servicePortNameString, type Protocol } from './service-port.ts';
import { LABEL_SERVICE_NAME, namespacedName, type EndpointSlice, type Warn } from './types.ts';

export interface EndpointInfo {
  ip: string;
  port: number;
  /** "ip:port" (IPv6 bracketed): upstream's Endpoint.String(). */
  endpoint: string;
  isLocal: boolean;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  zoneHints: string[];
  nodeHints: string[];
  /** KUBE-SEP-… chain of this endpoint for its service port. */
  chain: string;
}

/** Service port key (see servicePortKey) → endpoints sorted by "ip:port". */
export type EndpointsMap = Map<string, EndpointInfo[]>;

/** The Service ("namespace/name") a slice belongs to, or null when the slice cannot be used. */
export function sliceServiceName(slice: EndpointSlice): string | null {
  const svc = slice.metadata?.labels?.[LABEL_SERVICE_NAME];
  if (!svc || !slice.metadata?.namespace || !slice.metadata?.name) return null;
  return `${slice.metadata.namespace}/${svc}`;
}

/** The address type a proxier of this family reads; slices of other types are ignored. */
export function addressTypeFor(family: IPFamily): string {
  return family === 'IPv6' ? 'IPv6' : 'IPv4';
}

/**
 * Builds the endpoints of one Service from all of its slices (already filtered to the
 * family's address type). The same ip:port in several slices counts once; the copy on
 * this node wins.
 */
export function endpointsFromSlices(service: string, slices: EndpointSlice[], nodeName: string, warn: Warn): EndpointsMap {
  const byPort = new Map<string, Map<string, EndpointInfo>>();
  for (const slice of slices) {
    const sliceName = namespacedName(slice.metadata);
    for (const [pi, port] of (slice.ports ?? []).entries()) {
      if (port?.name === undefined || port?.name === null) {
        warn(`eps-portname:${sliceName}:${pi}`, `EndpointSlice ${sliceName}: ports[${pi}] has no name; ignoring the port`);
        continue;
      }
      const num = intInRange(port.port, 1, 65535);
      if (num === null) {
        warn(`eps-port:${sliceName}:${pi}`, `EndpointSlice ${sliceName}: ports[${pi}] has an invalid port ${JSON.stringify(port.port)}; ignoring the port`);
        continue;
      }
      const protocol = (port.protocol ?? 'TCP') as Protocol;
      const key = servicePortKey(service, port.name, protocol);
      const name = servicePortNameString(service, port.name);
      let set = byPort.get(key);
      if (!set) byPort.set(key, (set = new Map()));
      for (const [ei, ep] of (slice.endpoints ?? []).entries()) {
        const addr = ep?.addresses?.[0];
        if (addr === undefined) {
          warn(`eps-noaddr:${sliceName}:${ei}`, `EndpointSlice ${sliceName}: endpoints[${ei}] has no addresses; ignoring it`);
          continue;
        }
        const ip = typeof addr === 'string' ? parseIP(addr) : null;
        if (!ip) {
          warn(`eps-addr:${sliceName}:${String(addr)}`, `EndpointSlice ${sliceName}: endpoints[${ei}] address ${JSON.stringify(addr)} is not an IP address; ignoring it`);
          continue;
        }
        const isLocal = nodeName !== '' && ep.nodeName === nodeName;
        const c = ep.conditions ?? {};
        const ready = c.ready == null || c.ready === true;
        const serving = c.serving == null || c.serving === true;
        const terminating = c.terminating === true;
        const ipStr = formatIP(ip);
        const endpoint = joinHostPort(ipStr, num);
        if (set.has(endpoint) && !isLocal) continue;
        set.set(endpoint, {
          ip: ipStr,
          port: num,
          endpoint,
          isLocal,
          ready,
          serving,
          terminating,
          zoneHints: (ep.hints?.forZones ?? []).map((z) => z.name),
          nodeHints: (ep.hints?.forNodes ?? []).map((n) => n.name),
          chain: endpointChainName(name, protocol.toLowerCase(), endpoint),
        });
      }
    }
  }
  const out: EndpointsMap = new Map();
  for (const [key, set] of byPort) {
    if (set.size === 0) continue;
    out.set(key, [...set.values()].sort((a, b) => (a.endpoint < b.endpoint ? -1 : a.endpoint > b.endpoint ? 1 : 0)));
  }
  return out;
}

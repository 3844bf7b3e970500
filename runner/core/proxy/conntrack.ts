// Which UDP conntrack entries are stale (upstream conntrack.CleanStaleEntries): a flow to a
// service IP:port or NodePort whose reply comes from an endpoint that no longer serves it.
// Entries of services without any serving endpoint are kept.
import type { EndpointInfo } from './endpoints.ts';
import { joinHostPort } from './ip.ts';
import type { ServicePortInfo } from './service-port.ts';

export interface ConntrackEntry {
  protocol: string;
  origSrc: string;
  origDst: string;
  origSport: number;
  origDport: number;
  replySrc: string;
  replySport: number;
}

export type ConntrackFilter =
  | { kind: 'ip-port'; origDst: string; origDport: number; replySrc: string; replySport: number }
  | { kind: 'port'; origDport: number; replySrc: string; replySport: number };

export function staleUDPFilters(entries: ConntrackEntry[], servicePorts: ServicePortInfo[], endpointsFor: (key: string) => EndpointInfo[]): ConntrackFilter[] {
  const byServiceIP = new Map<string, Set<string>>();
  const byNodePort = new Map<number, Set<string>>();
  for (const sp of servicePorts) {
    if (sp.protocol !== 'UDP') continue;
    const serving = new Set(endpointsFor(sp.key).filter((e) => e.serving).map((e) => e.endpoint));
    if (serving.size === 0) continue;
    for (const ip of [sp.clusterIP, ...sp.loadBalancerVIPs, ...sp.externalIPs]) byServiceIP.set(joinHostPort(ip, sp.port), serving);
    if (sp.nodePort !== 0) byNodePort.set(sp.nodePort, serving);
  }
  const filters: ConntrackFilter[] = [];
  for (const e of entries) {
    if (e.protocol !== 'udp') continue;
    const reply = joinHostPort(e.replySrc, e.replySport);
    const svc = byServiceIP.get(joinHostPort(e.origDst, e.origDport));
    if (svc && !svc.has(reply)) filters.push({ kind: 'ip-port', origDst: e.origDst, origDport: e.origDport, replySrc: e.replySrc, replySport: e.replySport });
    const np = byNodePort.get(e.origDport);
    if (np && !np.has(reply)) filters.push({ kind: 'port', origDport: e.origDport, replySrc: e.replySrc, replySport: e.replySport });
  }
  return filters;
}

/** Parses `conntrack -L -p udp` lines ("udp 17 29 src=… dst=… sport=… dport=… [UNREPLIED] src=… …"). */
export function parseConntrackList(text: string): ConntrackEntry[] {
  const out: ConntrackEntry[] = [];
  for (const line of text.split('\n')) {
    const words = line.trim().split(/\s+/);
    const protocol = words[0] === 'ipv4' || words[0] === 'ipv6' ? words[2] : words[0];
    const kv = (key: string, nth: number) => words.filter((w) => w.startsWith(`${key}=`))[nth]?.slice(key.length + 1);
    const origSrc = kv('src', 0);
    const origDst = kv('dst', 0);
    const replySrc = kv('src', 1);
    if (!protocol || !origSrc || !origDst || !replySrc) continue;
    out.push({ protocol, origSrc, origDst, origSport: Number(kv('sport', 0)), origDport: Number(kv('dport', 0)), replySrc, replySport: Number(kv('sport', 1)) });
  }
  return out;
}

// Which node answers ARP for which LoadBalancer address. Every controller pod computes the
// same answer from the same objects (as MetalLB's layer-2 speakers do), so no coordination
// is needed: for each address, the eligible nodes are sorted by sha256(node + "#" + ip) and
// the first one announces it. Eligible: a node whose controller pod is ready and, for
// externalTrafficPolicy: Local, that has a ready endpoint of the Service (another node
// would drop the traffic).
import { sha256, utf8 } from '../proxy/sha256.ts';
import { isServed, statusPoolIPs } from './allocate.ts';
import { ipv4ToInt, type Pool } from './pool.ts';

/** The parts of a discovery/v1 EndpointSlice read here. */
export interface SliceLike {
  metadata?: { namespace?: string; labels?: Record<string, string> | null } | null;
  endpoints?: { nodeName?: string | null; conditions?: { ready?: boolean | null } | null }[] | null;
}

/** The parts of a v1 Pod (a controller pod) read here. */
export interface PodLike {
  metadata?: { deletionTimestamp?: unknown } | null;
  spec?: { nodeName?: string | null } | null;
  status?: { phase?: string | null; conditions?: { type?: string; status?: string }[] | null } | null;
}

export interface Announcement {
  ip: string;
  /** namespace/name of the Service. */
  service: string;
  /** The node that answers for the address; undefined when no node may. */
  node?: string;
  /** Why no node announces it. */
  reason?: string;
}

/** Nodes whose controller pod is running, ready and not being deleted, sorted. */
export function readyNodes(pods: readonly unknown[]): string[] {
  const out = new Set<string>();
  for (const o of pods) {
    if (!o || typeof o !== 'object') continue;
    const p = o as PodLike;
    const node = p.spec?.nodeName;
    if (typeof node !== 'string' || !node || p.metadata?.deletionTimestamp) continue;
    if (p.status?.phase !== 'Running') continue;
    const conds = Array.isArray(p.status.conditions) ? p.status.conditions : [];
    if (!conds.some((c) => c?.type === 'Ready' && c.status === 'True')) continue;
    out.add(node);
  }
  return [...out].sort();
}

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

/** The candidates in announcing order for one address (MetalLB's layer-2 ordering). */
export function announceOrder(ip: string, candidates: readonly string[]): string[] {
  const keyed = candidates.map((n) => ({ n, h: hex(sha256(utf8(`${n}#${ip}`))) }));
  keyed.sort((a, b) => (a.h < b.h ? -1 : a.h > b.h ? 1 : a.n < b.n ? -1 : 1));
  return keyed.map((k) => k.n);
}

/** Nodes with a ready endpoint of namespace/name, from its EndpointSlices. */
function nodesWithEndpoints(slices: readonly unknown[], namespace: string, name: string): Set<string> {
  const out = new Set<string>();
  for (const o of slices) {
    if (!o || typeof o !== 'object') continue;
    const s = o as SliceLike;
    if (s.metadata?.namespace !== namespace || s.metadata?.labels?.['kubernetes.io/service-name'] !== name) continue;
    for (const ep of Array.isArray(s.endpoints) ? s.endpoints : []) {
      // An unset ready condition means "unknown", which consumers treat as ready.
      if (!ep || typeof ep.nodeName !== 'string' || ep.conditions?.ready === false) continue;
      out.add(ep.nodeName);
    }
  }
  return out;
}

/** Who announces each pool address that a Service svclab serves shows in its status. */
export function planAnnouncements(services: readonly unknown[], slices: readonly unknown[], speakers: readonly string[], pool: Pool, className?: string): Announcement[] {
  const out: Announcement[] = [];
  const done = new Set<string>();
  for (const o of services) {
    if (!isServed(o, className)) continue;
    const svc = o as { metadata: { namespace: string; name: string }; spec?: { externalTrafficPolicy?: string | null } | null };
    const key = `${svc.metadata.namespace}/${svc.metadata.name}`;
    const local = svc.spec?.externalTrafficPolicy === 'Local';
    const withEndpoints = local ? nodesWithEndpoints(slices, svc.metadata.namespace, svc.metadata.name) : undefined;
    const eligible = withEndpoints ? speakers.filter((n) => withEndpoints.has(n)) : [...speakers];
    for (const ip of statusPoolIPs(o, pool)) {
      if (done.has(ip)) continue;
      done.add(ip);
      const node = announceOrder(ip, eligible)[0];
      if (node) out.push({ ip, service: key, node });
      else out.push({ ip, service: key, reason: local ? 'externalTrafficPolicy is Local and no node with a ready controller pod has a ready endpoint' : 'no node has a ready controller pod' });
    }
  }
  return out.sort((a, b) => ipv4ToInt(a.ip)! - ipv4ToInt(b.ip)!);
}

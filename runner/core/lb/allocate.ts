// Which LoadBalancer Service gets which address: pure decisions over the Services the
// controller sees. The input is whatever the API server (or a broken test fixture) sends,
// so every field is read defensively: a malformed object is skipped, never fatal.
import { formatPool, inPool, intToIPv4, ipv4ToInt, poolSize, type Pool } from './pool.ts';

/** svclab's loadBalancerClass: Services with it, or with none, are svclab's to serve. */
export const LB_CLASS = 'svclab.io/lb';

export interface IngressLike {
  ip?: string | null;
  hostname?: string | null;
  ipMode?: string | null;
}

/** The parts of a v1 Service the controller reads. */
export interface ServiceLike {
  metadata?: { name?: string; namespace?: string; uid?: string; creationTimestamp?: string | Date | null } | null;
  spec?: { type?: string | null; loadBalancerClass?: string | null; loadBalancerIP?: string | null; ipFamilies?: string[] | null; externalTrafficPolicy?: string | null } | null;
  status?: { loadBalancer?: { ingress?: IngressLike[] | null } | null } | null;
}

/** The ingress the controller writes: the address, handled by kube-proxy as a virtual IP. */
export interface Ingress {
  ip: string;
  ipMode: 'VIP';
}

export interface ServiceRef {
  namespace: string;
  name: string;
  uid: string;
}

/** A status.loadBalancer to write: one ingress, or none (releasing the address). */
export interface StatusChange extends ServiceRef {
  ingress: Ingress[];
}

/** What became of one Service svclab serves: an address, or why it has none. */
export interface Outcome extends ServiceRef {
  ip?: string;
  problem?: string;
}

export interface AllocationPlan {
  /** One per Service of type LoadBalancer that is svclab's, in namespace/name order. */
  outcomes: Outcome[];
  /** Status writes needed to reach the plan. */
  changes: StatusChange[];
  /** Addresses of the pool in use: by svclab's Services, and by other controllers' (left alone). */
  inUse: Map<string, string>;
}

export interface PlanOptions {
  className?: string;
  /**
   * The address last written per Service uid (null: cleared) that the watch may not show
   * yet; it stands in for the status, so a quick second pass neither repeats the write nor
   * hands the address to someone else.
   */
  written?: ReadonlyMap<string, string | null>;
}

interface Svc extends ServiceRef {
  key: string;
  created: number;
  type: string;
  cls: string | null;
  requested: string;
  ipFamilies: unknown;
  statusIPs: number[];
  statusIngress: unknown[];
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

function read(obj: unknown): Svc | null {
  if (!obj || typeof obj !== 'object') return null;
  const o = obj as ServiceLike;
  const md = o.metadata && typeof o.metadata === 'object' ? o.metadata : null;
  const name = str(md?.name);
  const namespace = str(md?.namespace);
  if (!name || !namespace) return null;
  const spec = o.spec && typeof o.spec === 'object' ? o.spec : {};
  const ts = md?.creationTimestamp;
  const created = ts instanceof Date ? ts.getTime() : typeof ts === 'string' ? Date.parse(ts) : NaN;
  const lb = o.status && typeof o.status === 'object' && o.status.loadBalancer && typeof o.status.loadBalancer === 'object' ? o.status.loadBalancer : null;
  const statusIngress: unknown[] = Array.isArray(lb?.ingress) ? lb.ingress : [];
  const statusIPs = statusIngress.map((i) => (i && typeof i === 'object' ? ipv4ToInt((i as IngressLike).ip) : null)).filter((n): n is number => n !== null);
  return {
    key: `${namespace}/${name}`,
    namespace,
    name,
    uid: str(md?.uid) ?? '',
    created: Number.isFinite(created) ? created : Number.MAX_SAFE_INTEGER,
    type: str(spec.type) ?? 'ClusterIP',
    cls: str(spec.loadBalancerClass),
    requested: (str(spec.loadBalancerIP) ?? '').trim(),
    ipFamilies: spec.ipFamilies,
    statusIPs,
    statusIngress,
  };
}

/** True for a Service of type LoadBalancer with no loadBalancerClass or with svclab's. */
export function isServed(obj: unknown, className = LB_CLASS): boolean {
  const s = read(obj);
  return !!s && s.type === 'LoadBalancer' && (s.cls === null || s.cls === '' || s.cls === className);
}

/** The pool addresses a Service's status shows (IPv4, inside the pool), in order. */
export function statusPoolIPs(obj: unknown, pool: Pool): string[] {
  const s = read(obj);
  return s ? s.statusIPs.filter((ip) => inPool(pool, ip)).map(intToIPv4) : [];
}

/** True when the status is exactly the ingress the controller would write. */
function statusIs(s: Svc, ip: number | null): boolean {
  if (ip === null) return s.statusIngress.length === 0;
  if (s.statusIngress.length !== 1) return false;
  const ing = s.statusIngress[0] as IngressLike | null;
  if (!ing || typeof ing !== 'object') return false;
  return ipv4ToInt(ing.ip) === ip && !ing.hostname && (ing.ipMode === undefined || ing.ipMode === null || ing.ipMode === 'VIP');
}

const byAge = (a: Svc, b: Svc) => a.created - b.created || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

/**
 * Assigns pool addresses to the LoadBalancer Services svclab serves:
 *
 * 1. addresses other controllers' Services show are taken (their Services are left alone);
 * 2. a Service keeps the address its status already shows (this is how a restarted
 *    controller rebuilds its allocation), oldest Service first when two claim one;
 * 3. `spec.loadBalancerIP` is honoured when it is in the pool and free;
 * 4. every other Service gets the lowest free address.
 *
 * A Service that is no longer served (deleted, another type) simply drops out, so its
 * address is free again; a non-LoadBalancer Service still showing a pool address has its
 * status cleared, as the upstream service controller does.
 */
export function planAllocations(services: readonly unknown[], pool: Pool, opts: PlanOptions = {}): AllocationPlan {
  const className = opts.className ?? LB_CLASS;
  const written = opts.written ?? new Map<string, string | null>();
  const all: Svc[] = [];
  const seen = new Set<string>();
  for (const o of services) {
    const s = read(o);
    if (!s || seen.has(s.key)) continue;
    seen.add(s.key);
    all.push(s);
  }
  all.sort(byAge);

  const inUse = new Map<string, string>();
  const owner = new Map<number, string>();
  const take = (ip: number, key: string) => {
    owner.set(ip, key);
    inUse.set(intToIPv4(ip), key);
  };
  const served: Svc[] = [];
  const stale: Svc[] = [];
  for (const s of all) {
    if (s.type === 'LoadBalancer' && (s.cls === null || s.cls === '' || s.cls === className)) served.push(s);
    else if (s.type === 'LoadBalancer') {
      for (const ip of s.statusIPs) if (inPool(pool, ip) && !owner.has(ip)) take(ip, s.key);
    } else if (s.statusIPs.some((ip) => inPool(pool, ip))) stale.push(s);
  }

  const current = (s: Svc): number | null => {
    if (s.uid && written.has(s.uid)) return ipv4ToInt(written.get(s.uid));
    return s.statusIPs.find((ip) => inPool(pool, ip)) ?? null;
  };
  const assigned = new Map<string, number>();
  const problems = new Map<string, string>();
  const wanted = new Map<string, number>();
  for (const s of served) {
    if (!s.requested) continue;
    const ip = ipv4ToInt(s.requested);
    if (ip === null) problems.set(s.key, `spec.loadBalancerIP "${s.requested}" is not an IPv4 address: set an address from svclab's pool ${formatPool(pool)}, or remove the field`);
    else if (!inPool(pool, ip)) problems.set(s.key, `spec.loadBalancerIP ${intToIPv4(ip)} is outside svclab's address pool ${formatPool(pool)}: choose an address inside it, or remove the field`);
    else wanted.set(s.key, ip);
  }
  for (const s of served) {
    if (problems.has(s.key)) continue;
    if (Array.isArray(s.ipFamilies) && s.ipFamilies.length > 0 && !s.ipFamilies.includes('IPv4')) {
      problems.set(s.key, `svclab's address pool ${formatPool(pool)} is IPv4 only, and this Service's ipFamilies has no IPv4`);
    }
  }

  // 2. Keep what the status shows, unless loadBalancerIP asks for another address.
  for (const s of served) {
    if (problems.has(s.key)) continue;
    const cur = current(s);
    if (cur === null || owner.has(cur)) continue;
    const want = wanted.get(s.key);
    if (want !== undefined && want !== cur) continue;
    take(cur, s.key);
    assigned.set(s.key, cur);
  }
  // 3. Requested addresses.
  for (const s of served) {
    if (problems.has(s.key) || assigned.has(s.key)) continue;
    const want = wanted.get(s.key);
    if (want === undefined) continue;
    const holder = owner.get(want);
    if (holder !== undefined) {
      problems.set(s.key, `spec.loadBalancerIP ${intToIPv4(want)} is already used by Service ${holder}: choose another address of ${formatPool(pool)}, or remove the field`);
      continue;
    }
    take(want, s.key);
    assigned.set(s.key, want);
  }
  // 4. The lowest free address for the rest.
  let next = pool.first;
  for (const s of served) {
    if (problems.has(s.key) || assigned.has(s.key)) continue;
    while (next <= pool.last && owner.has(next)) next++;
    if (next > pool.last) {
      problems.set(s.key, `no free address left in svclab's pool ${formatPool(pool)} (all ${poolSize(pool)} are in use): delete a LoadBalancer Service you no longer need`);
      continue;
    }
    take(next, s.key);
    assigned.set(s.key, next);
  }

  const outcomes: Outcome[] = [];
  const changes: StatusChange[] = [];
  const shown = (s: Svc, ip: number | null): boolean => {
    if (s.uid && written.has(s.uid)) return ipv4ToInt(written.get(s.uid)) === ip;
    return statusIs(s, ip);
  };
  for (const s of [...served].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
    const ref = { namespace: s.namespace, name: s.name, uid: s.uid };
    const ip = assigned.get(s.key) ?? null;
    outcomes.push(ip !== null ? { ...ref, ip: intToIPv4(ip) } : { ...ref, problem: problems.get(s.key)! });
    if (!shown(s, ip)) changes.push({ ...ref, ingress: ip !== null ? [{ ip: intToIPv4(ip), ipMode: 'VIP' }] : [] });
  }
  for (const s of stale) {
    if (s.uid && written.get(s.uid) === null) continue;
    changes.push({ namespace: s.namespace, name: s.name, uid: s.uid, ingress: [] });
  }
  return { outcomes, changes, inUse };
}

/**
 * The writes the watch now shows (or that are older than `maxAgeMs`) no longer need to
 * stand in for the status: drops them from `written`, returning what is left.
 */
export function settleWritten(services: readonly unknown[], written: ReadonlyMap<string, { ip: string | null; at: number }>, now: number, maxAgeMs = 10_000): Map<string, { ip: string | null; at: number }> {
  const byUid = new Map<string, Svc>();
  for (const o of services) {
    const s = read(o);
    if (s?.uid) byUid.set(s.uid, s);
  }
  const out = new Map<string, { ip: string | null; at: number }>();
  for (const [uid, w] of written) {
    const s = byUid.get(uid);
    if (!s || now - w.at > maxAgeMs) continue;
    const ip = ipv4ToInt(w.ip);
    const reflected = ip === null ? s.statusIPs.length === 0 : s.statusIPs.includes(ip);
    if (!reflected) out.set(uid, w);
  }
  return out;
}

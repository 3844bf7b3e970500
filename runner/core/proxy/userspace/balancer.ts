// The userspace proxy's load balancer (upstream LoadBalancerRR, pkg/proxy/userspace/
// roundrobin.go): each new connection of a service port takes the next endpoint in turn;
// with ClientIP session affinity, a client IP keeps its endpoint while it comes back
// within the affinity timeout (each use restarts the timeout). A new endpoint list is
// shuffled once, so that the proxies on different nodes do not all start with the same
// endpoint, and the turn restarts at its beginning.

export interface Affinity {
  clientIP: boolean;
  /** sessionAffinityConfig.clientIP.timeoutSeconds; 0 means upstream's default (10800). */
  timeoutSeconds: number;
}

export const DEFAULT_AFFINITY_TIMEOUT_SECONDS = 10800;

interface Sticky {
  endpoint: string;
  lastUsedMs: number;
}

interface ServiceState {
  endpoints: string[];
  index: number;
  affinity: Affinity;
  sticky: Map<string, Sticky>;
}

export interface BalancerDeps {
  /** Milliseconds, for the affinity timeout. */
  now: () => number;
  /** In [0, 1), for the shuffle. */
  random: () => number;
}

export class RoundRobinBalancer {
  private readonly services = new Map<string, ServiceState>();
  private readonly deps: BalancerDeps;

  constructor(deps: Partial<BalancerDeps> = {}) {
    this.deps = { now: deps.now ?? Date.now, random: deps.random ?? Math.random };
  }

  private ensure(key: string): ServiceState {
    let s = this.services.get(key);
    if (!s) this.services.set(key, (s = { endpoints: [], index: 0, affinity: { clientIP: false, timeoutSeconds: DEFAULT_AFFINITY_TIMEOUT_SECONDS }, sticky: new Map() }));
    return s;
  }

  /** Adds a service port or changes its affinity (upstream NewService). */
  setService(key: string, affinity: Affinity): void {
    const s = this.ensure(key);
    s.affinity = { clientIP: affinity.clientIP, timeoutSeconds: affinity.timeoutSeconds > 0 ? affinity.timeoutSeconds : DEFAULT_AFFINITY_TIMEOUT_SECONDS };
    if (!affinity.clientIP) s.sticky.clear();
  }

  deleteService(key: string): void {
    this.services.delete(key);
  }

  hasService(key: string): boolean {
    return this.services.has(key);
  }

  /**
   * Sets the endpoints ("ip:port") of a service port. Returns the endpoints that went
   * away, or null when the set is unchanged (then the turn and the affinities stay as they are).
   */
  setEndpoints(key: string, endpoints: readonly string[]): string[] | null {
    const s = this.ensure(key);
    const next = new Set(endpoints);
    if (next.size === s.endpoints.length && s.endpoints.every((e) => next.has(e))) return null;
    const gone = s.endpoints.filter((e) => !next.has(e));
    if (next.size === 0) {
      s.sticky.clear();
    } else {
      for (const [ip, st] of s.sticky) if (!next.has(st.endpoint)) s.sticky.delete(ip);
    }
    s.endpoints = this.shuffle([...next]);
    s.index = 0;
    return gone;
  }

  endpoints(key: string): readonly string[] {
    return this.services.get(key)?.endpoints ?? [];
  }

  /**
   * The endpoint for a new connection from clientIP, or null when the service port has
   * none. `resetAffinity`: the client's endpoint just failed, take the next one in turn
   * (and stick to that one instead).
   */
  next(key: string, clientIP: string, resetAffinity = false): string | null {
    const s = this.services.get(key);
    if (!s || s.endpoints.length === 0) return null;
    const now = this.deps.now();
    if (s.affinity.clientIP && !resetAffinity) {
      const st = s.sticky.get(clientIP);
      if (st && this.fresh(s, st, now)) {
        st.lastUsedMs = now;
        return st.endpoint;
      }
    }
    const endpoint = s.endpoints[s.index]!;
    s.index = (s.index + 1) % s.endpoints.length;
    if (s.affinity.clientIP) s.sticky.set(clientIP, { endpoint, lastUsedMs: now });
    return endpoint;
  }

  /** Forgets the affinities that timed out (upstream CleanupStaleStickySessions, run after every sync). */
  cleanupStaleStickySessions(): void {
    const now = this.deps.now();
    for (const s of this.services.values()) {
      for (const [ip, st] of s.sticky) if (!this.fresh(s, st, now)) s.sticky.delete(ip);
    }
  }

  /** The client IPs that currently stick to an endpoint, for a service port. */
  stickyClients(key: string): Map<string, string> {
    return new Map([...(this.services.get(key)?.sticky ?? [])].map(([ip, st]) => [ip, st.endpoint]));
  }

  // Upstream: int(time.Since(lastUsed).Seconds()) < ttlSeconds, i.e. less than the timeout has passed.
  private fresh(s: ServiceState, st: Sticky, now: number): boolean {
    return now - st.lastUsedMs < s.affinity.timeoutSeconds * 1000;
  }

  private shuffle(xs: string[]): string[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = Math.floor(this.deps.random() * (i + 1));
      [xs[i], xs[j]] = [xs[j]!, xs[i]!];
    }
    return xs;
  }
}

// What the DNS server knows about the cluster, indexed the way CoreDNS's controller
// indexes it: services by "<name>.<namespace>" and by ClusterIP, endpoints by service and
// by IP, namespaces, and (for `pods verified`) running pods by IP.
import {
  podIP,
  toDnsEndpoints,
  toDnsService,
  type DnsEndpoints,
  type DnsService,
  type EndpointSliceLike,
  type PodLike,
  type ServiceLike,
} from './model.ts';

export type Kind = 'Service' | 'EndpointSlice' | 'Namespace' | 'Pod';

export class ClusterIndex {
  private services = new Map<string, DnsService>();
  private slices = new Map<string, DnsEndpoints>();
  private namespaces = new Set<string>();
  private pods = new Map<string, { namespace: string; ip: string }>();
  private derived?: {
    epByIndex: Map<string, DnsEndpoints[]>;
    svcByIP: Map<string, DnsService[]>;
    epByIP: Map<string, DnsEndpoints[]>;
    podsByIP: Map<string, string[]>;
  };
  /** Unix seconds of the last Service or EndpointSlice change: the SOA serial. */
  serial: number;
  /** Bumped on every change; answers cached with an older generation are stale. */
  generation = 0;
  /** The generation of the last change in each namespace (its Services, EndpointSlices, Pods, or the Namespace itself). */
  private nsChanged = new Map<string, number>();
  /** The generation of the last replaceAll: every namespace changed then. */
  private allChanged = 0;
  /** False until the first full list of every watched kind has arrived. */
  synced = false;

  constructor(private readonly now: () => number = () => Date.now()) {
    this.serial = Math.floor(now() / 1000);
  }

  private changed(dnsData: boolean, namespace?: string): void {
    this.derived = undefined;
    this.generation++;
    if (namespace !== undefined) this.nsChanged.set(namespace, this.generation);
    if (dnsData) this.serial = Math.floor(this.now() / 1000);
  }

  /**
   * The generation of the last change that can alter answers for names in this namespace
   * (<x>.<namespace>.svc|pod.<zone>): an answer kept at this value stays right while it is
   * unchanged, whatever happens in other namespaces.
   */
  namespaceGeneration(namespace: string): number {
    return Math.max(this.nsChanged.get(namespace) ?? 0, this.allChanged);
  }

  upsert(kind: Kind, o: unknown): void {
    const meta = (o as { metadata?: { name?: string; namespace?: string } }).metadata;
    switch (kind) {
      case 'Service': {
        const s = toDnsService(o as ServiceLike);
        if (s) this.services.set(`${s.name}.${s.namespace}`, s);
        break;
      }
      case 'EndpointSlice': {
        const e = toDnsEndpoints(o as EndpointSliceLike);
        const key = `${meta?.namespace ?? 'default'}/${meta?.name ?? ''}`;
        if (e) this.slices.set(key, e);
        else this.slices.delete(key);
        break;
      }
      case 'Namespace':
        if (meta?.name) this.namespaces.add(meta.name);
        break;
      case 'Pod': {
        const key = `${meta?.namespace ?? 'default'}/${meta?.name ?? ''}`;
        const p = podIP(o as PodLike);
        if (p) this.pods.set(key, p);
        else this.pods.delete(key);
        break;
      }
    }
    this.changed(kind === 'Service' || kind === 'EndpointSlice', kind === 'Namespace' ? (meta?.name ?? '') : (meta?.namespace ?? 'default'));
  }

  delete(kind: Kind, o: unknown): void {
    const meta = (o as { metadata?: { name?: string; namespace?: string } }).metadata;
    const ns = meta?.namespace ?? 'default';
    const name = meta?.name ?? '';
    if (kind === 'Service') this.services.delete(`${name}.${ns}`);
    else if (kind === 'EndpointSlice') this.slices.delete(`${ns}/${name}`);
    else if (kind === 'Namespace') this.namespaces.delete(name);
    else this.pods.delete(`${ns}/${name}`);
    this.changed(kind === 'Service' || kind === 'EndpointSlice', kind === 'Namespace' ? name : ns);
  }

  /** Replaces everything (a state file was read again). */
  replaceAll(objects: { kind?: string }[]): void {
    this.services.clear();
    this.slices.clear();
    this.namespaces.clear();
    this.pods.clear();
    for (const o of objects) {
      if (o.kind === 'Service' || o.kind === 'EndpointSlice' || o.kind === 'Namespace' || o.kind === 'Pod') this.upsert(o.kind, o);
    }
    this.nsChanged.clear();
    this.changed(true);
    this.allChanged = this.generation;
  }

  private index() {
    if (this.derived) return this.derived;
    const epByIndex = new Map<string, DnsEndpoints[]>();
    const epByIP = new Map<string, DnsEndpoints[]>();
    for (const e of this.slices.values()) {
      push(epByIndex, e.index, e);
      for (const a of new Set(e.addresses.map((x) => x.ip))) push(epByIP, a, e);
    }
    const svcByIP = new Map<string, DnsService[]>();
    for (const s of this.services.values()) for (const ip of s.clusterIPs) if (ip && ip !== 'None') push(svcByIP, ip, s);
    const podsByIP = new Map<string, string[]>();
    for (const p of this.pods.values()) push(podsByIP, p.ip, p.namespace);
    this.derived = { epByIndex, svcByIP, epByIP, podsByIP };
    return this.derived;
  }

  /** The service "<name>.<namespace>" (lower-cased by the caller). */
  service(name: string, namespace: string): DnsService | undefined {
    return this.services.get(`${name}.${namespace}`);
  }

  /** Every EndpointSlice of the service "<name>.<namespace>". */
  endpoints(index: string): DnsEndpoints[] {
    return this.index().epByIndex.get(index) ?? [];
  }

  servicesByClusterIP(ip: string): DnsService[] {
    return this.index().svcByIP.get(ip) ?? [];
  }

  endpointsByIP(ip: string): DnsEndpoints[] {
    return this.index().epByIP.get(ip) ?? [];
  }

  namespaceExists(ns: string): boolean {
    return this.namespaces.has(ns);
  }

  /** Namespaces of running pods with this IP. */
  podNamespaces(ip: string): string[] {
    return this.index().podsByIP.get(ip) ?? [];
  }

  get counts(): { services: number; endpointSlices: number; namespaces: number; pods: number } {
    return { services: this.services.size, endpointSlices: this.slices.size, namespaces: this.namespaces.size, pods: this.pods.size };
  }
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}

// Change tracking between syncs, like upstream's ServiceChangeTracker and
// EndpointsChangeTracker: each Service keeps the state from before the first change since
// the last sync and the state now; changes that cancel out are dropped.
import { addressTypeFor, endpointsFromSlices, sliceServiceName, type EndpointInfo, type EndpointsMap } from './endpoints.ts';
import type { IPFamily } from './ip.ts';
import { servicePortsFromService, type ServicePortInfo } from './service-port.ts';
import { isIgnoredByLabels, namespacedName, type EndpointSlice, type Service, type Warn } from './types.ts';

/** JSON with sorted object keys, so equal objects compare equal whatever their key order. */
export function stableStringify(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) => {
    if (val && typeof val === 'object' && !Array.isArray(val) && !(val instanceof Date)) {
      return Object.fromEntries(Object.entries(val as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return val;
  });
}

export interface UpdateResult {
  /** Services ("namespace/name") whose Service or endpoints changed since the last update. */
  updatedServices: Set<string>;
  /** A UDP service port's endpoints changed: stale conntrack entries may need deleting. */
  conntrackCleanupRequired: boolean;
  /** EndpointSlice last-change-trigger-time annotations (ms since epoch) of changed slices, per Service. */
  lastChangeTriggerTimes: Map<string, number[]>;
}

interface SliceData {
  slice: EndpointSlice;
  remove: boolean;
  json: string;
}

const TRIGGER_TIME = 'endpoints.kubernetes.io/last-change-trigger-time';

export class ProxyState {
  private readonly ports = new Map<string, ServicePortInfo>();
  private readonly endpoints: EndpointsMap = new Map();
  private readonly serviceChanges = new Map<string, { previous: ServicePortInfo[]; current: ServicePortInfo[] }>();
  private readonly applied = new Map<string, Map<string, SliceData>>();
  private readonly pending = new Map<string, Map<string, SliceData>>();
  private triggerTimes = new Map<string, number[]>();
  private readonly startedAt: number;

  constructor(
    readonly family: IPFamily,
    readonly nodeName: string,
    private readonly warn: Warn,
    now = Date.now(),
  ) {
    this.startedAt = now;
  }

  private portsOf(svc: Service | null): ServicePortInfo[] {
    if (!svc || isIgnoredByLabels(svc.metadata)) return [];
    return servicePortsFromService(svc, this.family, this.warn);
  }

  /** Records a Service add (previous null), update, or delete (current null). True if changes are pending. */
  onService(previous: Service | null, current: Service | null): boolean {
    const svc = current ?? previous;
    if (!svc) return false;
    const nn = namespacedName(svc.metadata);
    let change = this.serviceChanges.get(nn);
    if (!change) {
      change = { previous: this.portsOf(previous), current: [] };
      this.serviceChanges.set(nn, change);
    }
    change.current = this.portsOf(current);
    if (stableStringify(change.previous) === stableStringify(change.current)) this.serviceChanges.delete(nn);
    return this.serviceChanges.size > 0;
  }

  get pendingServiceChanges(): number {
    return this.serviceChanges.size;
  }

  get pendingEndpointChanges(): number {
    let n = 0;
    for (const p of this.pending.values()) n += p.size;
    return n;
  }

  /** Records an EndpointSlice add/update (remove=false) or delete. True if this changed anything. */
  onEndpointSlice(slice: EndpointSlice, remove: boolean): boolean {
    if (isIgnoredByLabels(slice.metadata)) return false;
    if (slice.addressType !== addressTypeFor(this.family)) {
      if (slice.addressType !== 'IPv4' && slice.addressType !== 'IPv6') {
        this.warn(`eps-type:${namespacedName(slice.metadata)}:${String(slice.addressType)}`, `EndpointSlice ${namespacedName(slice.metadata)}: unsupported addressType ${JSON.stringify(slice.addressType)}; ignoring the slice`);
      }
      return false;
    }
    const nn = sliceServiceName(slice);
    if (!nn) {
      this.warn(`eps-keys:${namespacedName(slice.metadata)}`, `EndpointSlice ${namespacedName(slice.metadata)} has no kubernetes.io/service-name label; ignoring it`);
      return false;
    }
    const sliceName = slice.metadata!.name!;
    const data: SliceData = { slice, remove, json: stableStringify(slice) };
    const same = (d: SliceData | undefined) => d !== undefined && d.remove === data.remove && d.json === data.json;
    const pend = this.pending.get(nn)?.get(sliceName);
    const appl = this.applied.get(nn)?.get(sliceName);
    let changed: boolean;
    if (pend) changed = !same(pend);
    else if (appl) changed = !same(appl);
    else changed = !remove;
    if (!changed) return false;
    let p = this.pending.get(nn);
    if (!p) this.pending.set(nn, (p = new Map()));
    p.set(sliceName, data);
    if (remove) this.triggerTimes.delete(nn);
    else {
      const t = Date.parse(slice.metadata?.annotations?.[TRIGGER_TIME] ?? '');
      if (!Number.isNaN(t) && t > this.startedAt) this.triggerTimes.set(nn, [...(this.triggerTimes.get(nn) ?? []), t]);
    }
    return true;
  }

  private endpointsOf(nn: string): EndpointsMap {
    const slices = [...(this.applied.get(nn)?.values() ?? [])].map((d) => d.slice);
    return endpointsFromSlices(nn, slices, this.nodeName, this.warn);
  }

  /** Applies pending changes (upstream: ServicePortMap.Update + EndpointsMap.Update). */
  update(): UpdateResult {
    const updatedServices = new Set<string>();
    for (const [nn, change] of this.serviceChanges) {
      updatedServices.add(nn);
      for (const sp of change.current) this.ports.set(sp.key, sp);
      const currentKeys = new Set(change.current.map((sp) => sp.key));
      for (const sp of change.previous) if (!currentKeys.has(sp.key)) this.ports.delete(sp.key);
    }
    this.serviceChanges.clear();

    let conntrackCleanupRequired = false;
    for (const [nn, pend] of this.pending) {
      const previous = this.endpointsOf(nn);
      let applied = this.applied.get(nn);
      if (!applied) this.applied.set(nn, (applied = new Map()));
      for (const [name, d] of pend) {
        if (d.remove) applied.delete(name);
        else applied.set(name, d);
      }
      if (applied.size === 0) this.applied.delete(nn);
      const current = this.endpointsOf(nn);
      updatedServices.add(nn);
      for (const key of previous.keys()) this.endpoints.delete(key);
      for (const [key, eps] of current) this.endpoints.set(key, eps);
      if ([...previous.keys(), ...current.keys()].some((k) => k.endsWith('/UDP'))) conntrackCleanupRequired = true;
    }
    this.pending.clear();
    const lastChangeTriggerTimes = this.triggerTimes;
    this.triggerTimes = new Map();
    return { updatedServices, conntrackCleanupRequired, lastChangeTriggerTimes };
  }

  /** All service ports, sorted by name and protocol (upstream iterates a map; order does not matter). */
  servicePorts(): ServicePortInfo[] {
    return [...this.ports.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  endpointsFor(key: string): EndpointInfo[] {
    return this.endpoints.get(key) ?? [];
  }

  /** Every service port key with endpoints, including ports no Service (yet) has. */
  allEndpoints(): IterableIterator<[string, EndpointInfo[]]> {
    return this.endpoints.entries();
  }
}

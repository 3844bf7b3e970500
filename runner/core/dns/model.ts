// The parts of Services, EndpointSlices, Namespaces and Pods that cluster DNS reads,
// as plain structural types (what kubectl prints), and their normalized forms.

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  deletionTimestamp?: string;
}

export interface ServiceLike {
  kind?: string;
  metadata?: ObjectMeta;
  spec?: {
    type?: string;
    clusterIP?: string;
    clusterIPs?: string[];
    externalName?: string;
    ports?: { name?: string; protocol?: string; port?: number }[];
  };
}

export interface EndpointSliceLike {
  kind?: string;
  metadata?: ObjectMeta;
  addressType?: string;
  ports?: { name?: string | null; protocol?: string | null; port?: number | null }[] | null;
  endpoints?: {
    addresses?: string[];
    conditions?: { ready?: boolean | null };
    hostname?: string | null;
    nodeName?: string | null;
    targetRef?: { kind?: string; name?: string } | null;
  }[];
}

export interface NamespaceLike {
  kind?: string;
  metadata?: ObjectMeta;
}

export interface PodLike {
  kind?: string;
  metadata?: ObjectMeta;
  status?: { phase?: string; podIP?: string };
}

/** A Service as DNS sees it. */
export interface DnsService {
  name: string;
  namespace: string;
  type: string;
  /** `clusterIPs` (else `clusterIP`); ["None"] for a headless service. */
  clusterIPs: string[];
  externalName: string;
  ports: { name: string; protocol: string; port: number }[];
}

export interface DnsAddress {
  ip: string;
  hostname: string;
  /** The pod's name when shorter than 64 characters (for endpoint_pod_names). */
  targetRefName: string;
}

/** One EndpointSlice, only its ready addresses (CoreDNS's endpoint view). */
export interface DnsEndpoints {
  name: string;
  namespace: string;
  /** "<service>.<namespace>": the slices of one service share it. */
  index: string;
  /** Port -1 stands for "no ports" (a headless service without ports still has A records). */
  ports: { name: string; protocol: string; port: number }[];
  addresses: DnsAddress[];
}

export const isHeadless = (s: DnsService) => s.clusterIPs[0] === 'None';

export function toDnsService(o: ServiceLike): DnsService | undefined {
  const name = o.metadata?.name;
  const namespace = o.metadata?.namespace ?? 'default';
  if (!name) return undefined;
  const spec = o.spec ?? {};
  const clusterIPs = spec.clusterIPs?.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : [];
  return {
    name,
    namespace,
    type: spec.type ?? 'ClusterIP',
    clusterIPs,
    externalName: spec.externalName ?? '',
    ports: (spec.ports ?? []).map((p) => ({ name: p.name ?? '', protocol: p.protocol ?? 'TCP', port: p.port ?? 0 })),
  };
}

/** CoreDNS publishes an endpoint iff its ready condition is not false (nil means unknown: ready). */
export function toDnsEndpoints(o: EndpointSliceLike): DnsEndpoints | undefined {
  const name = o.metadata?.name;
  const namespace = o.metadata?.namespace ?? 'default';
  const service = o.metadata?.labels?.['kubernetes.io/service-name'];
  if (!name || !service) return undefined;
  const ports = o.ports?.length ? o.ports.map((p) => ({ name: p.name ?? '', protocol: p.protocol ?? '', port: p.port ?? -1 })) : [{ name: '', protocol: '', port: -1 }];
  const addresses: DnsAddress[] = [];
  for (const e of o.endpoints ?? []) {
    if (e.conditions?.ready === false) continue;
    for (const ip of e.addresses ?? []) {
      const ref = e.targetRef?.name ?? '';
      addresses.push({ ip, hostname: e.hostname ?? '', targetRefName: ref.length < 64 ? ref : '' });
    }
  }
  return { name, namespace, index: `${service}.${namespace}`, ports, addresses };
}

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/i;

/** The endpoints controller's `endpoints.kubernetes.io/last-change-trigger-time` in ms since the epoch; undefined when absent or not RFC 3339. */
export function lastChangeTriggerTime(o: EndpointSliceLike): number | undefined {
  const v = o.metadata?.annotations?.['endpoints.kubernetes.io/last-change-trigger-time'];
  const ms = v !== undefined && RFC3339.test(v) ? Date.parse(v) : NaN;
  return Number.isNaN(ms) ? undefined : ms;
}

/** A running pod's IP, for `pods verified` (terminated and terminating pods do not count). */
export function podIP(o: PodLike): { namespace: string; ip: string } | undefined {
  const ip = o.status?.podIP;
  const phase = o.status?.phase;
  if (!ip || o.metadata?.deletionTimestamp || phase === 'Succeeded' || phase === 'Failed' || phase === 'Unknown') return undefined;
  return { namespace: o.metadata?.namespace ?? 'default', ip };
}

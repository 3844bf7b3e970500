// Reading what a check is about from the live cluster: a Service as the rules see it, its
// ready endpoints, the namespace's pods.
import type { KubeObj, PodSummary } from '../core/grade/object.ts';
import type { ServiceView } from '../core/grade/iptables.ts';
import type { Round } from './cluster.ts';

export interface Endpoint {
  ip: string;
  ready: boolean;
  serving: boolean;
  nodeName?: string;
  hostname?: string;
  /** Port number by port name ("" for an unnamed port). */
  ports: Record<string, number>;
}

/** "ns/name" or "name" (in the lab's namespace). */
export function splitName(ref: string, namespace: string): { namespace: string; name: string } {
  const i = ref.indexOf('/');
  return i < 0 ? { namespace, name: ref } : { namespace: ref.slice(0, i), name: ref.slice(i + 1) };
}

export function serviceView(o: KubeObj): ServiceView {
  const spec = (o.spec ?? {}) as { clusterIP?: string; ports?: { name?: string; port: number; protocol?: string; nodePort?: number }[]; externalIPs?: string[] };
  const status = o.status as { loadBalancer?: { ingress?: { ip?: string }[] } } | undefined;
  return {
    namespace: o.metadata?.namespace ?? 'default',
    name: o.metadata?.name ?? '',
    clusterIP: spec.clusterIP,
    ports: (spec.ports ?? []).map((p) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP', ...(p.nodePort ? { nodePort: p.nodePort } : {}) })),
    ingressIPs: (status?.loadBalancer?.ingress ?? []).map((i) => i.ip).filter((x): x is string => !!x),
    externalIPs: spec.externalIPs ?? [],
  };
}

export async function readService(round: Round, ref: string, namespace: string): Promise<KubeObj | undefined> {
  const { namespace: ns, name } = splitName(ref, namespace);
  return round.cluster.get('Service', name, ns);
}

/** Every endpoint of a Service over its EndpointSlices (deduplicated by address). */
export async function serviceEndpoints(round: Round, namespace: string, name: string): Promise<Endpoint[]> {
  const slices = await round.cluster.list('EndpointSlice', namespace, `kubernetes.io/service-name=${name}`);
  const byIP = new Map<string, Endpoint>();
  for (const s of slices) {
    const ports = Object.fromEntries(((s.ports as { name?: string; port?: number }[] | undefined) ?? []).filter((p) => p.port).map((p) => [p.name ?? '', p.port!]));
    for (const e of (s.endpoints as { addresses?: string[]; conditions?: { ready?: boolean; serving?: boolean }; nodeName?: string; hostname?: string }[] | undefined) ?? []) {
      const ready = e.conditions?.ready !== false;
      for (const ip of e.addresses ?? []) {
        if (byIP.has(ip) && !ready) continue;
        byIP.set(ip, { ip, ready, serving: e.conditions?.serving ?? ready, nodeName: e.nodeName, hostname: e.hostname, ports });
      }
    }
  }
  return [...byIP.values()].sort((a, b) => a.ip.localeCompare(b.ip));
}

export async function podSummaries(round: Round, namespace: string): Promise<PodSummary[]> {
  const pods = await round.cluster.list('Pod', namespace);
  return pods
    .filter((p) => !(p.metadata as { deletionTimestamp?: string } | undefined)?.deletionTimestamp)
    .map((p) => ({
      name: p.metadata?.name ?? '',
      labels: p.metadata?.labels ?? {},
      ready: ((p.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
    }));
}

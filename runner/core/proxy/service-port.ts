// One service port as kube-proxy sees it (upstream's BaseServicePortInfo plus the
// iptables chain names), built from a v1 Service for one IP family.
import { servicePortChains, type ServicePortChains } from './chains.ts';
import { familyOf, formatCIDR, formatIP, parseCIDR, parseIP, type CIDR, type IPFamily } from './ip.ts';
import { namespacedName, type Service, type Warn } from './types.ts';

export type Protocol = 'TCP' | 'UDP' | 'SCTP';

export interface ServicePortInfo {
  /** Map key: namespace/name:portName/PROTOCOL (port names are only unique per protocol). */
  key: string;
  /** namespace/name */
  service: string;
  /** ServicePortName.String(): "ns/name:port", or "ns/name" for an unnamed port. */
  name: string;
  portName: string;
  protocol: Protocol;
  clusterIP: string;
  port: number;
  nodePort: number;
  externalIPs: string[];
  loadBalancerVIPs: string[];
  loadBalancerSourceRanges: string[];
  sessionAffinityClientIP: boolean;
  stickyMaxAgeSeconds: number;
  healthCheckNodePort: number;
  externalPolicyLocal: boolean;
  internalPolicyLocal: boolean;
  chains: ServicePortChains;
}

export function externallyAccessible(sp: ServicePortInfo): boolean {
  return sp.nodePort !== 0 || sp.loadBalancerVIPs.length > 0 || sp.externalIPs.length > 0;
}

export function usesClusterEndpoints(sp: ServicePortInfo): boolean {
  return !sp.internalPolicyLocal || externallyAccessible(sp);
}

export function usesLocalEndpoints(sp: ServicePortInfo): boolean {
  return sp.internalPolicyLocal || (sp.externalPolicyLocal && externallyAccessible(sp));
}

export function servicePortKey(service: string, portName: string, protocol: string): string {
  return `${service}:${portName}/${protocol}`;
}

export function servicePortNameString(service: string, portName: string): string {
  return portName === '' ? service : `${service}:${portName}`;
}

const PROTOCOLS = new Set(['TCP', 'UDP', 'SCTP']);
const DEFAULT_AFFINITY_TIMEOUT = 10800;

/** An integer in [min, max], or null. The API types are int32; anything else never decodes. */
export function intInRange(v: unknown, min: number, max: number): number | null {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? v : null;
}

function serviceExternallyAccessible(svc: Service): boolean {
  const t = svc.spec?.type ?? 'ClusterIP';
  return t === 'LoadBalancer' || t === 'NodePort' || (t === 'ClusterIP' && (svc.spec?.externalIPs?.length ?? 0) > 0);
}

function clusterIPForFamily(svc: Service, family: IPFamily): string {
  const spec = svc.spec ?? {};
  const families = spec.ipFamilies ?? [];
  if (families.length === 0) {
    const ip = spec.clusterIP ?? '';
    if (ip === '' || ip === 'None') return '';
    const parsed = parseIP(ip);
    const isV6 = parsed !== null && familyOf(parsed) === 'IPv6';
    return isV6 === (family === 'IPv6') ? ip : '';
  }
  const idx = families.indexOf(family);
  return idx >= 0 && idx < (spec.clusterIPs?.length ?? 0) ? spec.clusterIPs![idx]! : '';
}

/**
 * The service ports of one Service for one IP family, or [] when kube-proxy ignores it
 * (headless, ExternalName, no cluster IP of this family). Malformed values that the API
 * server would never admit are reported through `warn`: bad IPs and CIDRs in lists are
 * dropped as upstream drops them; a Service whose cluster IP or ports cannot be read is skipped.
 */
export function servicePortsFromService(svc: Service, family: IPFamily, warn: Warn): ServicePortInfo[] {
  const spec = svc.spec ?? {};
  const nn = namespacedName(svc.metadata);
  const ipSpec = spec.clusterIP ?? '';
  if (ipSpec === '' || ipSpec === 'None') return [];
  if ((spec.type ?? 'ClusterIP') === 'ExternalName') return [];
  const clusterIPStr = clusterIPForFamily(svc, family);
  if (clusterIPStr === '') return [];
  const clusterIP = parseIP(clusterIPStr);
  if (!clusterIP) {
    warn(`svc-clusterip:${nn}:${clusterIPStr}`, `Service ${nn}: clusterIP ${JSON.stringify(clusterIPStr)} is not an IP address; skipping the Service`);
    return [];
  }

  const externalPolicyLocal = serviceExternallyAccessible(svc) && spec.externalTrafficPolicy === 'Local';
  const internalPolicyLocal = spec.internalTrafficPolicy === 'Local';
  const affinity = spec.sessionAffinity === 'ClientIP';
  let sticky = 0;
  if (affinity) {
    const t = spec.sessionAffinityConfig?.clientIP?.timeoutSeconds;
    sticky = t === undefined || t === null ? DEFAULT_AFFINITY_TIMEOUT : (intInRange(t, 1, 86400) ?? -1);
    if (sticky < 0) {
      warn(`svc-affinity:${nn}`, `Service ${nn}: sessionAffinityConfig.clientIP.timeoutSeconds ${JSON.stringify(t)} is not an integer in 1-86400; skipping the Service`);
      return [];
    }
  }

  const externalIPs: string[] = [];
  for (const s of spec.externalIPs ?? []) {
    const ip = typeof s === 'string' ? parseIP(s) : null;
    if (!ip) {
      if (typeof s !== 'string' || s.trim() !== '') warn(`svc-extip:${nn}:${String(s)}`, `Service ${nn}: externalIP ${JSON.stringify(s)} is not an IP address; ignoring it`);
      continue;
    }
    if (familyOf(ip) === family) externalIPs.push(formatIP(ip));
  }

  const ranges: CIDR[] = [];
  for (const raw of spec.loadBalancerSourceRanges ?? []) {
    const s = typeof raw === 'string' ? raw.trim() : '';
    const cidr = parseCIDR(s);
    if (!cidr) {
      if (s !== '') warn(`svc-lbsr:${nn}:${s}`, `Service ${nn}: loadBalancerSourceRange ${JSON.stringify(raw)} is not a CIDR; ignoring it`);
      continue;
    }
    if (cidr.family === family) ranges.push(cidr);
  }
  // A range of /0 means "allow everyone": no firewall at all.
  const sourceRanges = ranges.some((c) => c.prefix === 0) ? [] : ranges.map(formatCIDR);

  const vips: string[] = [];
  for (const ing of svc.status?.loadBalancer?.ingress ?? []) {
    if (!ing?.ip) continue;
    if (ing.ipMode != null && ing.ipMode !== 'VIP') continue;
    const ip = parseIP(ing.ip);
    if (ip && familyOf(ip) === family) vips.push(formatIP(ip));
  }

  let healthCheckNodePort = 0;
  if ((spec.type ?? 'ClusterIP') === 'LoadBalancer' && externalPolicyLocal) {
    const p = spec.healthCheckNodePort;
    healthCheckNodePort = p === undefined || p === null ? 0 : (intInRange(p, 0, 65535) ?? -1);
    if (healthCheckNodePort < 0) {
      warn(`svc-hcnp:${nn}`, `Service ${nn}: healthCheckNodePort ${JSON.stringify(p)} is not a port number; skipping the Service`);
      return [];
    }
    if (healthCheckNodePort === 0) warn(`svc-nohcnp:${nn}`, `Service ${nn} has no healthcheck nodeport`);
  }

  const out: ServicePortInfo[] = [];
  for (const [i, p] of (spec.ports ?? []).entries()) {
    const portName = p?.name ?? '';
    const protocol = (p?.protocol ?? 'TCP') as Protocol;
    const port = intInRange(p?.port, 1, 65535);
    const nodePort = p?.nodePort === undefined || p?.nodePort === null ? 0 : intInRange(p.nodePort, 0, 65535);
    if (!PROTOCOLS.has(protocol) || port === null || nodePort === null) {
      warn(`svc-port:${nn}:${i}`, `Service ${nn}: ports[${i}] has an invalid ${!PROTOCOLS.has(protocol) ? `protocol ${JSON.stringify(p?.protocol)}` : port === null ? `port ${JSON.stringify(p?.port)}` : `nodePort ${JSON.stringify(p?.nodePort)}`}; skipping the Service`);
      return [];
    }
    const name = servicePortNameString(nn, portName);
    out.push({
      key: servicePortKey(nn, portName, protocol),
      service: nn,
      name,
      portName,
      protocol,
      clusterIP: formatIP(clusterIP),
      port,
      nodePort,
      externalIPs,
      loadBalancerVIPs: vips,
      loadBalancerSourceRanges: sourceRanges,
      sessionAffinityClientIP: affinity,
      stickyMaxAgeSeconds: sticky,
      healthCheckNodePort,
      externalPolicyLocal,
      internalPolicyLocal,
      chains: servicePortChains(name, protocol.toLowerCase()),
    });
  }
  return out;
}

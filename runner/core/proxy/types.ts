// The slices of the v1 API objects kube-proxy reads. Structural, so that both
// @kubernetes/client-node objects and plain JSON from a state file fit.

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  labels?: Record<string, string> | null;
  annotations?: Record<string, string> | null;
  resourceVersion?: string;
  deletionTimestamp?: unknown;
}

export interface ServicePortSpec {
  name?: string | null;
  protocol?: string | null;
  port?: unknown;
  nodePort?: unknown;
  targetPort?: unknown;
  appProtocol?: string | null;
}

export interface ServiceSpec {
  type?: string | null;
  clusterIP?: string | null;
  clusterIPs?: string[] | null;
  ipFamilies?: string[] | null;
  ports?: ServicePortSpec[] | null;
  externalIPs?: string[] | null;
  loadBalancerSourceRanges?: string[] | null;
  sessionAffinity?: string | null;
  sessionAffinityConfig?: { clientIP?: { timeoutSeconds?: unknown } | null } | null;
  externalTrafficPolicy?: string | null;
  internalTrafficPolicy?: string | null;
  healthCheckNodePort?: unknown;
}

export interface LoadBalancerIngress {
  ip?: string | null;
  hostname?: string | null;
  ipMode?: string | null;
}

export interface Service {
  kind?: string;
  apiVersion?: string;
  metadata?: ObjectMeta;
  spec?: ServiceSpec | null;
  status?: { loadBalancer?: { ingress?: LoadBalancerIngress[] | null } | null } | null;
}

export interface EndpointConditions {
  ready?: boolean | null;
  serving?: boolean | null;
  terminating?: boolean | null;
}

export interface EndpointSpec {
  addresses?: string[] | null;
  conditions?: EndpointConditions | null;
  nodeName?: string | null;
  zone?: string | null;
  hints?: { forZones?: { name: string }[] | null; forNodes?: { name: string }[] | null } | null;
}

export interface EndpointPortSpec {
  name?: string | null;
  protocol?: string | null;
  port?: unknown;
}

export interface EndpointSlice {
  kind?: string;
  apiVersion?: string;
  metadata?: ObjectMeta;
  addressType?: string;
  endpoints?: EndpointSpec[] | null;
  ports?: EndpointPortSpec[] | null;
}

export interface NodeAddress {
  type?: string;
  address?: string;
}

export interface Node {
  kind?: string;
  apiVersion?: string;
  metadata?: ObjectMeta;
  spec?: { podCIDRs?: string[] | null; taints?: { key?: string }[] | null } | null;
  status?: { addresses?: NodeAddress[] | null } | null;
}

/** Where a proxy reports bad input; the caller decides how (and how often) to log it. */
export type Warn = (key: string, message: string) => void;

export const LABEL_SERVICE_NAME = 'kubernetes.io/service-name';
export const LABEL_SERVICE_PROXY_NAME = 'service.kubernetes.io/service-proxy-name';
export const LABEL_HEADLESS = 'service.kubernetes.io/headless';
export const LABEL_TOPOLOGY_ZONE = 'topology.kubernetes.io/zone';

/** kube-proxy's informers skip objects that carry either label. */
export function isIgnoredByLabels(meta: ObjectMeta | undefined): boolean {
  const labels = meta?.labels ?? {};
  return LABEL_SERVICE_PROXY_NAME in labels || LABEL_HEADLESS in labels;
}

export function namespacedName(meta: ObjectMeta | undefined): string {
  return `${meta?.namespace ?? ''}/${meta?.name ?? ''}`;
}

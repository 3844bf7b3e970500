// Builders for API objects in proxy tests. Conventions: pods 10.244.0.0/16 (this node's
// pods in 10.244.0.0/24), ClusterIPs 10.96.0.0/16, this node "node-a" at 192.168.8.2.
import { DEFAULT_SETTINGS, renderOptionsFor, type ProxySettings } from '../../../runner/core/proxy/options.ts';
import type { RenderOptions } from '../../../runner/core/proxy/render.ts';
import type { EndpointSlice, EndpointSpec, Service } from '../../../runner/core/proxy/types.ts';

export const NODE = 'node-a';
export const NODE_IP = '192.168.8.2';

export function service(ns: string, name: string, clusterIP: string, mutate: (s: Service) => void = () => {}): Service {
  const svc: Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace: ns, name },
    spec: { type: 'ClusterIP', clusterIP, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
  };
  mutate(svc);
  return svc;
}

/** A slice for `svc` with port "http" → `port`; endpoints given as [ip, node] or full specs. */
export function slice(ns: string, svc: string, endpoints: (EndpointSpec | [string, string])[], port = 8080, sliceName = `${svc}-1`, portName = 'http', protocol = 'TCP'): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { namespace: ns, name: sliceName, labels: { 'kubernetes.io/service-name': svc } },
    addressType: 'IPv4',
    ports: [{ name: portName, port, protocol }],
    endpoints: endpoints.map((e) => (Array.isArray(e) ? { addresses: [e[0]], nodeName: e[1] } : e)),
  };
}

export function settings(over: Partial<ProxySettings> = {}): ProxySettings {
  return { ...DEFAULT_SETTINGS, nodeName: NODE, clusterCIDRs: ['10.244.0.0/16'], localAddresses: [NODE_IP], ...over };
}

export function options(over: Partial<ProxySettings> = {}): RenderOptions {
  return renderOptionsFor(settings(over), { metadata: { name: NODE }, status: { addresses: [{ type: 'InternalIP', address: NODE_IP }] } });
}

export const noWarn = () => {};

/** The rules of one chain in restore text, in order, without "-A CHAIN ". */
export function chainRules(text: string, table: string, chain: string): string[] {
  const out: string[] = [];
  let current = '';
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) current = line.slice(1);
    else if (current === table && line.startsWith(`-A ${chain} `)) out.push(line.slice(`-A ${chain} `.length));
  }
  return out;
}

// What upstream's service health check servers (pkg/proxy/healthcheck/service_health.go)
// serve: for each Service with externalTrafficPolicy: Local and a healthCheckNodePort, the
// number of this node's ready endpoints, so that a cloud load balancer sends traffic only
// to nodes that have some. The I/O shell is runner/proxy/service-health.ts.
import type { EndpointInfo } from './endpoints.ts';
import type { ServicePortInfo } from './service-port.ts';

/** Service ("namespace/name") → its healthCheckNodePort, for every Service that has one (upstream HealthCheckNodePorts). */
export function healthCheckNodePorts(ports: Iterable<ServicePortInfo>): Map<string, number> {
  const out = new Map<string, number>();
  for (const sp of ports) if (sp.healthCheckNodePort !== 0) out.set(sp.service, sp.healthCheckNodePort);
  return out;
}

/**
 * Service → how many distinct IPs of its ready endpoints are on this node (upstream
 * LocalReadyEndpoints): an IP serving two ports counts once; terminating endpoints do not
 * count, so the node fails the check while it only has those. Keys are service port keys.
 */
export function localReadyEndpoints(endpoints: Iterable<[string, EndpointInfo[]]>): Map<string, number> {
  const ips = new Map<string, Set<string>>();
  for (const [key, eps] of endpoints) {
    const service = key.slice(0, key.indexOf(':'));
    for (const ep of eps) {
      if (!ep.ready || !ep.isLocal) continue;
      let set = ips.get(service);
      if (!set) ips.set(service, (set = new Set()));
      set.add(ep.ip);
    }
  }
  return new Map([...ips].map(([svc, set]) => [svc, set.size]));
}

/** The response body, byte for byte upstream's (a dedented Go template, tab-indented). */
export function serviceHealthBody(service: string, localEndpoints: number, serviceProxyHealthy: boolean): string {
  const i = service.indexOf('/');
  const [namespace, name] = [service.slice(0, i), service.slice(i + 1)];
  return [
    '{',
    '\t"service": {',
    `\t\t"namespace": ${JSON.stringify(namespace)},`,
    `\t\t"name": ${JSON.stringify(name)}`,
    '\t},',
    `\t"localEndpoints": ${localEndpoints},`,
    `\t"serviceProxyHealthy": ${serviceProxyHealthy}`,
    '}',
  ].join('\n');
}

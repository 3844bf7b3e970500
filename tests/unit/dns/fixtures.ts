// A small cluster for DNS tests: the objects `kubectl get -o yaml` would print.
export const svc = (ns: string, name: string, spec: Record<string, unknown>) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec });
export const slice = (ns: string, service: string, name: string, addressType: string, ports: unknown[] | undefined, endpoints: unknown[]) => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name, namespace: ns, labels: { 'kubernetes.io/service-name': service } },
  addressType,
  ports,
  endpoints,
});
export const ns = (name: string) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
const http = [{ name: 'http', protocol: 'TCP', port: 80 }];

export const objects = [
  ns('testns'),
  ns('default'),
  ns('kube-system'),
  svc('testns', 'svc1', { type: 'ClusterIP', clusterIP: '10.0.0.1', clusterIPs: ['10.0.0.1'], ports: [{ name: 'http', protocol: 'TCP', port: 80 }] }),
  slice('testns', 'svc1', 'svc1-abcde', 'IPv4', http, [{ addresses: ['172.0.0.1'], hostname: 'ep1a', conditions: { ready: true } }]),
  svc('testns', 'svcempty', { type: 'ClusterIP', clusterIP: '10.0.0.2', ports: [{ name: 'http', protocol: 'TCP', port: 80 }] }),
  svc('testns', 'svc6', { type: 'ClusterIP', clusterIP: '1234:abcd::1', clusterIPs: ['1234:abcd::1'], ports: [{ name: 'http', protocol: 'TCP', port: 80 }] }),
  svc('testns', 'dual', { type: 'ClusterIP', clusterIPs: ['10.0.0.3', '10::3'], ports: [{ name: 'http', protocol: 'TCP', port: 80 }] }),
  svc('testns', 'hdls1', { clusterIP: 'None', ports: [{ name: 'http', protocol: 'TCP', port: 80 }, { name: 'https', protocol: 'TCP', port: 443 }] }),
  slice('testns', 'hdls1', 'hdls1-1', 'IPv4', [{ name: 'http', protocol: 'TCP', port: 80 }, { name: 'https', protocol: 'TCP', port: 443 }], [
    { addresses: ['172.0.0.2'], conditions: { ready: true }, targetRef: { kind: 'Pod', name: 'hdls1-pod-a' } },
    { addresses: ['172.0.0.3'], hostname: 'dup-name', conditions: { ready: true } },
    { addresses: ['172.0.0.4'], hostname: 'dup-name', conditions: { ready: null } },
    { addresses: ['172.0.0.9'], hostname: 'not-ready', conditions: { ready: false } },
  ]),
  svc('testns', 'hdlsempty', { clusterIP: 'None', ports: [{ name: 'http', protocol: 'TCP', port: 80 }] }),
  svc('testns', 'hdlsnoport', { clusterIP: 'None' }),
  slice('testns', 'hdlsnoport', 'hdlsnoport-1', 'IPv4', undefined, [{ addresses: ['172.0.0.20'], conditions: {} }]),
  svc('testns', 'external', { type: 'ExternalName', externalName: 'ext.interwebs.test', ports: [{ name: 'http', protocol: 'TCP', port: 80 }] }),
  svc('testns', 'internal-alias', { type: 'ExternalName', externalName: 'svc1.testns.svc.cluster.local' }),
  svc('testns', 'ip-alias', { type: 'ExternalName', externalName: '1.2.3.4' }),
  svc('kube-system', 'kube-dns', { type: 'ClusterIP', clusterIP: '10.96.0.10', ports: [{ name: 'dns', protocol: 'UDP', port: 53 }, { name: 'dns-tcp', protocol: 'TCP', port: 53 }] }),
  slice('kube-system', 'kube-dns', 'kube-dns-1', 'IPv4', [{ name: 'dns', protocol: 'UDP', port: 53 }], [{ addresses: ['10.244.0.5'], conditions: { ready: true } }]),
];

/** Options of a svclab lab cluster that shape kind's configuration. */
export interface ClusterSpec {
  name: string;
  workers: number;
  podSubnet: string;
  serviceSubnet: string;
  /** Where the API server port is published on the engine's machine (kind's default: 127.0.0.1). */
  apiServerAddress?: string;
}

export const defaultSpec = (name: string, workers = 2): ClusterSpec => ({
  name,
  workers,
  podSubnet: '10.244.0.0/16',
  serviceSubnet: '10.96.0.0/16',
});

/**
 * kind's cluster configuration for a svclab cluster: no kube-proxy, no default CNI and
 * no CoreDNS, because svclab installs its own. kind applies kubeadm patches as JSON
 * merge patches, so skipPhases repeats kind's own `preflight` entry.
 */
export function renderKindConfig(spec: ClusterSpec): string {
  const lines = [
    'kind: Cluster',
    'apiVersion: kind.x-k8s.io/v1alpha4',
    `name: ${spec.name}`,
    'networking:',
    '  kubeProxyMode: "none"',
    '  disableDefaultCNI: true',
    `  podSubnet: "${spec.podSubnet}"`,
    `  serviceSubnet: "${spec.serviceSubnet}"`,
    ...(spec.apiServerAddress ? [`  apiServerAddress: "${spec.apiServerAddress}"`] : []),
    // Service names may start with a digit (KEP-5311, alpha in 1.34), as DNS allows and the
    // e2e DNS scenario "service name that starts with a digit" needs.
    'featureGates:',
    '  RelaxedServiceNameValidation: true',
    'kubeadmConfigPatches:',
    '- |',
    '  kind: InitConfiguration',
    '  skipPhases: [preflight, addon/kube-proxy, addon/coredns]',
    'nodes:',
    '- role: control-plane',
  ];
  for (let i = 0; i < spec.workers; i++) lines.push('- role: worker');
  return `${lines.join('\n')}\n`;
}

/** The kube-dns Service address kubeadm gives the kubelet: the 10th address of the service subnet. */
export function dnsServiceIP(serviceSubnet: string): string {
  const [base] = serviceSubnet.split('/');
  const o = base!.split('.').map(Number);
  return `${o[0]}.${o[1]}.${o[2]}.${o[3]! + 10}`;
}

const NAME_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Checks a cluster name: it becomes container and host names ("<name>-control-plane"). */
export function validateClusterName(name: string): string | undefined {
  if (!NAME_RE.test(name)) return `invalid cluster name "${name}": use lower-case letters, digits and '-', starting and ending with a letter or digit`;
  if (name.length > 40) return `invalid cluster name "${name}": at most 40 characters`;
  return undefined;
}

export function validateWorkers(raw: string): number | string {
  if (!/^\d+$/.test(raw)) return `invalid --workers "${raw}": give a whole number from 0 to 10`;
  const n = Number(raw);
  if (n > 10) return `invalid --workers ${n}: at most 10 workers fit on one machine`;
  return n;
}

/** Options of a svclab lab cluster that shape kind's configuration. */
export interface ClusterSpec {
  name: string;
  workers: number;
  podSubnet: string;
  serviceSubnet: string;
  /** Where the API server port is published on the engine's machine (kind's default: 127.0.0.1). */
  apiServerAddress?: string;
  /**
   * The lean profile (classroom learner clusters, `svclab cluster up --lean`): the same
   * cluster with less idle work, see LEAN_PATCHES. Applies when the cluster is created.
   */
  lean?: boolean;
}

export const defaultSpec = (name: string, workers = 2): ClusterSpec => ({
  name,
  workers,
  podSubnet: '10.244.0.0/16',
  serviceSubnet: '10.96.0.0/16',
});

/**
 * The lean profile's kubeadm patches (kind merges them into the kubeadm config it
 * generates, as JSON merge patches: the maps below add to kind's own extraArgs; the
 * KubeletConfiguration patch reaches every node's kubelet). Only work a one-control-plane
 * lab cluster does not need is dropped; what it saves is measured in
 * bench/classroom/README.md ("The lean profile"): about 1.3 points of one core of 16.
 * - kube-controller-manager and kube-scheduler without leader election: there is one
 *   control plane, so nobody to elect, and each of them otherwise renews its Lease in
 *   kube-system every 2 s (a write through the API server to etcd).
 * - the kubelet without local storage capacity isolation: its eviction manager then has
 *   no threshold to check (kind already sets the disk ones to 0 %) and skips the
 *   summary-stats pass it makes every 10 s. Nodes then report no ephemeral-storage
 *   capacity, so pods cannot use ephemeral-storage requests or limits; no lab does.
 */
export const LEAN_PATCHES = [
  [
    'kind: ClusterConfiguration',
    'controllerManager:',
    '  extraArgs:',
    '    leader-elect: "false"',
    'scheduler:',
    '  extraArgs:',
    '    leader-elect: "false"',
  ],
  [
    'kind: KubeletConfiguration',
    'localStorageCapacityIsolation: false',
  ],
];

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
    ...(spec.lean ? LEAN_PATCHES.flatMap((p) => ['- |', ...p.map((l) => `  ${l}`)]) : []),
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

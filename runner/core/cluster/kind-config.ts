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

/** Where the lab node image keeps LEAN_STATIC_POD_PATCHES for kubeadm (`patches.directory`). */
export const LEAN_STATIC_POD_PATCHES_DIR = '/kind/svclab-patches';

/**
 * kubeadm patches of the control plane's static pods (file name → strategic merge patch) for
 * lean clusters: kubeadm probes the API server's /readyz every second, a TLS handshake and a
 * round of readiness checks (etcd's among them) each time; once every 10 s, as for its other
 * probes, is enough for a cluster nothing balances across.
 */
export const LEAN_STATIC_POD_PATCHES: Record<string, string> = {
  'kube-apiserver+strategic.yaml': ['spec:', '  containers:', '  - name: kube-apiserver', '    readinessProbe:', '      periodSeconds: 10', ''].join('\n'),
};

/**
 * kube-controller-manager's controllers in a lean cluster: kubeadm's `*,bootstrapsigner,tokencleaner`
 * without those of volumes (no lab uses one; the attach-detach reconciler alone wakes every
 * 100 ms), of autoscaling, of dynamic resource allocation and of storage version migration.
 */
export const LEAN_CONTROLLERS = [
  '*',
  'bootstrapsigner',
  'tokencleaner',
  ...['persistentvolume-attach-detach', 'persistentvolume-binder', 'persistentvolume-expander', 'persistentvolume-protection', 'persistentvolumeclaim-protection', 'ephemeral-volume', 'volumeattributesclass-protection', 'horizontal-pod-autoscaler', 'resourceclaim', 'device-taint-eviction', 'storage-version-migrator'].map((c) => `-${c}-controller`),
].join(',');

/**
 * The kubelet's container housekeeping (cAdvisor's stats of every container's cgroups) every
 * 60 s instead of every 10 s: nothing in a lab cluster reads them sooner (no metrics-server,
 * and the disk eviction thresholds are off).
 */
const LEAN_KUBELET_ARGS = ['nodeRegistration:', '  kubeletExtraArgs:', '    housekeeping-interval: "60s"'];

/**
 * The lean profile's kubeadm patches (kind merges them into the kubeadm config it
 * generates, as JSON merge patches: the maps below add to kind's own extraArgs; the
 * KubeletConfiguration patch reaches every node's kubelet). Only work a one-control-plane
 * lab cluster does not need is dropped; what it saves is measured in
 * bench/classroom/README.md ("The lean profile"): about 1.3 points of one core of 16.
 * - the kubelet's container housekeeping every 60 s (LEAN_KUBELET_ARGS).
 * - the API server's readiness probe every 10 s instead of every second
 *   (LEAN_STATIC_POD_PATCHES, kept in the lab node image).
 * - kube-controller-manager without the controllers no lab needs (LEAN_CONTROLLERS).
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
    'kind: InitConfiguration',
    'patches:',
    `  directory: ${LEAN_STATIC_POD_PATCHES_DIR}`,
    ...LEAN_KUBELET_ARGS,
  ],
  ['kind: JoinConfiguration', ...LEAN_KUBELET_ARGS],
  [
    'kind: ClusterConfiguration',
    'controllerManager:',
    '  extraArgs:',
    '    leader-elect: "false"',
    `    controllers: "${LEAN_CONTROLLERS}"`,
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
 * What the lean profile changes in svclab's own components (manifest placeholders), next to
 * the default. Measured in bench/classroom/README.md ("The lean profile").
 * - DNS: one replica instead of two: a learner cluster's node count (usually one) gives the
 *   second replica nothing to survive, and each replica is a pod the kubelet probes and
 *   houses.
 * - LoadBalancer controller: its Lease renewed every 15 s instead of every 2 s (each renewal
 *   is a write through the API server to etcd); a crashed holder is replaced within a minute.
 */
export function componentProfile(lean: boolean): Record<'DNS_REPLICAS' | 'LB_LEASE_DURATION' | 'LB_RENEW_DEADLINE' | 'LB_RETRY_PERIOD', string> {
  return lean
    ? { DNS_REPLICAS: '1', LB_LEASE_DURATION: '60s', LB_RENEW_DEADLINE: '40s', LB_RETRY_PERIOD: '15s' }
    : { DNS_REPLICAS: '2', LB_LEASE_DURATION: '15s', LB_RENEW_DEADLINE: '10s', LB_RETRY_PERIOD: '2s' };
}

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

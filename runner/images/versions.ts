/**
 * Pinned versions of everything svclab runs. Changing one changes the content keys of
 * the images built from it, so the next `svclab images build` rebuilds what depends on it.
 */
export const versions = {
  /** Kubernetes ≤ 1.34: the kubelet still runs on cgroup v1 without extra settings. */
  kubernetes: 'v1.34.4',
  /** etcd at the tag `kubeadm config images list` prints for the Kubernetes version. */
  etcd: 'v3.6.5',
  etcdImageTag: '3.6.5-0',
  pauseImageTag: '3.10.1',
  /** The last kind release with a bookworm (systemd 252) base, for cgroup v1 hosts. */
  kind: 'v0.31.0',
  crictl: 'v1.34.0',
  /** For side-by-side tests and benchmarks of svclab's DNS server. */
  coredns: 'v1.12.1',
  debianSuite: 'bookworm',
  /** Used when a registry is reachable. */
  upstreamNodeImage: 'kindest/node:v1.34.4',
  upstreamDebianImage: 'debian:bookworm-slim',
} as const;

export const controlPlaneImages = (v = versions) => ({
  'kube-apiserver': `registry.k8s.io/kube-apiserver:${v.kubernetes}`,
  'kube-controller-manager': `registry.k8s.io/kube-controller-manager:${v.kubernetes}`,
  'kube-scheduler': `registry.k8s.io/kube-scheduler:${v.kubernetes}`,
  etcd: `registry.k8s.io/etcd:${v.etcdImageTag}`,
  pause: `registry.k8s.io/pause:${v.pauseImageTag}`,
});

// nft in a throwaway network namespace (unshare --net): load an `nft -f` input into an
// empty kernel table and read back what the kernel holds, the way a node would show it.
import { run } from './netns.ts';

/** Why nft cannot be used here, or null when it can (root, nft and unshare installed). */
export async function nftUnavailable(): Promise<string | null> {
  if (process.getuid?.() !== 0) return 'needs root (a network namespace per load)';
  const r = await run(['unshare', '--net', 'nft', '--version'], { allowFail: true }).catch((err: Error) => ({ code: 1, stderr: err.message, stdout: '' }));
  return r.code === 0 ? null : `cannot run nft in a new network namespace: ${(r.stderr || r.stdout).trim().split('\n')[0]} (Debian packages nftables and util-linux)`;
}

/**
 * Loads `input` with `nft -f -` into a new network namespace and returns `nft list table
 * FAMILY kube-proxy` of each family, one after the other.
 */
export async function loadAndList(input: string, families: ('ip' | 'ip6')[] = ['ip']): Promise<string> {
  const list = families.map((f) => `nft list table ${f} kube-proxy`).join(' && ');
  const r = await run(['unshare', '--net', 'sh', '-c', `nft -f - && ${list}`], { input });
  return r.stdout;
}

/**
 * The ServiceCIDR every API server makes from --service-cluster-ip-range (10.96.0.0/16 in
 * tests/support/control-plane.ts), as a list item to append to a state file's items.
 */
export const DEFAULT_SERVICE_CIDR_YAML = '- apiVersion: networking.k8s.io/v1\n  kind: ServiceCIDR\n  metadata: {name: kubernetes}\n  spec: {cidrs: [10.96.0.0/16]}\n';

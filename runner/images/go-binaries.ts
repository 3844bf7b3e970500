import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../exec.ts';
import { cacheDir, repoRoot } from './cache.ts';
import { requireTools } from './tools.ts';
import { versions } from './versions.ts';

export type GoTarget = 'kind' | 'kubernetes' | 'etcd' | 'crictl' | 'coredns';

const outputs: Record<GoTarget, string[]> = {
  kind: ['kind'],
  kubernetes: ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubelet', 'kubeadm', 'kubectl', 'kube-proxy'],
  etcd: ['etcd'],
  crictl: ['crictl'],
  coredns: ['coredns'],
};

const targetVersion: Record<GoTarget, string> = {
  kind: versions.kind,
  kubernetes: versions.kubernetes,
  etcd: versions.etcd,
  crictl: versions.crictl,
  coredns: versions.coredns,
};

/** Where a Go target's binaries live once built: the cache, keyed by version. */
export function goBinDir(target: GoTarget): string {
  return cacheDir('go', `${target}-${targetVersion[target]}`);
}

export function goBinary(target: GoTarget, name = outputs[target][0]!): string {
  return join(goBinDir(target), name);
}

export function goTargetBuilt(target: GoTarget): boolean {
  return outputs[target].every((b) => existsSync(join(goBinDir(target), b)));
}

/** Builds a Go target from the Go module proxy unless its binaries are cached. */
export async function ensureGoTarget(target: GoTarget, onLine?: (l: string) => void): Promise<string> {
  const dir = goBinDir(target);
  if (goTargetBuilt(target)) return dir;
  await requireTools({ go: 'golang' }, `building ${target} from the Go module proxy`);
  await run(join(repoRoot, 'runner/images/offline/go-build.sh'), [target, targetVersion[target], dir], {
    env: { ...process.env, K8S_VERSION: versions.kubernetes },
    onLine,
  });
  return dir;
}

// Upstream kube-proxy's IPVS proxier, run for one sync in a network namespace through a
// small Go harness (harness/main.go) built against k8s.io/kubernetes v1.34.4 — the IPVS
// mode cannot run as a binary on a kernel without IP_VS, so the harness gives it upstream's
// own fake IPVS and the namespace's real iptables, ipset and kube-ipvs0. What it leaves in
// the namespace (addresses, ipsets) is read back with ip and ipset.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../../runner/exec.ts';
import { cacheDir, contentKey } from '../../../runner/images/cache.ts';
import { versions } from '../../../runner/images/versions.ts';
import type { KubeObject } from '../../../runner/kube/state-file.ts';
import { NetnsLab } from '../../support/netns.ts';

const here = new URL('.', import.meta.url).pathname;
const source = join(here, 'harness/main.go');

export interface HarnessSettings {
  nodeName: string;
  nodeIP: string;
  clusterCIDR: string;
  masqueradeAll: boolean;
  masqueradeBit: number;
  nodePortAddresses: string[];
  scheduler: string;
}

export interface UpstreamIpvsSync {
  /** The iptables-restore input upstream wrote. */
  restore: string;
  /** Its virtual servers as ipvsadm-restore lines, sorted. */
  ipvs: string[];
  /** `ipset save` afterwards. */
  ipsetSave: string;
  /** kube-ipvs0's addresses afterwards. */
  addresses: string[];
  /** `iptables-save` afterwards (the jump rules upstream ensured). */
  iptablesSave: string;
}

/** Why the harness cannot be built or run here, or undefined when it can. */
export async function harnessUnavailable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces)';
  const go = await run('go', ['version'], { allowFailure: true }).catch(() => null);
  if (!go || go.code !== 0) return 'needs Go (Debian golang) to build the upstream IPVS harness';
  if (!existsSync(join(process.env.GOMODCACHE ?? join(process.env.HOME ?? '/root', 'go/pkg/mod'), `k8s.io/kubernetes@${versions.kubernetes}`))) {
    const ping = await run('go', ['env', 'GOPROXY'], { allowFailure: true });
    if (ping.stdout.trim() === 'off') return `k8s.io/kubernetes@${versions.kubernetes} is not in the Go module cache and GOPROXY=off`;
  }
  return undefined;
}

/** Builds the harness once per source and Kubernetes version (cached); returns its path. */
export async function buildHarness(onLine?: (l: string) => void): Promise<string> {
  const version = versions.kubernetes;
  const dir = cacheDir('go', `ipvs-harness-${version}-${contentKey(readFileSync(source, 'utf8'))}`);
  const bin = join(dir, 'ipvs-harness');
  if (existsSync(bin)) return bin;
  const mod = mkdtempSync(join(tmpdir(), 'svclab-ipvs-harness-'));
  try {
    const env = { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=mod', GOTOOLCHAIN: 'local' };
    const go = (args: string[]) => run('go', args, { cwd: mod, env, onLine, timeoutMs: 30 * 60_000 });
    await go(['mod', 'init', 'local/ipvsharness']);
    const dl = JSON.parse((await go(['mod', 'download', '-json', `k8s.io/kubernetes@${version}`])).stdout) as { GoMod: string };
    // k8s.io/kubernetes replaces its staging modules with local paths; use the published ones.
    const staging = `v0.${version.slice(3)}`;
    for (const line of readFileSync(dl.GoMod, 'utf8').split('\n')) {
      const m = /^\s*(k8s\.io\/\S+)\s+=>\s+\.\/staging\/src\//.exec(line);
      if (m) await go(['mod', 'edit', `-replace=${m[1]}=${m[1]}@${staging}`]);
    }
    await go(['mod', 'edit', `-require=k8s.io/kubernetes@${version}`]);
    writeFileSync(join(mod, 'main.go'), readFileSync(source));
    await go(['mod', 'tidy']);
    mkdirSync(dir, { recursive: true });
    // The flags of the kube-proxy build (go-build.sh), so that Go's build cache serves most packages.
    await go(['build', '-trimpath', '-tags=selinux,notest', '-ldflags', '-s -w', '-o', bin, '.']);
    return bin;
  } finally {
    rmSync(mod, { recursive: true, force: true });
  }
}

/**
 * One upstream sync of `objects` (as an API server returns them) in a fresh namespace
 * whose eth0 has `addresses` and which has an (empty) kube-ipvs0.
 */
export async function upstreamIpvsSync(bin: string, objects: KubeObject[], settings: HarnessSettings, addresses: string[]): Promise<UpstreamIpvsSync> {
  const lab = new NetnsLab('kpi');
  try {
    const ns = await lab.netns('node');
    // This kernel has no dummy links; upstream only checks that kube-ipvs0 exists, any type does.
    await ns.exec(['ip', 'link', 'add', 'kube-ipvs0', 'type', 'bridge']);
    await ns.exec(['ip', 'link', 'add', 'eth0', 'type', 'bridge']);
    for (const a of addresses) await ns.exec(['ip', 'addr', 'add', a.includes(':') ? `${a}/64` : `${a}/24`, 'dev', 'eth0']);
    const r = await ns.exec([bin], { input: JSON.stringify({ items: objects, settings }), allowFail: true, timeoutMs: 120_000 });
    if (r.code !== 0) throw new Error(`the upstream IPVS harness failed (${r.code}): ${r.stderr.trim().split('\n').slice(-5).join(' | ')}`);
    const out = JSON.parse(r.stdout) as { restore: string; ipvs: string[] | null };
    const addr = await ns.exec(['ip', '-o', 'addr', 'show', 'dev', 'kube-ipvs0']);
    return {
      restore: out.restore,
      ipvs: out.ipvs ?? [],
      ipsetSave: (await ns.exec(['ipset', 'save'])).stdout,
      addresses: [...addr.stdout.matchAll(/\binet6? ([0-9a-fA-F:.]+)\//g)].map((m) => m[1]!).sort(),
      iptablesSave: (await ns.exec(['iptables-save'])).stdout,
    };
  } finally {
    await lab.dispose();
  }
}

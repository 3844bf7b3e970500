// The IPVS golden cases: cases/<name>/ holds flags (svclab proxy render's), state.json (the
// objects as the API server returned them) and expected.txt (upstream's sync, canonical);
// the state's source is cases/<name>/state.yaml or the file named in cases/<name>/source.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeObject } from '../../../runner/kube/state-file.ts';
import type { HarnessSettings } from './upstream.ts';

export const casesDir = new URL('./cases', import.meta.url).pathname;
export const repoRoot = new URL('../../..', import.meta.url).pathname;

export function caseNames(): string[] {
  return readdirSync(casesDir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
}

export function caseFlags(name: string): string[] {
  return readFileSync(join(casesDir, name, 'flags'), 'utf8').trim().split(/\s+/).filter(Boolean);
}

export function caseSource(name: string): string {
  const own = join(casesDir, name, 'state.yaml');
  return existsSync(own) ? own : join(repoRoot, readFileSync(join(casesDir, name, 'source'), 'utf8').trim());
}

export function caseState(name: string): KubeObject[] {
  return (JSON.parse(readFileSync(join(casesDir, name, 'state.json'), 'utf8')) as { items: KubeObject[] }).items;
}

/** Upstream's settings for the same flags, and the addresses of the node's interfaces. */
export function harnessSettingsFor(flags: string[], objects: KubeObject[]): { settings: HarnessSettings; addresses: string[] } {
  const value = (name: string) => flags.filter((f) => f.startsWith(`--${name}=`)).map((f) => f.slice(name.length + 3));
  const nodeName = value('hostname-override')[0] ?? '';
  const node = objects.find((o) => o.kind === 'Node' && o.metadata.name === nodeName) as (KubeObject & { status?: { addresses?: { type: string; address: string }[] } }) | undefined;
  const nodeAddrs = ['InternalIP', 'ExternalIP'].flatMap((t) => (node?.status?.addresses ?? []).filter((a) => a.type === t).map((a) => a.address));
  const nodeIPs = value('node-ip');
  return {
    settings: {
      nodeName,
      // Upstream's node IP comes from the Node object (loopback without one).
      nodeIP: nodeAddrs.find((a) => !a.includes(':')) ?? '127.0.0.1',
      clusterCIDR: value('cluster-cidr')[0] ?? '',
      masqueradeAll: flags.includes('--masquerade-all') || value('masquerade-all')[0] === 'true',
      masqueradeBit: Number(value('iptables-masquerade-bit')[0] ?? 14),
      nodePortAddresses: value('nodeport-addresses').flatMap((v) => v.split(',')),
      scheduler: value('ipvs-scheduler')[0] ?? '',
    },
    // svclab's render takes --node-ip, else the Node object's addresses, as the interfaces'.
    addresses: nodeIPs.length ? nodeIPs : nodeAddrs,
  };
}

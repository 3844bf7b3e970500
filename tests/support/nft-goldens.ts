// The nftables golden cases: every case of tests/golden/proxy (shared with iptables mode;
// the ip table is compared, the API server's default ServiceCIDR 10.96.0.0/16 applies)
// and the nftables-only cases of tests/golden/proxy-nftables (dual-stack: they carry their
// ServiceCIDR in state.yaml, the control plane is started with it, and both the ip and
// the ip6 tables are compared).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseState } from '../../runner/kube/state-file.ts';
import { DEFAULT_SERVICE_CIDR_YAML } from './nft.ts';

export interface NftGoldenCase {
  /** "overall", "proxy-nftables/dual-stack". */
  name: string;
  dir: string;
  flags: string;
  families: ('ip' | 'ip6')[];
  /** What the API server's ServiceCIDRs hold (its --service-cluster-ip-range). */
  serviceCIDRs: string[];
  /** state.yaml as a render needs it: with the ServiceCIDRs the API server adds. */
  renderState: string;
  /** Written by hand (the API server refuses its objects): no upstream run. */
  byHand: boolean;
}

const root = new URL('../..', import.meta.url).pathname;

function serviceCIDRsIn(text: string, source: string): string[] {
  return parseState(text, source)
    .filter((o) => o.kind === 'ServiceCIDR')
    .flatMap((o) => ((o as { spec?: { cidrs?: string[] } }).spec?.cidrs ?? []));
}

export function nftablesGoldenCases(): NftGoldenCase[] {
  const out: NftGoldenCase[] = [];
  for (const [sub, prefix] of [['tests/golden/proxy', ''], ['tests/golden/proxy-nftables', 'proxy-nftables/']] as const) {
    const base = join(root, sub);
    if (!existsSync(base)) continue;
    for (const d of readdirSync(base, { withFileTypes: true })) {
      if (!d.isDirectory()) continue;
      const dir = join(base, d.name);
      const state = readFileSync(join(dir, 'state.yaml'), 'utf8');
      const own = serviceCIDRsIn(state, join(dir, 'state.yaml'));
      out.push({
        name: prefix + d.name,
        dir,
        flags: readFileSync(join(dir, 'flags'), 'utf8').trim(),
        families: prefix ? ['ip', 'ip6'] : ['ip'],
        serviceCIDRs: own.length ? own : ['10.96.0.0/16'],
        renderState: own.length ? state : `${state.trimEnd()}\n${DEFAULT_SERVICE_CIDR_YAML}`,
        byHand: existsSync(join(dir, 'by-hand')),
      });
    }
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : 1));
}

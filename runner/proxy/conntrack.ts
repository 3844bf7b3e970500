// Deletes stale UDP conntrack entries with Debian's conntrack tool (upstream uses netlink).
import { parseConntrackList, staleUDPFilters } from '../core/proxy/conntrack.ts';
import type { EndpointInfo } from '../core/proxy/endpoints.ts';
import type { ServicePortInfo } from '../core/proxy/service-port.ts';
import type { Exec } from './exec.ts';

/** Returns how many entries were deleted. */
export async function cleanStaleUDPEntries(exec: Exec, family: 'IPv4' | 'IPv6', servicePorts: ServicePortInfo[], endpointsFor: (key: string) => EndpointInfo[]): Promise<number> {
  const fam = family === 'IPv4' ? 'ipv4' : 'ipv6';
  const list = await exec('conntrack', ['-L', '-p', 'udp', '-f', fam], { allowFailure: true, timeoutMs: 60_000 });
  if (list.code !== 0) throw new Error(`conntrack -L failed: ${list.stderr.trim()}`);
  let deleted = 0;
  for (const f of staleUDPFilters(parseConntrackList(list.stdout), servicePorts, endpointsFor)) {
    const args = ['-D', '-p', 'udp', '-f', fam, ...(f.kind === 'ip-port' ? ['--orig-dst', f.origDst] : []), '--orig-port-dst', String(f.origDport), '--reply-src', f.replySrc, '--reply-port-src', String(f.replySport)];
    const r = await exec('conntrack', args, { allowFailure: true, timeoutMs: 60_000 });
    // conntrack -D exits 1 when nothing matched (already gone).
    const m = /(\d+) flow entries have been deleted/.exec(r.stderr);
    if (m) deleted += Number(m[1]);
  }
  return deleted;
}

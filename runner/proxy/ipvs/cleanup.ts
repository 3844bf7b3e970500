// Upstream `kube-proxy --cleanup` for the IPVS mode (CleanupLeftovers): every virtual
// server, the kube-ipvs0 dummy interface, the mode's jump rules and chains, then its ipsets
// (last: the kernel refuses to destroy a set that iptables still references).
// Unlike upstream, which gives up entirely on a kernel without ip_vs, only the virtual
// servers are skipped there: the rest can be left over on any kernel.
import { IPSET_INFO, IPVS_CHAINS, IPVS_JUMP_CHAINS, KUBE_IPVS_IPS, DUMMY_DEVICE, ipsetName } from '../../core/proxy/ipvs/names.ts';
import { hostPrefix, ipBatch } from '../../core/proxy/ipvs/interface.ts';
import { parseIpsetSave } from '../../core/proxy/ipvs/ipset.ts';
import { parseIpvsSave } from '../../core/proxy/ipvs/virtual-servers.ts';
import { jumpRuleText } from '../../core/proxy/chains.ts';
import { parseSaveTables } from '../../core/proxy/jump-rules.ts';
import { oneLine } from '../../errors.ts';
import type { Iptables } from '../iptables.ts';
import { ipvsInKernel, type IpLinks, type Ipset, type Ipvsadm } from './tools.ts';
import type { Exec } from '../exec.ts';

export interface CleanupTools {
  exec: Exec;
  iptables: Iptables;
  ipvsadm: Ipvsadm;
  ipset: Ipset;
  links: IpLinks;
}

/** Returns a line per thing removed; throws after trying everything when something could not be removed. */
export async function cleanupIpvs(t: CleanupTools): Promise<string[]> {
  const removed: string[] = [];
  const failed: string[] = [];
  const attempt = async (what: string, f: () => Promise<void>) => {
    try {
      await f();
      removed.push(what);
    } catch (err) {
      failed.push(`${what}: ${oneLine(err)}`);
    }
  };

  if (await ipvsInKernel(t.exec)) {
    const services = parseIpvsSave(await t.ipvsadm.save()).size;
    if (services > 0) await attempt(`flushed ${services} IPVS virtual server${services === 1 ? '' : 's'} (ipvsadm -C)`, () => t.ipvsadm.clear());
  }

  // The addresses kube-proxy bound are the KUBE-IPVS-IPS set's entries: read them before the sets go.
  const sets = parseIpsetSave(await t.ipset.save().catch(() => ''));
  const type = await t.links.deviceType();
  if (type === 'dummy') {
    await attempt(`deleted the ${DUMMY_DEVICE} dummy interface`, () => t.links.deleteDevice());
  } else if (type !== null) {
    // Upstream deletes only a dummy device of that name; this one is someone else's.
    const bound = new Set((await t.links.addresses()).get(DUMMY_DEVICE) ?? []);
    for (const name of [KUBE_IPVS_IPS, ipsetName(KUBE_IPVS_IPS, 'IPv6')]) {
      for (const address of sets.get(name)?.entries ?? []) {
        if (bound.has(address)) await attempt(`unbound ${hostPrefix(address)} from ${DUMMY_DEVICE} (a ${type} device, not a dummy: left in place)`, () => t.links.batch(`${ipBatch.unbind(address)}\n`));
      }
    }
  }

  const saved = parseSaveTables(await t.iptables.save());
  for (const j of IPVS_JUMP_CHAINS) {
    const rule = `${j.srcChain} ${jumpRuleText(j)}`;
    if (!saved.get(j.table)?.rules.has(rule)) continue;
    await attempt(`${j.table}: rule -A ${rule}`, () => t.iptables.deleteRule(j.table, j.srcChain, ['-m', 'comment', '--comment', j.comment, '-j', j.dstChain]));
  }
  // Flushing every chain first also removes the jumps between them.
  const present = IPVS_CHAINS.filter((c) => saved.get(c.table)?.chains.has(c.chain));
  for (const table of ['nat', 'filter'] as const) {
    const chains = present.filter((c) => c.table === table).map((c) => `:${c.chain} - [0:0]`);
    if (chains.length) await t.iptables.restoreAll(`*${table}\n${chains.join('\n')}\nCOMMIT\n`).catch((err: Error) => failed.push(`flushing ${table} chains: ${oneLine(err)}`));
  }
  for (const c of present) await attempt(`${c.table}: chain ${c.chain}`, () => t.iptables.deleteChain(c.table, c.chain));

  const ours = new Set(IPSET_INFO.flatMap((i) => [i.name, ipsetName(i.name, 'IPv6')]));
  for (const name of sets.keys()) if (ours.has(name)) await attempt(`ipset ${name}`, () => t.ipset.destroy(name));

  if (failed.length) throw new Error(`IPVS cleanup left ${failed.length} thing(s): ${failed.join('; ')}${removed.length ? ` (removed: ${removed.join('; ')})` : ''}`);
  return removed;
}

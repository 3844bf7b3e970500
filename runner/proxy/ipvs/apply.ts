// The steps of an IPVS sync that touch the node besides IPVS itself, each from one read of
// the node's state: the jump rules, kube-ipvs0 and its addresses, the ipsets.
import type { IPFamily } from '../../core/proxy/ip.ts';
import { planAddresses, validForFamily, type AddressPlan } from '../../core/proxy/ipvs/interface.ts';
import { parseIpsetSave, planIpsetRestore, type IpsetPlan, type IpsetSpec } from '../../core/proxy/ipvs/ipset.ts';
import { DUMMY_DEVICE, IPVS_JUMP_CHAINS } from '../../core/proxy/ipvs/names.ts';
import type { NodeAddressView } from '../../core/proxy/ipvs/options.ts';
import { parseSaveTables, planJumpRules } from '../../core/proxy/jump-rules.ts';
import type { Iptables } from '../iptables.ts';
import type { IpLinks, Ipset } from './tools.ts';

/** Upstream createAndLinkKubeChain (EnsureChain + EnsureRule per jump), from one iptables-save; returns the rules it added. */
export async function ensureJumpRules(iptables: Iptables): Promise<string[]> {
  const plan = planJumpRules(parseSaveTables(await iptables.save()), IPVS_JUMP_CHAINS);
  if (plan.text) await iptables.restoreAll(plan.text);
  return plan.missingRules;
}

/** Upstream EnsureDummyDevice: any existing kube-ipvs0 will do; else a dummy is created. */
export async function ensureDevice(links: IpLinks): Promise<void> {
  if ((await links.deviceType()) === null) await links.createDummy();
}

export interface NodeAddresses extends NodeAddressView {
  /** This family's addresses on kube-ipvs0 now. */
  bound: string[];
}

export async function readAddresses(links: IpLinks, family: IPFamily): Promise<NodeAddresses> {
  const byDevice = await links.addresses();
  const valid = (list: string[]) => list.map((a) => validForFamily(a, family)).filter((a): a is string => a !== null);
  return {
    bound: valid(byDevice.get(DUMMY_DEVICE) ?? []),
    others: valid([...byDevice].filter(([dev]) => dev !== DUMMY_DEVICE).flatMap(([, a]) => a)),
    all: [...byDevice.values()].flat(),
  };
}

export function addressPlan(wanted: string[], now: NodeAddresses): AddressPlan {
  return planAddresses(wanted, now.bound);
}

/** Upstream ensureIPSet + syncIPSetEntries for every set, as one `ipset restore -exist`. */
export async function syncIpsets(ipset: Ipset, wanted: IpsetSpec[]): Promise<IpsetPlan> {
  const plan = planIpsetRestore(wanted, parseIpsetSave(await ipset.save()));
  await ipset.restore(plan.text);
  return plan;
}

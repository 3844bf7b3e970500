// Upstream's iptables CleanupLeftovers (pkg/proxy/iptables, `kube-proxy --cleanup`), as
// one iptables-restore --noflush input decided from iptables-save output: unlink the
// jump rules from the built-in chains, then flush and delete kube-proxy's own nat and
// filter chains and every per-service chain. kubelet's chains (KUBE-FIREWALL,
// KUBE-KUBELET-CANARY, KUBE-IPTABLES-HINT) and everything else stay.
import {
  JUMP_CHAINS, KUBE_EXTERNAL_SERVICES, KUBE_FORWARD, KUBE_MARK_MASQ, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_PROXY_CANARY, KUBE_PROXY_FIREWALL, KUBE_SERVICES,
  isServiceChainName, jumpRuleText,
} from './chains.ts';
import type { SavedTable } from './jump-rules.ts';

const OWN_CHAINS: Record<'nat' | 'filter', string[]> = {
  nat: [KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ, KUBE_PROXY_CANARY],
  filter: [KUBE_SERVICES, KUBE_EXTERNAL_SERVICES, KUBE_FORWARD, KUBE_NODEPORTS, KUBE_PROXY_FIREWALL, KUBE_PROXY_CANARY],
};

export interface CleanupPlan {
  /** iptables-restore --noflush input; "" when there is nothing to remove. */
  text: string;
  /** One line per rule or chain removed, "nat/KUBE-SVC-…" or "filter/INPUT -> KUBE-NODEPORTS". */
  removed: string[];
}

export function planIptablesCleanup(saved: Map<string, SavedTable>): CleanupPlan {
  const removed: string[] = [];
  const out: string[] = [];
  for (const table of ['filter', 'nat'] as const) {
    const t = saved.get(table);
    if (!t) continue;
    const deletes: string[] = [];
    for (const j of JUMP_CHAINS.filter((j) => j.table === table)) {
      const rule = `${j.srcChain} ${jumpRuleText(j)}`;
      if (!t.rules.has(rule)) continue;
      deletes.push(`-D ${rule}`);
      removed.push(`${table}/${j.srcChain} -> ${j.dstChain}`);
    }
    const own = new Set(OWN_CHAINS[table]);
    const chains = [...t.chains].filter((c) => own.has(c) || (table === 'nat' && isServiceChainName(c)));
    chains.sort((a, b) => Number(isServiceChainName(a)) - Number(isServiceChainName(b)) || (a < b ? -1 : a > b ? 1 : 0));
    if (deletes.length === 0 && chains.length === 0) continue;
    out.push(`*${table}`, ...chains.map((c) => `:${c} - [0:0]`), ...deletes, ...chains.map((c) => `-X ${c}`), 'COMMIT');
    removed.push(...chains.map((c) => `${table}/${c}`));
  }
  if (saved.get('mangle')?.chains.has(KUBE_PROXY_CANARY)) {
    out.push('*mangle', `:${KUBE_PROXY_CANARY} - [0:0]`, `-X ${KUBE_PROXY_CANARY}`, 'COMMIT');
    removed.push(`mangle/${KUBE_PROXY_CANARY}`);
  }
  return { text: out.length ? `${out.join('\n')}\n` : '', removed };
}

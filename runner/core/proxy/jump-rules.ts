// kube-proxy's jump rules from built-in chains (upstream: EnsureChain + EnsureRule(Prepend)
// for each of JUMP_CHAINS on every full sync, two iptables commands per rule), decided
// from one iptables-save instead: what is missing, and the iptables-restore --noflush
// input that adds exactly that. The resulting rules are the same as upstream's: missing
// chains are created empty, missing rules are inserted at the top in the same order.
import { jumpRuleText, type JumpChain } from './chains.ts';

export interface SavedTable {
  chains: Set<string>;
  /** Rules as iptables-save prints them, without "-A ": "INPUT -j KUBE-FIREWALL". */
  rules: Set<string>;
}

/** The chains and rules of every table in iptables-save output (packet counters ignored). */
export function parseSaveTables(text: string): Map<string, SavedTable> {
  const tables = new Map<string, SavedTable>();
  let current: SavedTable | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim().replace(/^\[\d+:\d+\]\s+/, '');
    if (line.startsWith('*')) {
      const name = line.slice(1);
      current = tables.get(name) ?? { chains: new Set(), rules: new Set() };
      tables.set(name, current);
    } else if (!current || line === '' || line.startsWith('#')) {
      continue;
    } else if (line === 'COMMIT') {
      current = null;
    } else if (line.startsWith(':')) {
      current.chains.add(line.slice(1).split(/\s/)[0]!);
    } else if (line.startsWith('-A ')) {
      current.rules.add(line.slice(3).replace(/\s+/g, ' '));
    }
  }
  return tables;
}

export interface JumpRulesPlan {
  /** "table/chain" of each chain to create. */
  missingChains: string[];
  /** "table/srcChain -> dstChain" of each rule to insert. */
  missingRules: string[];
  /** iptables-restore --noflush input that creates them, or "" when nothing is missing. */
  text: string;
}

/**
 * What to add so that every jump rule exists, given the current tables. A chain is
 * declared only when it does not exist (declaring an existing chain would flush it);
 * each missing rule is inserted with -I, in the list's order, like upstream's commands.
 */
export function planJumpRules(saved: Map<string, SavedTable>, jumps: JumpChain[]): JumpRulesPlan {
  const perTable = new Map<string, { chains: string[]; rules: string[] }>();
  const missingChains: string[] = [];
  const missingRules: string[] = [];
  for (const j of jumps) {
    const have = saved.get(j.table);
    let out = perTable.get(j.table);
    if (!out) perTable.set(j.table, (out = { chains: [], rules: [] }));
    if (!have?.chains.has(j.dstChain) && !out.chains.includes(j.dstChain)) {
      out.chains.push(j.dstChain);
      missingChains.push(`${j.table}/${j.dstChain}`);
    }
    const rule = `${j.srcChain} ${jumpRuleText(j)}`;
    if (!have?.rules.has(rule) && !out.rules.includes(rule)) {
      out.rules.push(rule);
      missingRules.push(`${j.table}/${j.srcChain} -> ${j.dstChain}`);
    }
  }
  const lines: string[] = [];
  for (const [table, out] of perTable) {
    if (out.chains.length === 0 && out.rules.length === 0) continue;
    lines.push(`*${table}`, ...out.chains.map((c) => `:${c} - [0:0]`), ...out.rules.map((r) => `-I ${r}`), 'COMMIT');
  }
  return { missingChains, missingRules, text: lines.length ? `${lines.join('\n')}\n` : '' };
}

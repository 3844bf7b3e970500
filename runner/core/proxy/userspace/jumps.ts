// From one iptables-save: what to add so the userspace jump rules exist (upstream ensured
// each with `iptables -C` and `-I`/`-A` on every sync), and what to delete to remove every
// trace of the mode (upstream CleanupLeftovers: the jump rules, then flush and delete the
// chains), each as one iptables-restore --noflush input.
import { jumpRuleText } from '../chains.ts';
import { USERSPACE_CHAINS, USERSPACE_JUMPS, type UserspaceJump } from './chains.ts';

interface SavedRules {
  chains: Set<string>;
  /** Each "-A …" line, spaces normalised, in order (duplicates kept). */
  rules: string[];
}

/** The chains and "-A" lines of each table of an iptables-save output (counters dropped). */
export function parseSave(text: string): Map<string, SavedRules> {
  const tables = new Map<string, SavedRules>();
  let current: SavedRules | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim().replace(/^\[\d+:\d+\]\s+/, '');
    if (line.startsWith('*')) {
      const name = line.slice(1);
      current = tables.get(name) ?? { chains: new Set(), rules: [] };
      tables.set(name, current);
    } else if (!current || line === '' || line.startsWith('#')) {
      continue;
    } else if (line === 'COMMIT') {
      current = null;
    } else if (line.startsWith(':')) {
      current.chains.add(line.slice(1).split(/\s/)[0]!);
    } else if (line.startsWith('-A ')) {
      current.rules.push(line.replace(/\s+/g, ' '));
    }
  }
  return tables;
}

/** Per table: chain declarations (they come first), then rule lines. */
type TableLines = Map<string, { chains: string[]; rules: string[] }>;

function linesOf(lines: TableLines, table: string) {
  let l = lines.get(table);
  if (!l) lines.set(table, (l = { chains: [], rules: [] }));
  return l;
}

function group(lines: TableLines): string {
  const out: string[] = [];
  for (const table of ['filter', 'nat']) {
    const l = lines.get(table);
    if (l && l.chains.length + l.rules.length > 0) out.push(`*${table}`, ...l.chains.map((c) => `:${c} - [0:0]`), ...l.rules, 'COMMIT');
  }
  return out.length ? `${out.join('\n')}\n` : '';
}

export interface JumpPlan {
  /** "table/srcChain -> dstChain" of each rule to add. */
  missing: string[];
  text: string;
}

/** Adds each missing chain (empty) and jump rule, at the top or bottom as upstream did. */
export function planUserspaceJumps(saveText: string, jumps: UserspaceJump[] = USERSPACE_JUMPS): JumpPlan {
  const saved = parseSave(saveText);
  const lines: TableLines = new Map();
  const missing: string[] = [];
  for (const j of jumps) {
    const have = saved.get(j.table);
    const l = linesOf(lines, j.table);
    if (!have?.chains.has(j.dstChain) && !l.chains.includes(j.dstChain)) l.chains.push(j.dstChain);
    const rule = `${j.srcChain} ${jumpRuleText(j)}`;
    if (!have?.rules.includes(`-A ${rule}`)) {
      l.rules.push(`${j.position} ${rule}`);
      missing.push(`${j.table}/${j.srcChain} -> ${j.dstChain}`);
    }
  }
  return { missing, text: group(lines) };
}

export interface CleanupPlan {
  /** What is removed, one line each: "nat: -A PREROUTING … -j KUBE-PORTALS-CONTAINER", "nat: chain KUBE-PORTALS-CONTAINER". */
  removed: string[];
  text: string;
}

const JUMP_TARGET = new RegExp(` -j (${USERSPACE_CHAINS.join('|')})(?: |$)`);

/**
 * Deletes every rule that jumps to one of the mode's chains (upstream's exact jump rules,
 * and any other rule that would keep a chain from being deleted), then flushes and deletes
 * the chains. Nothing else is touched.
 */
export function planUserspaceCleanup(saveText: string): CleanupPlan {
  const saved = parseSave(saveText);
  const removed: string[] = [];
  const lines: TableLines = new Map();
  for (const [table, t] of saved) {
    const l = linesOf(lines, table);
    for (const rule of t.rules) {
      const chain = rule.split(' ')[1]!;
      if (USERSPACE_CHAINS.includes(chain) || !JUMP_TARGET.test(rule)) continue;
      l.rules.push(`-D${rule.slice(2)}`);
      removed.push(`${table}: ${rule}`);
    }
    for (const chain of USERSPACE_CHAINS) {
      if (!t.chains.has(chain)) continue;
      // Declaring a chain with --noflush flushes it; then it can be deleted.
      l.chains.push(chain);
      l.rules.push(`-X ${chain}`);
      removed.push(`${table}: chain ${chain}`);
    }
  }
  return { removed, text: group(lines) };
}

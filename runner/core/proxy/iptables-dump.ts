// iptables-save / iptables-restore text: parsing, printing, upstream's canonical sort
// (sortIPTablesRules in proxier_test.go) and its jump consistency check.
import { KUBE_EXTERNAL_SERVICES, KUBE_FIREWALL, KUBE_FORWARD, KUBE_MARK_MASQ, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_PROXY_FIREWALL, KUBE_SERVICES } from './chains.ts';

export interface DumpRule {
  /** The line as written, trimmed. */
  raw: string;
  chain: string;
  /** Words after "-A CHAIN", quotes removed. */
  args: string[];
  /** 1-based line number in the parsed text. */
  line: number;
}

export interface DumpChain {
  name: string;
  /** "-" for user chains, the policy (ACCEPT, DROP) for built-in ones. */
  policy: string;
  packets: number;
  bytes: number;
  rules: DumpRule[];
  deleted: boolean;
}

export interface DumpTable {
  name: string;
  chains: DumpChain[];
}

export interface Dump {
  tables: DumpTable[];
}

export class DumpParseError extends Error {
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(`line ${line}: ${message}`);
  }
}

/** Splits an iptables rule into words; "quoted strings" (with \" escapes) are one word. */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let i = 0;
  while (i < line.length) {
    while (i < line.length && /\s/.test(line[i]!)) i++;
    if (i >= line.length) break;
    let word = '';
    if (line[i] === '"') {
      i++;
      while (i < line.length && line[i] !== '"') {
        if (line[i] === '\\' && i + 1 < line.length) i++;
        word += line[i++];
      }
      i++;
    } else {
      while (i < line.length && !/\s/.test(line[i]!)) word += line[i++];
    }
    words.push(word);
  }
  return words;
}

export function parseDump(text: string): Dump {
  const dump: Dump = { tables: [] };
  let table: DumpTable | null = null;
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!.trim();
    const lineNo = n + 1;
    if (line === '' || line.startsWith('#')) continue;
    if (!table) {
      if (!line.startsWith('*')) throw new DumpParseError(`expected a table ("*nat", "*filter"…), got ${JSON.stringify(line)}`, lineNo);
      table = { name: line.slice(1), chains: [] };
      dump.tables.push(table);
      continue;
    }
    if (line === 'COMMIT') {
      table = null;
      continue;
    }
    if (line.startsWith(':')) {
      const m = /^:(\S+) (\S+)(?: \[(\d+):(\d+)\])?$/.exec(line);
      if (!m) throw new DumpParseError(`bad chain declaration ${JSON.stringify(line)}`, lineNo);
      const existing = table.chains.find((c) => c.name === m[1]);
      if (existing) continue;
      table.chains.push({ name: m[1]!, policy: m[2]!, packets: Number(m[3] ?? 0), bytes: Number(m[4] ?? 0), rules: [], deleted: false });
      continue;
    }
    const words = splitWords(line);
    if (words[0] === '-A' && words.length >= 2) {
      const chain = table.chains.find((c) => c.name === words[1]);
      if (!chain) throw new DumpParseError(`rule for undeclared chain ${words[1]} in table ${table.name}`, lineNo);
      if (chain.deleted) throw new DumpParseError(`rule for deleted chain ${words[1]}`, lineNo);
      chain.rules.push({ raw: line, chain: chain.name, args: words.slice(2), line: lineNo });
    } else if (words[0] === '-X' && words.length === 2) {
      const chain = table.chains.find((c) => c.name === words[1]);
      if (!chain) throw new DumpParseError(`deleting undeclared chain ${words[1]}`, lineNo);
      if (chain.rules.length > 0) throw new DumpParseError(`cannot delete chain ${words[1]} after adding rules`, lineNo);
      chain.deleted = true;
    } else {
      throw new DumpParseError(`cannot parse ${JSON.stringify(line)}`, lineNo);
    }
  }
  if (table) throw new DumpParseError(`table ${table.name} has no COMMIT line`, lines.length);
  return dump;
}

export function printDump(dump: Dump): string {
  let out = '';
  for (const t of dump.tables) {
    out += `*${t.name}\n`;
    for (const c of t.chains) out += `:${c.name} ${c.policy} [${c.packets}:${c.bytes}]\n`;
    for (const c of t.chains) for (const r of c.rules) out += `${r.raw}\n`;
    for (const c of t.chains) if (c.deleted) out += `-X ${c.name}\n`;
    out += 'COMMIT\n';
  }
  return out;
}

export function findChain(dump: Dump, table: string, chain: string): DumpChain | undefined {
  return dump.tables.find((t) => t.name === table)?.chains.find((c) => c.name === chain);
}

/** The value after the first "--comment" word, if any. */
export function ruleComment(r: DumpRule): string | undefined {
  const i = r.args.indexOf('--comment');
  return i >= 0 ? r.args[i + 1] : undefined;
}

function serviceNameOf(r: DumpRule): string | undefined {
  const c = ruleComment(r);
  if (c === undefined) return undefined;
  const i = c.search(/[ :]/);
  return i === -1 ? c : c.slice(0, i);
}

function byServiceName(a: DumpRule, b: DumpRule): number {
  const x = serviceNameOf(a);
  const y = serviceNameOf(b);
  if (x === undefined || y === undefined) return 0;
  return x < y ? -1 : x > y ? 1 : 0;
}

function chainOrder(a: string, b: string): number {
  const rank = (n: string) => (n === KUBE_NODEPORTS ? 0 : n === KUBE_SERVICES ? 1 : n.startsWith('KUBE-') ? 2 : 3);
  const d = rank(a) - rank(b);
  if (d !== 0) return d;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Upstream's canonical order, which ignores the order Services happen to be written in:
 * tables by name; KUBE-NODEPORTS, KUBE-SERVICES, other KUBE-* chains, then the rest,
 * alphabetically; rules of KUBE-NODEPORTS and KUBE-SERVICES stably by service name (the
 * nodeports jump stays last); all other rules as written.
 */
export function sortDump(dump: Dump): Dump {
  const tables = dump.tables.map((t) => ({ name: t.name, chains: t.chains.map((c) => ({ ...c, rules: [...c.rules] })) }));
  tables.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const t of tables) {
    t.chains.sort((a, b) => chainOrder(a.name, b.name));
    for (const c of t.chains) {
      if (c.name === KUBE_NODEPORTS || (c.name === KUBE_SERVICES && t.name === 'filter')) c.rules.sort(byServiceName);
      else if (c.name === KUBE_SERVICES && t.name === 'nat') {
        const last = (r: DumpRule) => (ruleComment(r) ?? '').includes('must be the last rule');
        c.rules.sort((a, b) => (last(a) && !last(b) ? 1 : last(b) && !last(a) ? -1 : last(a) ? 0 : byServiceName(a, b)));
      }
    }
  }
  return { tables };
}

export function sortRulesText(text: string): string {
  return printDump(sortDump(parseDump(text)));
}

/** The chains whose rules upstream writes service port by service port, in Go map order. */
const PER_SERVICE_CHAINS: Record<string, Set<string>> = {
  filter: new Set([KUBE_SERVICES, KUBE_EXTERNAL_SERVICES, KUBE_NODEPORTS, KUBE_PROXY_FIREWALL]),
  nat: new Set([KUBE_SERVICES, KUBE_NODEPORTS]),
};

/**
 * upstream's canonical sort, and then the chains upstream fills in service map order
 * ordered by service port ("ns/svc:port", the comment up to its first space), keeping the
 * order within one port and the nodeports rule last. For comparing with a real upstream
 * run: its sort orders by service only, so two ports of one Service (tcp and udp) come in
 * whichever order Go's map iteration gave that run.
 */
export function sortRulesTextByServicePort(text: string): string {
  const dump = sortDump(parseDump(text));
  for (const t of dump.tables) {
    for (const c of t.chains) {
      if (!PER_SERVICE_CHAINS[t.name]?.has(c.name)) continue;
      const key = (r: DumpRule) => {
        const comment = ruleComment(r) ?? '';
        if (comment.includes('must be the last rule')) return '\uffff';
        const i = comment.indexOf(' ');
        return i === -1 ? comment : comment.slice(0, i);
      };
      c.rules = c.rules.map((r, i) => ({ r, i, k: key(r) })).sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : a.i - b.i)).map((x) => x.r);
    }
  }
  return printDump(dump);
}

const BUILTIN_TARGETS = new Set(['ACCEPT', 'REJECT', 'DROP', 'MARK', 'RETURN', 'DNAT', 'SNAT', 'MASQUERADE']);
const UNJUMPED_OK = new Set([KUBE_SERVICES, KUBE_EXTERNAL_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_FORWARD, KUBE_MARK_MASQ, KUBE_PROXY_FIREWALL, KUBE_FIREWALL]);

/**
 * Upstream's checkIPTablesRuleJumps on restore input: every jump target and every chain
 * with rules is declared; every jumped-to chain (except KUBE-NODEPORTS) has rules; every
 * declared chain is used. Returns the problems found.
 */
export function checkRuleJumps(dump: Dump): string[] {
  const problems: string[] = [];
  for (const t of dump.tables) {
    const created = new Set(t.chains.filter((c) => !c.deleted).map((c) => c.name));
    const filled = new Set(t.chains.filter((c) => c.rules.length > 0).map((c) => c.name));
    const jumped = new Set<string>();
    for (const c of t.chains) {
      for (const r of c.rules) {
        const j = r.args.indexOf('-j');
        if (j >= 0 && r.args[j + 1] && !BUILTIN_TARGETS.has(r.args[j + 1]!)) jumped.add(r.args[j + 1]!);
      }
    }
    const missing = [...new Set([...jumped, ...filled])].filter((c) => !created.has(c));
    if (missing.length) problems.push(`chains in ${t.name} used but not created: ${missing.sort().join(', ')}`);
    const empty = [...jumped].filter((c) => !filled.has(c) && c !== KUBE_NODEPORTS);
    if (empty.length) problems.push(`chains in ${t.name} jumped to but without rules: ${empty.sort().join(', ')}`);
    const extra = [...created].filter((c) => !jumped.has(c) && !UNJUMPED_OK.has(c));
    if (extra.length) problems.push(`chains in ${t.name} created but not used: ${extra.sort().join(', ')}`);
  }
  return problems;
}

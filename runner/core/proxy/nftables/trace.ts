// A packet tracer over an nftables ruleset: walks a new connection's first packet through
// the netfilter hooks the way the kernel does — a locally generated packet through output
// and postrouting (and, when it is for this node, back in through prerouting and input on
// lo), an arriving one through prerouting, then input or forward and postrouting — running
// every base chain of each hook in priority order. Inside a chain it follows jump, goto and
// return, looks keys up in sets and verdict maps (saying which element matched), splits the
// path at `numgen random mod N` with probability 1/N per value, and records DNAT, the mark,
// the filter verdict and masquerading. The result has the iptables tracer's shape
// (TraceResult), so `--json` consumers draw either.
import { cidrContains, formatIP, isLoopback, isV4, joinHostPort, parseCIDR, parseIP, type IP } from '../ip.ts';
import type { TraceOptions, TraceOutcome, TracePacket, TraceResult, TraceStep } from '../trace.ts';
import { parseNumber, parseRuleText, type Element, type Expr, type Stmt, type Term, type ValueType, type Verdict } from './rule-expr.ts';
import type { NftChain, NftRule, NftRuleset, NftTable } from './ruleset.ts';

export interface NftTraceStep extends TraceStep {
  /** The table's family ("ip"); `table` is its name ("kube-proxy"). */
  family: string;
  /** The netfilter hook the packet was on. */
  hook: string;
}

export interface NftTraceResult extends TraceResult {
  mode: 'nftables';
}

type Hook = 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting';
type Manip = 'dst' | 'src';
type End = 'accept' | 'drop' | 'reject' | 'return' | null;

interface PState {
  daddr: IP;
  dport: number;
  mark: number;
  dnat: string | null;
  masquerade: boolean;
  /** NAT of this kind was settled for the connection (nat chains are consulted once per kind). */
  natDone: Readonly<Record<Manip, boolean>>;
  /** Keys this packet's own `update @set` / `add @set` statements put in a set. */
  added: ReadonlyMap<string, readonly string[]>;
  /** The value `numgen` gives in the rule being evaluated (each value is its own branch). */
  numgen: number | null;
}

interface Branch {
  st: PState;
  p: number;
  steps: NftTraceStep[];
  end: End;
}

type Atom = { t: 'ip'; ip: IP } | { t: 'n'; n: number } | { t: 's'; s: string[] };

const PROTOCOLS: Record<string, number> = { icmp: 1, igmp: 2, tcp: 6, udp: 17, dccp: 33, gre: 47, esp: 50, ah: 51, icmpv6: 58, sctp: 132, udplite: 136 };
const PROTOCOL_NAMES = Object.fromEntries(Object.entries(PROTOCOLS).map(([k, v]) => [v, k]));
const MAX_DEPTH = 64;

function protoNumber(s: string): number | null {
  return PROTOCOLS[s] ?? parseNumber(s);
}

function compareIP(a: IP, b: IP): number {
  for (let i = 0; i < 16; i++) if (a.bytes[i] !== b.bytes[i]) return a.bytes[i]! - b.bytes[i]!;
  return 0;
}

function formatAtom(a: Atom, type: ValueType): string {
  if (a.t === 'ip') return formatIP(a.ip);
  if (a.t === 's') return a.s.join(',');
  if (type === 'proto') return PROTOCOL_NAMES[a.n] ?? String(a.n);
  if (type === 'mark') return `0x${a.n.toString(16).padStart(8, '0')}`;
  return String(a.n);
}

/** The exact form of an element component for indexing, or null for prefixes, ranges and symbols. */
function canonicalText(text: string, type: ValueType): string | null {
  if (text.includes('/') || (text.includes('-') && type !== 'addr')) return null;
  switch (type) {
    case 'addr': {
      const ip = parseIP(text);
      return ip ? formatIP(ip) : null;
    }
    case 'proto': {
      const n = protoNumber(text);
      return n === null ? null : String(n);
    }
    case 'port':
    case 'mark':
    case 'number': {
      const n = parseNumber(text);
      return n === null ? null : String(n);
    }
    default:
      return null;
  }
}

function canonicalAtom(a: Atom): string | null {
  return a.t === 'ip' ? formatIP(a.ip) : a.t === 'n' ? String(a.n) : null;
}

function verdictOf(text: string): Verdict | null {
  const m = /^(accept|drop|return|continue|reject)$/.exec(text) ?? /^(jump|goto) (.+)$/.exec(text);
  if (!m) return null;
  return m[2] === undefined ? { verb: m[1] as Verdict['verb'] } : { verb: m[1] as 'jump' | 'goto', target: m[2] };
}

interface SetIndex {
  exact: Map<string, Element>;
  other: Element[];
}

class NftTracer {
  readonly notes = new Set<string>();
  private readonly local: IP[];
  private readonly v6: boolean;
  private readonly proto: number;
  private readonly tables: NftTable[];
  private readonly stmts = new Map<NftRule, Stmt[]>();
  private readonly indexes = new Map<readonly Element[], Map<string, SetIndex>>();
  private readonly outcomes: TraceOutcome[] = [];
  private hook: Hook = 'prerouting';

  constructor(
    ruleset: NftRuleset,
    private readonly pkt: TracePacket,
    private readonly opts: TraceOptions,
  ) {
    this.local = opts.localAddresses.map((a) => parseIP(a)).filter((x): x is IP => x !== null);
    const dst = parseIP(pkt.dst);
    this.v6 = dst !== null && !isV4(dst);
    this.proto = PROTOCOLS[pkt.proto]!;
    const family = this.v6 ? 'ip6' : 'ip';
    this.tables = ruleset.tables.filter((t) => t.family === family || t.family === 'inet');
    if (this.tables.length === 0) this.notes.add(`no ${family} or inet table in the rules: nothing changes the packet`);
  }

  isLocal(ip: IP): boolean {
    return isLoopback(ip) || this.local.some((l) => compareIP(l, ip) === 0);
  }

  ruleStmts(rule: NftRule): Stmt[] {
    let s = this.stmts.get(rule);
    if (!s) {
      s = parseRuleText(rule.text);
      this.stmts.set(rule, s);
    }
    return s;
  }

  /** A term's value for this packet; null when the selector does not apply (ip saddr of an IPv6 packet, tcp dport of UDP). */
  term(term: Term, st: PState): Atom | null {
    const sel = term.sel;
    let atom: Atom;
    switch (sel.kind) {
      case 'addr':
        if ((sel.family === 'ip6') !== this.v6) return null;
        atom = { t: 'ip', ip: sel.field === 'saddr' ? parseIP(this.pkt.src)! : st.daddr };
        break;
      case 'l4proto':
        if (sel.family !== null && (sel.family === 'ip6') !== this.v6) return null;
        atom = { t: 'n', n: this.proto };
        break;
      case 'port':
        if (sel.proto !== null && PROTOCOLS[sel.proto] !== this.proto) return null;
        if (sel.field === 'dport') atom = { t: 'n', n: st.dport };
        else if (this.pkt.sport === undefined) {
          this.notes.add('a rule matches on the source port; give --sport to evaluate it (assumed not to match)');
          return null;
        } else atom = { t: 'n', n: this.pkt.sport };
        break;
      case 'mark':
        atom = { t: 'n', n: st.mark };
        break;
      case 'ct':
        atom = { t: 's', s: sel.field === 'state' ? ['new'] : [...(st.dnat ? ['dnat'] : []), ...(st.masquerade ? ['snat'] : [])] };
        break;
      case 'nfproto':
        atom = { t: 's', s: [this.v6 ? 'ipv6' : 'ipv4'] };
        break;
      case 'ethertype':
        atom = { t: 's', s: [this.v6 ? 'ip6' : 'ip'] };
        break;
      case 'fib':
        atom = { t: 's', s: [this.isLocal(sel.addr === 'saddr' ? parseIP(this.pkt.src)! : st.daddr) ? 'local' : 'unicast'] };
        break;
      case 'numgen':
        atom = { t: 'n', n: st.numgen ?? sel.offset };
        break;
    }
    if (atom.t === 'n') {
      let n = atom.n;
      for (const { op, value } of term.ops) n = (op === '&' ? n & value : op === '|' ? n | value : n ^ value) >>> 0;
      atom = { t: 'n', n };
    }
    return atom;
  }

  expr(expr: Expr, st: PState): Atom[] | null {
    const out: Atom[] = [];
    for (const t of expr.terms) {
      const a = this.term(t, st);
      if (a === null) return null;
      out.push(a);
    }
    return out;
  }

  /** Does one element component (text) hold the value? */
  component(a: Atom, type: ValueType, text: string): boolean {
    if (a.t === 's') return a.s.includes(text);
    if (a.t === 'ip') {
      if (text.includes('/')) {
        const c = parseCIDR(text);
        return c !== null && cidrContains(c, a.ip);
      }
      const dash = text.indexOf('-');
      if (dash > 0) {
        const lo = parseIP(text.slice(0, dash));
        const hi = parseIP(text.slice(dash + 1));
        return lo !== null && hi !== null && compareIP(a.ip, lo) >= 0 && compareIP(a.ip, hi) <= 0;
      }
      const ip = parseIP(text);
      if (!ip) this.notes.add(`"${text}" is not an address (compared as not matching)`);
      return ip !== null && compareIP(ip, a.ip) === 0;
    }
    const num = (s: string) => (type === 'proto' ? protoNumber(s) : parseNumber(s));
    const range = /^([^-]+)-([^-]+)$/.exec(text);
    if (range) {
      const lo = num(range[1]!);
      const hi = num(range[2]!);
      return lo !== null && hi !== null && a.n >= lo && a.n <= hi;
    }
    const v = num(text);
    if (v === null) this.notes.add(`value "${text}" is not understood (compared as not matching)`);
    return v === a.n;
  }

  elementHolds(el: Element, atoms: Atom[], types: ValueType[]): boolean {
    return el.key.length === atoms.length && el.key.every((k, i) => this.component(atoms[i]!, types[i]!, k));
  }

  /** Elements by their exact key (for these value types), and the prefixes and ranges to scan. */
  index(elements: readonly Element[], types: ValueType[]): SetIndex {
    const sig = types.join(',');
    let bySig = this.indexes.get(elements);
    if (!bySig) {
      bySig = new Map();
      this.indexes.set(elements, bySig);
    }
    let idx = bySig.get(sig);
    if (!idx) {
      idx = { exact: new Map(), other: [] };
      for (const el of elements) {
        const parts = el.key.length === types.length ? el.key.map((k, i) => canonicalText(k, types[i]!)) : [null];
        if (parts.every((p) => p !== null)) {
          const k = parts.join(' . ');
          if (!idx.exact.has(k)) idx.exact.set(k, el);
        } else idx.other.push(el);
      }
      bySig.set(sig, idx);
    }
    return idx;
  }

  /** The element of a named set or map that holds the key, or null. */
  lookup(table: NftTable, name: string, atoms: Atom[], types: ValueType[], st: PState): Element | null {
    const set = table.sets.get(name);
    const canonical = atoms.map(canonicalAtom);
    const key = canonical.every((c) => c !== null) ? canonical.join(' . ') : null;
    if (key !== null && st.added.get(name)?.includes(key)) return { key: [key], value: null, text: `${key} (added by this packet's own path)` };
    if (key !== null && (this.opts.recent ?? []).includes(name)) return { key: [key], value: null, text: `${key} (given with --recent ${name})` };
    if (!set) {
      this.notes.add(`@${name} is not in table ${table.family} ${table.name} (lookups in it do not match)`);
      return null;
    }
    return this.find(set.elements, atoms, types);
  }

  find(elements: readonly Element[], atoms: Atom[], types: ValueType[]): Element | null {
    const idx = this.index(elements, types);
    const canonical = atoms.map(canonicalAtom);
    const hit = canonical.every((c) => c !== null) ? idx.exact.get(canonical.join(' . ')) : undefined;
    return hit ?? idx.other.find((el) => this.elementHolds(el, atoms, types)) ?? null;
  }

  /** Match statement: true, false. */
  match(s: Extract<Stmt, { kind: 'match' }>, st: PState, table: NftTable): boolean {
    const atoms = this.expr(s.expr, st);
    if (atoms === null) return false;
    const types = s.expr.terms.map((t) => t.type);
    let found: boolean;
    if (s.op === 'lt' || s.op === 'gt' || s.op === 'le' || s.op === 'ge') {
      const a = atoms[0]!;
      const v = s.rhs.kind === 'values' ? parseNumber(s.rhs.elements[0]?.key[0] ?? '') : null;
      if (a.t !== 'n' || v === null || atoms.length !== 1) {
        this.notes.add(`comparison "${s.text}" is not understood (assumed not to match)`);
        return false;
      }
      return s.op === 'lt' ? a.n < v : s.op === 'gt' ? a.n > v : s.op === 'le' ? a.n <= v : a.n >= v;
    }
    if (s.rhs.kind === 'set') {
      found = this.lookup(table, s.rhs.name, atoms, types, st) !== null;
      const set = table.sets.get(s.rhs.name);
      if (!found && set && set.flags.includes('dynamic') && s.op === 'eq') {
        this.notes.add(`@${s.rhs.name} holds the clients that earlier packets put there (session affinity) and ${formatAtom(atoms[0]!, types[0]!)} is not in it: traced as a new client (pass --recent ${s.rhs.name} to trace a returning one)`);
      }
    } else found = this.find(s.rhs.elements, atoms, types) !== null;
    return s.op === 'eq' ? found : !found;
  }

  step(b: Branch, table: NftTable, chain: NftChain, pos: number, raw: string, action: string): void {
    b.steps.push({ family: table.family, table: table.name, chain: chain.name, rule: pos, raw, action, hook: this.hook });
  }

  /** Runs one rule on one branch; the branches come back ended, or with end null to go on. */
  rule(table: NftTable, chain: NftChain, pos: number, rule: NftRule, b: Branch, label: string, depth: number): Branch[] {
    const parts: string[] = [];
    const record = (extra?: string) => this.step(b, table, chain, pos, rule.text, `${label ? `${label}: ` : ''}${[...parts, ...(extra ? [extra] : [])].join('; ')}`);
    let st = b.st;
    for (const s of this.ruleStmts(rule)) {
      switch (s.kind) {
        case 'match':
          if (!this.match(s, st, table)) {
            b.st = st;
            if (parts.length) record();
            return [b];
          }
          break;
        case 'vmap': {
          const atoms = this.expr(s.expr, st);
          if (atoms === null) {
            b.st = st;
            return [b];
          }
          const types = s.expr.terms.map((t) => t.type);
          const keyText = atoms.map((a, i) => formatAtom(a, types[i]!)).join(' . ');
          const mapName = s.map.kind === 'set' ? `@${s.map.name}` : 'the verdict map';
          const el = s.map.kind === 'set' ? this.lookup(table, s.map.name, atoms, types, st) : this.find(s.map.elements, atoms, types);
          b.st = st;
          if (!el) {
            record(`${mapName} has no element ${keyText}: next rule`);
            return [b];
          }
          const v = el.value === null ? null : verdictOf(el.value);
          if (!v) {
            record(`${mapName}: ${el.text} has no verdict this tracer understands (next rule)`);
            return [b];
          }
          const shown = el.text.replace(/ comment "(?:[^"\\]|\\.)*"/, '').split(' : ')[0]!;
          const matched = shown === keyText ? keyText : `${keyText} (element ${shown})`;
          const lead = s.map.kind === 'set' ? `${mapName}: ${matched} → ` : label ? '' : `${matched} → `;
          return this.verdict(table, chain, pos, rule, b, v, parts, label, depth, lead);
        }
        case 'verdict':
          b.st = st;
          return this.verdict(table, chain, pos, rule, b, s.verdict, parts, label, depth, '');
        case 'dnat': {
          const ip = parseIP(s.addr)!;
          const port = s.port ?? st.dport;
          const to = joinHostPort(formatIP(ip), port);
          st = { ...st, daddr: ip, dport: port, dnat: to, natDone: { ...st.natDone, dst: true } };
          b.st = st;
          record(`DNAT to ${to}`);
          b.end = 'accept';
          return [b];
        }
        case 'snat':
        case 'masquerade':
          st = { ...st, masquerade: true, natDone: { ...st.natDone, src: true } };
          b.st = st;
          record(s.kind === 'snat' ? `SNAT to ${s.addr}${s.port ? `:${s.port}` : ''}` : 'MASQUERADE: the source becomes the address the packet leaves by');
          b.end = 'accept';
          return [b];
        case 'mark-set': {
          let mark: number;
          if (typeof s.value === 'number') mark = s.value;
          else {
            const a = this.term(s.value, st);
            mark = a?.t === 'n' ? a.n : st.mark;
          }
          st = { ...st, mark };
          parts.push(`meta mark is now 0x${mark.toString(16).padStart(8, '0')}`);
          break;
        }
        case 'set-add': {
          const atoms = this.expr(s.key, st);
          const canonical = atoms?.map(canonicalAtom);
          if (canonical && canonical.every((c) => c !== null)) {
            const key = canonical.join(' . ');
            const added = new Map(st.added);
            added.set(s.set, [...(added.get(s.set) ?? []), key]);
            st = { ...st, added };
            parts.push(`@${s.set} now holds ${key} (a returning client comes back here)`);
          }
          break;
        }
        case 'noop':
          break;
        case 'unknown':
          b.st = st;
          record(`not understood: ${s.text} (${s.reason}); rule assumed not to match`);
          this.notes.add(`not understood in chain ${chain.name}: "${s.text}" (${s.reason}); that rule was assumed not to match`);
          return [b];
      }
    }
    b.st = st;
    record(parts.length ? undefined : 'matched, no verdict: next rule');
    return [b];
  }

  verdict(table: NftTable, chain: NftChain, pos: number, rule: NftRule, b: Branch, v: Verdict, parts: string[], label: string, depth: number, lead: string): Branch[] {
    const record = (what: string) => this.step(b, table, chain, pos, rule.text, `${label ? `${label}: ` : ''}${[...parts, lead + what].join('; ')}`);
    if (v.verb === 'jump' || v.verb === 'goto') {
      const sub = table.chains.get(v.target!);
      if (!sub) {
        record(`${v.verb} ${v.target}: no such chain in table ${table.family} ${table.name} (rule skipped)`);
        this.notes.add(`chain ${chain.name} ${v.verb}s to ${v.target}, which is not in the rules`);
        return [b];
      }
      record(`${v.verb} ${v.target}`);
      if (depth >= MAX_DEPTH) {
        this.notes.add(`more than ${MAX_DEPTH} nested jumps at ${sub.name} (a loop?): that path stops there`);
        b.end = 'drop';
        return [b];
      }
      const out = this.chain(table, sub, [b], depth + 1);
      for (const o of out) if (o.end === null || o.end === 'return') o.end = v.verb === 'goto' ? 'return' : null;
      return out;
    }
    record(v.verb);
    if (v.verb !== 'continue') b.end = v.verb;
    return [b];
  }

  /** The numgen value branches a rule splits into (each 1/N), or the branch itself. */
  forks(rule: NftRule, b: Branch): { b: Branch; label: string }[] {
    for (const s of this.ruleStmts(rule)) {
      const exprs = s.kind === 'match' || s.kind === 'vmap' ? [s.expr] : [];
      for (const e of exprs) {
        const t = e.terms.find((x) => x.sel.kind === 'numgen');
        if (t && t.sel.kind === 'numgen') {
          const { mode, mod, offset } = t.sel;
          if (mode === 'inc') this.notes.add('numgen inc counts up per packet (round robin); each value is shown with its share 1/N');
          return Array.from({ length: mod }, (_, k) => ({
            b: { st: { ...b.st, numgen: offset + k }, p: b.p / mod, steps: [...b.steps], end: null },
            label: `numgen ${mode} mod ${mod} = ${offset + k} (probability 1/${mod})`,
          }));
        }
      }
    }
    return [{ b, label: '' }];
  }

  /** Runs branches through a chain; they come back ended (a verdict, or return) or with end null (fell off the end). */
  chain(table: NftTable, chain: NftChain, branches: Branch[], depth: number): Branch[] {
    let active = branches;
    const done: Branch[] = [];
    chain.rules.forEach((rule, idx) => {
      const next: Branch[] = [];
      for (const b of active) {
        const forks = this.forks(rule, b);
        let untouched = 0;
        for (const f of forks) {
          const st = f.b.st;
          const n = f.b.steps.length;
          const out = this.rule(table, chain, idx + 1, rule, f.b, f.label, depth);
          // A numgen value that did nothing rejoins the others that did nothing.
          if (f.label && out.length === 1 && out[0] === f.b && f.b.end === null && f.b.st === st && f.b.steps.length === n) {
            untouched += f.b.p;
            continue;
          }
          for (const o of out) (o.end === null ? next : done).push(o);
        }
        if (untouched > 0) next.push({ ...b, p: untouched, end: null });
      }
      active = next;
    });
    return [...done, ...active];
  }

  baseChains(hook: Hook): { table: NftTable; chain: NftChain }[] {
    const out: { table: NftTable; chain: NftChain }[] = [];
    for (const table of this.tables) for (const chain of table.chains.values()) if (chain.base?.hook === hook) out.push({ table, chain });
    return out.sort((a, b) => a.chain.base!.priority - b.chain.base!.priority);
  }

  finish(b: Branch, verdict: TraceOutcome['verdict'], delivery: TraceOutcome['delivery']): void {
    this.outcomes.push({ probability: b.p, dnat: b.st.dnat, verdict, delivery, masquerade: b.st.masquerade, steps: b.steps });
  }

  /** Every base chain of a hook in priority order; returns the branches that get through. */
  runHook(hook: Hook, branches: Branch[], manip: Manip | null): Branch[] {
    this.hook = hook;
    let active = branches;
    for (const { table, chain } of this.baseChains(hook)) {
      const base = chain.base!;
      const header = `type ${base.type} hook ${base.hook} priority ${base.priority}; policy ${base.policy};`;
      const next: Branch[] = [];
      for (const b of active) {
        if (base.type === 'nat' && manip && b.st.natDone[manip]) {
          this.step(b, table, chain, 0, header, `hook ${hook}: not consulted, the connection's ${manip === 'dst' ? 'destination' : 'source'} NAT is already settled`);
          next.push(b);
          continue;
        }
        this.step(b, table, chain, 0, header, `hook ${hook}: base chain, type ${base.type}, priority ${base.priority}`);
        for (const o of this.chain(table, chain, [{ ...b, end: null }], 0)) {
          if (o.end === 'drop' || o.end === 'reject') this.finish(o, o.end === 'drop' ? 'DROP' : 'REJECT', null);
          else if (o.end !== 'accept' && base.policy === 'drop') {
            this.step(o, table, chain, 0, header, 'policy drop');
            this.finish(o, 'DROP', null);
          } else next.push({ ...o, end: null });
        }
      }
      active = next;
    }
    if (manip) for (const b of active) b.st = { ...b.st, natDone: { ...b.st.natDone, [manip]: true } };
    return active;
  }

  run(): NftTraceResult {
    const src = parseIP(this.pkt.src);
    const dst = parseIP(this.pkt.dst);
    if (!src || !dst) throw new Error(`not an address: ${!src ? this.pkt.src : this.pkt.dst}`);
    const origin = this.isLocal(src) ? 'local' : 'external';
    const start: Branch = { st: { daddr: dst, dport: this.pkt.dport, mark: 0, dnat: null, masquerade: false, natDone: { dst: false, src: false }, added: new Map(), numgen: null }, p: 1, steps: [], end: null };
    const split = (bs: Branch[]) => [bs.filter((b) => this.isLocal(b.st.daddr)), bs.filter((b) => !this.isLocal(b.st.daddr))] as const;
    if (origin === 'external') {
      const [toLocal, forwarded] = split(this.runHook('prerouting', [start], 'dst'));
      for (const b of this.runHook('input', toLocal, 'src')) this.finish(b, 'ACCEPT', 'local');
      for (const b of this.runHook('postrouting', this.runHook('forward', forwarded, null), 'src')) this.finish(b, 'ACCEPT', 'forward');
    } else {
      const [toLocal, leaving] = split(this.runHook('postrouting', this.runHook('output', [start], 'dst'), 'src'));
      for (const b of leaving) this.finish(b, 'ACCEPT', 'forward');
      // A packet for this node leaves by lo and comes back in: prerouting and input again.
      for (const b of this.runHook('input', this.runHook('prerouting', toLocal, 'dst'), 'src')) this.finish(b, 'ACCEPT', 'local');
    }
    this.outcomes.sort((x, y) => y.probability - x.probability || (x.dnat ?? '').localeCompare(y.dnat ?? ''));
    return { mode: 'nftables', packet: this.pkt, origin, outcomes: this.outcomes, notes: [...this.notes] };
  }
}

export function traceNftPacket(ruleset: NftRuleset, packet: TracePacket, opts: TraceOptions): NftTraceResult {
  return new NftTracer(ruleset, packet, opts).run();
}

export function formatNftTrace(r: NftTraceResult): string {
  const p = r.packet;
  const lines = [`${p.proto} ${p.src}${p.sport ? `:${p.sport}` : ''} -> ${p.dst}:${p.dport} (${r.origin === 'local' ? 'generated on this node' : 'arriving at this node'}), nftables: ${r.outcomes.length} possible path${r.outcomes.length === 1 ? '' : 's'}`];
  r.outcomes.forEach((o, i) => {
    const pct = `${(o.probability * 100).toFixed(o.probability === 1 ? 0 : 1)}%`;
    const where = o.verdict === 'ACCEPT' ? (o.delivery === 'local' ? 'delivered to this node' : 'forwarded') : o.verdict === 'REJECT' ? 'rejected' : 'dropped';
    lines.push('', `[${i + 1}] ${pct}: ${o.dnat ? `DNAT to ${o.dnat}, ` : ''}${where}, ${o.masquerade ? 'source masqueraded' : 'source kept'}`);
    for (const s of o.steps as NftTraceStep[]) {
      if (s.rule === 0) {
        lines.push(`  [${s.hook}] ${s.family} ${s.table} ${s.chain}: ${s.action.replace(/^hook \S+: /, '')}`);
        continue;
      }
      lines.push(`    ${s.chain} #${s.rule}: ${s.raw}`, `      -> ${s.action}`);
    }
  });
  if (r.notes.length) lines.push('', 'notes:', ...r.notes.map((n) => `  - ${n}`));
  return `${lines.join('\n')}\n`;
}

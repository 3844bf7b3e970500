// A packet tracer over an iptables dump: walks a new connection's first packet through
// the nat and filter hooks the way netfilter does (PREROUTING or OUTPUT, routing, INPUT /
// FORWARD / OUTPUT, POSTROUTING), following every jump; a statistic match splits the
// path in two with its probability. Each outcome lists, chain by chain, the rules that
// matched, the DNAT destination, the filter verdict and whether the source is masqueraded.
import { JUMP_CHAINS, KUBELET_JUMP_CHAINS, jumpRuleArgs } from './chains.ts';
import { findChain, type Dump, type DumpChain, type DumpRule } from './iptables-dump.ts';
import { cidrContains, formatIP, isLoopback, parseCIDR, parseIP, type IP } from './ip.ts';

export interface TracePacket {
  src: string;
  dst: string;
  dport: number;
  proto: 'tcp' | 'udp' | 'sctp';
  sport?: number;
}

export interface TraceOptions {
  /** The node's own addresses (127.0.0.0/8 and ::1 are always local). */
  localAddresses: string[];
  /** `recent` lists that already hold the source (client affinity from earlier connections). */
  recent?: string[];
}

export interface TraceStep {
  table: string;
  chain: string;
  /** 1-based position in the chain; 0 for a chain's policy. */
  rule: number;
  raw: string;
  /** What the match did: "jump KUBE-SVC-…", "DNAT 10.0.0.1:80", "ACCEPT", "MARK 0x4000", "probability 0.5 (taken)". */
  action: string;
}

export interface TraceOutcome {
  probability: number;
  /** ip:port the connection is DNATed to, or null. */
  dnat: string | null;
  /** The filter verdict: the packet is delivered (ACCEPT) or refused. */
  verdict: 'ACCEPT' | 'DROP' | 'REJECT';
  /** Delivered to this node, or forwarded to another host (a pod or beyond). */
  delivery: 'local' | 'forward' | null;
  masquerade: boolean;
  steps: TraceStep[];
}

export interface TraceResult {
  packet: TracePacket;
  origin: 'local' | 'external';
  outcomes: TraceOutcome[];
  notes: string[];
}

interface PState {
  dst: string;
  dport: number;
  mark: number;
  dnat: string | null;
  masquerade: boolean;
  recentSet: string[];
}

type End = 'ACCEPT' | 'DROP' | 'REJECT' | 'RETURN' | 'DNAT' | 'NAT-DONE' | null;

interface Branch {
  st: PState;
  p: number;
  steps: TraceStep[];
  end: End;
}

const TERMINAL_FILTER = new Set(['ACCEPT', 'DROP', 'REJECT']);

class Tracer {
  readonly notes = new Set<string>();
  private readonly local: IP[];

  constructor(
    private readonly dump: Dump,
    private readonly pkt: TracePacket,
    private readonly opts: TraceOptions,
  ) {
    this.local = opts.localAddresses.map((a) => parseIP(a)).filter((x): x is IP => x !== null);
  }

  isLocal(addr: string): boolean {
    const ip = parseIP(addr);
    if (!ip) return false;
    return isLoopback(ip) || this.local.some((l) => formatIP(l) === formatIP(ip));
  }

  chain(table: string, name: string): DumpChain | undefined {
    const c = findChain(this.dump, table, name);
    if (c || !['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'].includes(name)) return c;
    // Restore input (no built-in chains): use the jumps kube-proxy prepends there.
    const jumps = [...JUMP_CHAINS, ...KUBELET_JUMP_CHAINS].filter((j) => j.table === table && j.srcChain === name).reverse();
    if (jumps.length === 0) return undefined;
    const rules: DumpRule[] = jumps.map((j) => {
      const args = jumpRuleArgs(j);
      return { raw: `-A ${name} ${args.map((a) => (a.includes(' ') ? `"${a}"` : a)).join(' ')}`, chain: name, args, line: 0 };
    });
    this.notes.add(`no ${table} ${name} chain in the rules: assumed kube-proxy's jump rules there`);
    return { name, policy: 'ACCEPT', packets: 0, bytes: 0, rules, deleted: false };
  }

  /** Does the rule match? A number is a probability (statistic match). */
  matches(r: DumpRule, st: PState, table: string): boolean | number {
    const a = r.args;
    let neg = false;
    let prob: number | null = null;
    const src = this.pkt.src;
    const addrIs = (value: string, addr: string) => {
      const ip = parseIP(addr);
      if (!ip) return false;
      if (value.includes('/')) {
        const c = parseCIDR(value);
        return c !== null && cidrContains(c, ip);
      }
      const v = parseIP(value);
      return v !== null && formatIP(v) === formatIP(ip);
    };
    const portIs = (value: string, port: number | undefined) => {
      if (port === undefined) return false;
      return value.split(',').some((part) => {
        const [lo, hi] = part.split(':').map(Number);
        return hi === undefined ? port === lo : port >= lo! && port <= hi;
      });
    };
    for (let i = 0; i < a.length; i++) {
      const w = a[i]!;
      const v = a[i + 1] ?? '';
      let ok: boolean | null = null;
      switch (w) {
        case '!':
          neg = true;
          continue;
        case '-m':
        case '--match':
          i++;
          continue;
        case '-j':
        case '-g':
        case '--jump':
        case '--goto':
          return prob ?? true;
        case '-s':
        case '--source':
          ok = addrIs(v, src);
          i++;
          break;
        case '-d':
        case '--destination':
          ok = addrIs(v, st.dst);
          i++;
          break;
        case '-p':
        case '--protocol':
          ok = v === this.pkt.proto || v === 'all';
          i++;
          break;
        case '--dport':
        case '--destination-port':
        case '--dports':
          ok = portIs(v, st.dport);
          i++;
          break;
        case '--sport':
        case '--source-port':
        case '--sports':
          if (this.pkt.sport === undefined) {
            this.notes.add(`a rule matches on the source port; give --sport to evaluate it (assumed not to match)`);
            ok = false;
          } else ok = portIs(v, this.pkt.sport);
          i++;
          break;
        case '--comment':
        case '--nfacct-name':
        case '--name':
        case '--mode':
        case '--seconds':
        case '--mask':
          i++;
          continue;
        case '--reap':
        case '--rsource':
          continue;
        case '--src-type':
        case '--dst-type': {
          const addr = w === '--src-type' ? src : st.dst;
          if (v !== 'LOCAL') {
            this.notes.add(`addrtype ${v} is not modelled (assumed not to match)`);
            ok = false;
          } else ok = this.isLocal(addr);
          i++;
          break;
        }
        case '--mark': {
          const [val, mask] = v.split('/').map((x) => Number.parseInt(x, 16));
          ok = (st.mark & (mask ?? 0xffffffff)) === val;
          i++;
          break;
        }
        case '--ctstate':
        case '--state': {
          const states = new Set(['NEW', ...(st.dnat && table === 'filter' ? ['DNAT'] : [])]);
          ok = v.split(',').some((s) => states.has(s));
          i++;
          break;
        }
        case '--probability':
          prob = Number(v);
          i++;
          continue;
        case '--rcheck':
        case '--update': {
          const name = a[a.indexOf('--name') + 1] ?? 'DEFAULT';
          ok = (this.opts.recent ?? []).includes(name) || st.recentSet.includes(name);
          if (!ok) this.notes.add(`recent ${name}: matches only for a client that was sent there in the last ${a[a.indexOf('--seconds') + 1] ?? '?'} s (a new client does not match; pass --recent ${name} to trace a returning one)`);
          break;
        }
        case '--set':
          ok = true;
          break;
        case '-i':
        case '-o':
        case '--in-interface':
        case '--out-interface':
          this.notes.add(`interface matches (${w} ${v}) are not modelled (assumed not to match)`);
          ok = false;
          i++;
          break;
        default:
          if (w.startsWith('-')) {
            this.notes.add(`match option ${w} is not modelled (rule assumed not to match): ${r.raw}`);
            return false;
          }
          continue;
      }
      if (ok !== null && ok === neg) return false;
      neg = false;
    }
    return prob ?? true;
  }

  /** Applies the rule's target to a branch that matched it. */
  target(r: DumpRule, ruleNo: number, prefix: string, table: string, b: Branch, depth: number): Branch[] {
    const a = r.args;
    const ji = a.findIndex((w) => w === '-j' || w === '-g' || w === '--jump' || w === '--goto');
    const step = (action: string) => b.steps.push({ table, chain: r.chain, rule: ruleNo, raw: r.raw, action: prefix + action });
    if (ji < 0) {
      step('matched (no target)');
      return [b];
    }
    const t = a[ji + 1]!;
    const opt = (name: string) => {
      const k = a.indexOf(name, ji);
      return k >= 0 ? a[k + 1] : undefined;
    };
    if (TERMINAL_FILTER.has(t)) {
      step(t);
      b.end = t as End;
      return [b];
    }
    switch (t) {
      case 'RETURN':
        step('RETURN');
        b.end = 'RETURN';
        return [b];
      case 'DNAT': {
        const to = opt('--to-destination') ?? '';
        const m = /^\[(.+)\]:(\d+)$/.exec(to) ?? /^([^:]+):(\d+)$/.exec(to);
        b.st = { ...b.st, dst: m ? m[1]! : to, dport: m ? Number(m[2]) : b.st.dport, dnat: to };
        step(`DNAT to ${to}`);
        b.end = 'DNAT';
        return [b];
      }
      case 'REDIRECT': {
        // To a port on this node (the userspace proxy's socket); from a pod the address is
        // the one of the interface the packet came in on, which the node IP stands for here.
        const port = opt('--to-ports') ?? String(b.st.dport);
        const to = `${this.opts.localAddresses[0] ?? '127.0.0.1'}:${port.split('-')[0]}`;
        b.st = { ...b.st, dst: to.slice(0, to.lastIndexOf(':')), dport: Number(port.split('-')[0]), dnat: to };
        step(`REDIRECT to port ${port} on this node`);
        b.end = 'DNAT';
        return [b];
      }
      case 'MASQUERADE':
      case 'SNAT':
        b.st = { ...b.st, masquerade: true };
        step(t === 'SNAT' ? `SNAT to ${opt('--to-source')}` : 'MASQUERADE');
        b.end = 'NAT-DONE';
        return [b];
      case 'MARK': {
        const parse = (s: string) => s.split('/').map((x) => Number.parseInt(x, 16) >>> 0);
        let mark = b.st.mark;
        const setx = opt('--set-xmark');
        const set = opt('--set-mark');
        const or = opt('--or-mark');
        const xor = opt('--xor-mark');
        const and = opt('--and-mark');
        if (setx !== undefined) {
          const [v, m = 0xffffffff] = parse(setx);
          mark = ((mark & ~m) ^ v!) >>> 0;
        } else if (set !== undefined) {
          const [v, m = 0xffffffff] = parse(set);
          mark = ((mark & ~m) | v!) >>> 0;
        } else if (or !== undefined) mark = (mark | parse(or)[0]!) >>> 0;
        else if (xor !== undefined) mark = (mark ^ parse(xor)[0]!) >>> 0;
        else if (and !== undefined) mark = (mark & parse(and)[0]!) >>> 0;
        b.st = { ...b.st, mark };
        step(`MARK: mark is now 0x${mark.toString(16)}`);
        return [b];
      }
      default: {
        if (a.includes('--set')) {
          const name = opt('--name') ?? a[a.indexOf('--name') + 1];
          if (name) b.st = { ...b.st, recentSet: [...b.st.recentSet, name] };
        }
        const sub = this.chain(table, t);
        if (!sub) {
          step(`${t} (target not modelled; continuing)`);
          this.notes.add(`target ${t} is not modelled (treated as continuing)`);
          return [b];
        }
        step(`${a[ji] === '-g' || a[ji] === '--goto' ? 'goto' : 'jump'} ${t}`);
        const out = this.runChain(table, sub, [b], depth + 1);
        for (const o of out) {
          if (o.end === 'RETURN') o.end = a[ji] === '-g' || a[ji] === '--goto' ? 'RETURN' : null;
        }
        return out;
      }
    }
  }

  /** Runs branches through a chain; branches come back ended (terminal/RETURN) or null (fell through). */
  runChain(table: string, chain: DumpChain, branches: Branch[], depth = 0): Branch[] {
    if (depth > 64) throw new Error(`jump loop through ${table} ${chain.name}`);
    let active = branches;
    const done: Branch[] = [];
    chain.rules.forEach((r, idx) => {
      const next: Branch[] = [];
      for (const b of active) {
        const m = this.matches(r, b.st, table);
        if (m === false) {
          next.push(b);
          continue;
        }
        let taken = b;
        let prefix = '';
        if (typeof m === 'number') {
          if (m < 1) next.push({ st: b.st, p: b.p * (1 - m), steps: [...b.steps], end: null });
          if (m <= 0) continue;
          taken = { st: b.st, p: b.p * m, steps: [...b.steps], end: null };
          prefix = `probability ${m}: `;
        }
        for (const o of this.target(r, idx + 1, prefix, table, taken, depth)) {
          if (o.end === null) next.push(o);
          else done.push(o);
        }
      }
      active = next;
    });
    for (const b of active) b.end = null;
    return [...done, ...active];
  }

  /** Runs a built-in chain; its policy applies to branches that fall off the end. */
  hook(table: string, name: string, branches: Branch[]): Branch[] {
    if (branches.length === 0) return [];
    const chain = this.chain(table, name);
    if (!chain) return branches.map((b) => ({ ...b, end: null }));
    const out = this.runChain(table, chain, branches.map((b) => ({ ...b, end: null })));
    for (const b of out) {
      if (b.end === null || b.end === 'RETURN') {
        if (table === 'filter' && chain.policy !== '-' && chain.policy !== 'ACCEPT') {
          b.steps.push({ table, chain: name, rule: 0, raw: `:${name} ${chain.policy}`, action: `policy ${chain.policy}` });
          b.end = chain.policy as End;
        } else b.end = null;
      }
    }
    return out;
  }

  run(): TraceResult {
    const origin = this.isLocal(this.pkt.src) ? 'local' : 'external';
    let branches: Branch[] = [{ st: { dst: this.pkt.dst, dport: this.pkt.dport, mark: 0, dnat: null, masquerade: false, recentSet: [] }, p: 1, steps: [], end: null }];
    const outcomes: TraceOutcome[] = [];
    const finish = (b: Branch, verdict: 'ACCEPT' | 'DROP' | 'REJECT', delivery: 'local' | 'forward' | null) =>
      outcomes.push({ probability: b.p, dnat: b.st.dnat, verdict, delivery, masquerade: b.st.masquerade, steps: b.steps });
    const filter = (chain: string, bs: Branch[]) => {
      const alive: Branch[] = [];
      for (const b of this.hook('filter', chain, bs)) {
        if (b.end === 'DROP' || b.end === 'REJECT') finish(b, b.end, null);
        else alive.push({ ...b, end: null });
      }
      return alive;
    };
    const postrouting = (bs: Branch[]) => this.hook('nat', 'POSTROUTING', bs).map((b) => ({ ...b, end: null }));

    if (origin === 'external') {
      branches = this.hook('nat', 'PREROUTING', branches).map((b) => ({ ...b, end: null }));
      const toLocal = branches.filter((b) => this.isLocal(b.st.dst));
      const forwarded = branches.filter((b) => !this.isLocal(b.st.dst));
      for (const b of filter('INPUT', toLocal)) finish(b, 'ACCEPT', 'local');
      for (const b of postrouting(filter('FORWARD', forwarded))) finish(b, 'ACCEPT', 'forward');
    } else {
      branches = this.hook('nat', 'OUTPUT', branches).map((b) => ({ ...b, end: null }));
      branches = postrouting(filter('OUTPUT', branches));
      const toLocal = branches.filter((b) => this.isLocal(b.st.dst));
      for (const b of branches.filter((x) => !this.isLocal(x.st.dst))) finish(b, 'ACCEPT', 'forward');
      for (const b of filter('INPUT', toLocal)) finish(b, 'ACCEPT', 'local');
    }
    outcomes.sort((x, y) => y.probability - x.probability || (x.dnat ?? '').localeCompare(y.dnat ?? ''));
    return { packet: this.pkt, origin, outcomes, notes: [...this.notes] };
  }
}

export function tracePacket(dump: Dump, packet: TracePacket, opts: TraceOptions): TraceResult {
  return new Tracer(dump, packet, opts).run();
}

/** Sums outcome probabilities per (destination, verdict, masquerade). */
export function summarize(r: TraceResult): { dnat: string | null; verdict: string; masquerade: boolean; probability: number }[] {
  const m = new Map<string, { dnat: string | null; verdict: string; masquerade: boolean; probability: number }>();
  for (const o of r.outcomes) {
    const k = `${o.dnat}|${o.verdict}|${o.masquerade}`;
    const e = m.get(k) ?? { dnat: o.dnat, verdict: o.verdict, masquerade: o.masquerade, probability: 0 };
    e.probability += o.probability;
    m.set(k, e);
  }
  return [...m.values()].sort((a, b) => b.probability - a.probability || (a.dnat ?? '').localeCompare(b.dnat ?? ''));
}

export function formatTrace(r: TraceResult): string {
  const p = r.packet;
  const lines = [`${p.proto} ${p.src}${p.sport ? `:${p.sport}` : ''} -> ${p.dst}:${p.dport} (${r.origin === 'local' ? 'generated on this node' : 'arriving at this node'}): ${r.outcomes.length} possible path${r.outcomes.length === 1 ? '' : 's'}`];
  r.outcomes.forEach((o, i) => {
    const pct = `${(o.probability * 100).toFixed(o.probability === 1 ? 0 : 1)}%`;
    const where = o.verdict === 'ACCEPT' ? (o.delivery === 'local' ? 'delivered to this node' : 'forwarded') : o.verdict === 'REJECT' ? 'rejected' : 'dropped';
    lines.push('', `[${i + 1}] ${pct}: ${o.dnat ? `DNAT to ${o.dnat}, ` : ''}${where}, ${o.masquerade ? 'source masqueraded' : 'source kept'}`);
    let last = '';
    for (const s of o.steps) {
      const head = `${s.table}/${s.chain}`;
      lines.push(`  ${head === last ? ' '.repeat(head.length) : head} #${s.rule}: ${s.raw}`);
      lines.push(`  ${' '.repeat(head.length)}   -> ${s.action}`);
      last = head;
    }
  });
  if (r.notes.length) lines.push('', 'notes:', ...r.notes.map((n) => `  - ${n}`));
  return `${lines.join('\n')}\n`;
}

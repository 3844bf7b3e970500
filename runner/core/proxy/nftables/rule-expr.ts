// One nft rule read into statements a packet tracer can evaluate, in either spelling nft
// uses: as `nft list` prints it ("meta mark set meta mark | 0x00004000") or as `nft -f`
// takes it ("mark set mark or 0x00004000"). What is not understood becomes an "unknown"
// statement holding the rest of the rule, so a rule that cannot be read is reported by the
// tracer, never a crash.
import { parseIP } from '../ip.ts';

/** What a selector's values are, which decides how "10.0.0.0/8", "tcp" or "30000-32767" compare. */
export type ValueType = 'addr' | 'proto' | 'port' | 'mark' | 'ctstate' | 'ctstatus' | 'fibtype' | 'number' | 'nfproto' | 'ethertype';

export type Selector =
  | { kind: 'addr'; family: 'ip' | 'ip6'; field: 'saddr' | 'daddr' }
  | { kind: 'l4proto'; family: 'ip' | 'ip6' | null }
  | { kind: 'port'; field: 'sport' | 'dport'; proto: 'tcp' | 'udp' | 'sctp' | 'udplite' | 'dccp' | null }
  | { kind: 'mark' }
  | { kind: 'ct'; field: 'state' | 'status' }
  | { kind: 'nfproto' }
  | { kind: 'ethertype' }
  | { kind: 'fib'; addr: 'saddr' | 'daddr' }
  | { kind: 'numgen'; mode: 'random' | 'inc'; mod: number; offset: number };

export interface Term {
  sel: Selector;
  /** Bitwise operations applied to the value before it is compared ("meta mark & 0x4000"). */
  ops: { op: '&' | '|' | '^'; value: number }[];
  type: ValueType;
  text: string;
}

/** A selector or a concatenation of them ("ip daddr . meta l4proto . th dport"). */
export interface Expr {
  terms: Term[];
  text: string;
}

/** A set or map element: one text per concatenated component, and a map's value. */
export interface Element {
  key: string[];
  value: string | null;
  text: string;
}

export type Rhs = { kind: 'values'; elements: Element[]; anonymous: boolean } | { kind: 'set'; name: string };

export type VerdictVerb = 'accept' | 'drop' | 'reject' | 'return' | 'continue' | 'jump' | 'goto';

export interface Verdict {
  verb: VerdictVerb;
  target?: string;
}

export type Stmt =
  | { kind: 'match'; expr: Expr; op: 'eq' | 'ne' | 'lt' | 'gt' | 'le' | 'ge'; rhs: Rhs; text: string }
  | { kind: 'vmap'; expr: Expr; map: Rhs; text: string }
  | { kind: 'verdict'; verdict: Verdict; text: string }
  | { kind: 'dnat'; addr: string; port: number | null; text: string }
  | { kind: 'snat'; addr: string; port: number | null; text: string }
  | { kind: 'masquerade'; text: string }
  | { kind: 'mark-set'; value: Term | number; text: string }
  | { kind: 'set-add'; set: string; key: Expr; text: string }
  | { kind: 'noop'; text: string }
  | { kind: 'unknown'; text: string; reason: string };

class NotUnderstood extends Error {}

const TOKEN = /"(?:[^"\\]|\\.)*"|[{},]|[^\s{},"]+/g;

/** Words, quoted strings and the punctuation nft puts between them ({ } ,). */
export function tokenize(text: string): string[] {
  return text.match(TOKEN) ?? [];
}

/** Tokens back to text the way nft prints them ("{ a, b }"). */
export function joinTokens(tokens: string[]): string {
  return tokens.join(' ').replace(/ ,/g, ',');
}

export function unquote(s: string): string {
  return s.startsWith('"') && s.endsWith('"') && s.length >= 2 ? s.slice(1, -1).replace(/\\(.)/g, '$1') : s;
}

/** "0x00004000" or "16384"; null when it is not a number. */
export function parseNumber(s: string): number | null {
  if (/^0x[0-9a-f]+$/i.test(s)) return Number.parseInt(s, 16) >>> 0;
  if (/^\d+$/.test(s)) return Number(s);
  return null;
}

const VERDICTS = new Set(['accept', 'drop', 'return', 'continue']);
const ELEMENT_OPTIONS = new Set(['timeout', 'expires', 'comment']);
const INTERFACE_KEYS = new Set(['iifname', 'oifname', 'iif', 'oif', 'iiftype', 'oiftype', 'iifgroup', 'oifgroup']);
const PORT_PROTOS = new Set(['th', 'tcp', 'udp', 'sctp', 'udplite', 'dccp']);

class Parser {
  i = 0;
  constructor(readonly toks: string[]) {}

  peek(k = 0): string | undefined {
    return this.toks[this.i + k];
  }

  next(what = 'more'): string {
    const t = this.toks[this.i++];
    if (t === undefined) throw new NotUnderstood(`the rule ends where ${what} was expected`);
    return t;
  }

  expect(word: string): void {
    const t = this.next(`"${word}"`);
    if (t !== word) throw new NotUnderstood(`expected "${word}", found "${t}"`);
  }

  eof(): boolean {
    return this.i >= this.toks.length;
  }

  text(from: number): string {
    return joinTokens(this.toks.slice(from, this.i));
  }

  statement(): Stmt {
    const from = this.i;
    const t = this.peek()!;
    if (VERDICTS.has(t)) {
      this.i++;
      return { kind: 'verdict', verdict: { verb: t as VerdictVerb }, text: t };
    }
    switch (t) {
      case 'reject':
        this.i++;
        if (this.peek() === 'with') {
          this.i++;
          const how = this.next('what reject answers with');
          if (how === 'tcp') this.expect('reset');
          else {
            if (this.peek() === 'type') this.i++;
            this.next('an ICMP type');
          }
        }
        return { kind: 'verdict', verdict: { verb: 'reject' }, text: this.text(from) };
      case 'jump':
      case 'goto': {
        this.i++;
        const target = unquote(this.next('a chain name'));
        return { kind: 'verdict', verdict: { verb: t, target }, text: this.text(from) };
      }
      case 'counter':
        this.i++;
        if (this.peek() === 'packets') this.i += 4;
        return { kind: 'noop', text: this.text(from) };
      case 'comment':
        this.i += 2;
        return { kind: 'noop', text: this.text(from) };
      case 'log':
        this.i++;
        while (['prefix', 'level', 'flags', 'group', 'snaplen', 'queue-threshold'].includes(this.peek() ?? '')) this.i += 2;
        return { kind: 'noop', text: this.text(from) };
      case 'dnat':
      case 'snat':
        return this.nat(t);
      case 'masquerade':
        this.i++;
        this.natFlags();
        if (this.peek() === 'to') throw new NotUnderstood('masquerade to a port range is not modelled');
        return { kind: 'masquerade', text: this.text(from) };
      case 'update':
      case 'add':
        if (this.peek(1)?.startsWith('@')) return this.setAdd();
        break;
      case 'meta':
        if (this.peek(1) === 'mark' && this.peek(2) === 'set') {
          this.i += 3;
          return this.markSet(from);
        }
        break;
      case 'mark':
        if (this.peek(1) === 'set') {
          this.i += 2;
          return this.markSet(from);
        }
        break;
    }
    if (this.peek(2) === 'set' || this.peek(1) === 'set') throw new NotUnderstood(`setting ${joinTokens(this.toks.slice(this.i, this.i + 2))} is not modelled`);
    return this.exprStatement(from);
  }

  nat(kind: 'dnat' | 'snat'): Stmt {
    const from = this.i++;
    if (this.peek() === 'ip' || this.peek() === 'ip6') this.i++;
    this.expect('to');
    const to = this.next('an address');
    const m = /^\[(.+)\]:(\d+)$/.exec(to) ?? /^(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(to);
    const addr = m ? m[1]! : to.replace(/^\[|\]$/g, '');
    if (!parseIP(addr) || (m && Number(m[2]) > 65535)) throw new NotUnderstood(`${kind} to "${to}" (only a fixed address and port are modelled)`);
    this.natFlags();
    return { kind, addr, port: m ? Number(m[2]) : null, text: this.text(from) };
  }

  natFlags(): void {
    while (['random', 'fully-random', 'persistent', ','].includes(this.peek() ?? '')) this.i++;
  }

  markSet(from: number): Stmt {
    const n = parseNumber(this.peek() ?? '');
    if (n !== null) {
      this.i++;
      return { kind: 'mark-set', value: n, text: this.text(from) };
    }
    const value = this.term();
    if (value.type !== 'mark') throw new NotUnderstood(`setting the mark from ${value.text} is not modelled`);
    return { kind: 'mark-set', value, text: this.text(from) };
  }

  setAdd(): Stmt {
    const from = this.i++;
    const set = this.next().slice(1);
    this.expect('{');
    const key = this.expr();
    while (this.peek() !== '}') {
      const opt = this.next('"}"');
      if (opt === 'timeout') this.next('a timeout');
      else if (opt !== 'counter') throw new NotUnderstood(`"${opt}" in a set update`);
    }
    this.i++;
    return { kind: 'set-add', set: unquote(set), key, text: this.text(from) };
  }

  exprStatement(from: number): Stmt {
    const expr = this.expr();
    const t = this.peek();
    if (t === 'vmap') {
      this.i++;
      return { kind: 'vmap', expr, map: this.rhs(true), text: this.text(from) };
    }
    if (t === 'map') throw new NotUnderstood(`a map lookup ("${expr.text} map …") outside a verdict map or NAT target`);
    const ops: Record<string, 'eq' | 'ne' | 'lt' | 'gt' | 'le' | 'ge'> = { '==': 'eq', eq: 'eq', '!=': 'ne', ne: 'ne', '<': 'lt', lt: 'lt', '>': 'gt', gt: 'gt', '<=': 'le', le: 'le', '>=': 'ge', ge: 'ge' };
    let op: 'eq' | 'ne' | 'lt' | 'gt' | 'le' | 'ge' = 'eq';
    if (t !== undefined && ops[t]) {
      op = ops[t];
      this.i++;
    }
    if (this.eof()) throw new NotUnderstood(`"${expr.text}" is compared with nothing`);
    return { kind: 'match', expr, op, rhs: this.rhs(false), text: this.text(from) };
  }

  expr(): Expr {
    const from = this.i;
    const terms = [this.term()];
    while (this.peek() === '.') {
      this.i++;
      terms.push(this.term());
    }
    return { terms, text: this.text(from) };
  }

  term(): Term {
    const from = this.i;
    const [sel, type] = this.selector();
    const ops: Term['ops'] = [];
    const binops: Record<string, '&' | '|' | '^'> = { '&': '&', and: '&', '|': '|', or: '|', '^': '^', xor: '^' };
    while (this.peek() !== undefined && binops[this.peek()!]) {
      const op = binops[this.next()]!;
      const v = this.next('a number');
      const value = parseNumber(v);
      if (value === null) throw new NotUnderstood(`"${op} ${v}": only a number is modelled there`);
      ops.push({ op, value });
    }
    return { sel, ops, type, text: this.text(from) };
  }

  selector(): [Selector, ValueType] {
    const t = this.next('a selector');
    const field = () => this.next(`what of "${t}"`);
    switch (t) {
      case 'ip':
      case 'ip6': {
        const f = field();
        if (f === 'saddr' || f === 'daddr') return [{ kind: 'addr', family: t, field: f }, 'addr'];
        if ((t === 'ip' && f === 'protocol') || (t === 'ip6' && f === 'nexthdr')) return [{ kind: 'l4proto', family: t }, 'proto'];
        throw new NotUnderstood(`"${t} ${f}" is not modelled`);
      }
      case 'meta': {
        const k = field();
        if (k === 'l4proto') return [{ kind: 'l4proto', family: null }, 'proto'];
        if (k === 'mark') return [{ kind: 'mark' }, 'mark'];
        if (k === 'nfproto') return [{ kind: 'nfproto' }, 'nfproto'];
        if (k === 'protocol') return [{ kind: 'ethertype' }, 'ethertype'];
        if (INTERFACE_KEYS.has(k)) throw new NotUnderstood(`interface matches ("meta ${k}") are not modelled`);
        throw new NotUnderstood(`"meta ${k}" is not modelled`);
      }
      case 'mark':
        return [{ kind: 'mark' }, 'mark'];
      case 'ct': {
        const k = field();
        if (k === 'state' || k === 'status') return [{ kind: 'ct', field: k }, k === 'state' ? 'ctstate' : 'ctstatus'];
        throw new NotUnderstood(`"ct ${k}" is not modelled`);
      }
      case 'fib': {
        const addr = field();
        if (addr !== 'saddr' && addr !== 'daddr') throw new NotUnderstood(`"fib ${addr}" is not modelled`);
        while (this.peek() === '.') {
          this.i++;
          field();
        }
        const result = field();
        if (result !== 'type') throw new NotUnderstood(`"fib ${addr} ${result}" is not modelled (only "fib … type" is)`);
        return [{ kind: 'fib', addr }, 'fibtype'];
      }
      case 'numgen': {
        const mode = field();
        if (mode !== 'random' && mode !== 'inc') throw new NotUnderstood(`"numgen ${mode}" is not modelled`);
        this.expect('mod');
        const mod = parseNumber(this.next('a modulus'));
        if (!mod) throw new NotUnderstood('numgen with a modulus that is not a positive number');
        let offset = 0;
        if (this.peek() === 'offset') {
          this.i++;
          offset = parseNumber(this.next('an offset')) ?? 0;
        }
        return [{ kind: 'numgen', mode, mod, offset }, 'number'];
      }
      default:
        if (PORT_PROTOS.has(t)) {
          const f = field();
          if (f !== 'dport' && f !== 'sport') throw new NotUnderstood(`"${t} ${f}" is not modelled`);
          return [{ kind: 'port', field: f, proto: t === 'th' ? null : (t as 'tcp') }, 'port'];
        }
        if (INTERFACE_KEYS.has(t)) throw new NotUnderstood(`interface matches ("${t}") are not modelled`);
        throw new NotUnderstood(`"${t}" is not modelled`);
    }
  }

  /** A value, a list ("established,related"), an anonymous set or map ({ … }), or @name. */
  rhs(isMap: boolean): Rhs {
    const t = this.peek()!;
    if (t.startsWith('@')) {
      this.i++;
      return { kind: 'set', name: unquote(t.slice(1)) };
    }
    if (t === '{') {
      this.i++;
      const elements: Element[] = [];
      while (this.peek() !== '}') {
        elements.push(this.element(isMap));
        if (this.peek() === ',') this.i++;
        else if (this.peek() !== '}') throw new NotUnderstood(`expected "," or "}" in a set, found "${this.peek() ?? 'the end of the rule'}"`);
      }
      this.i++;
      return { kind: 'values', elements, anonymous: true };
    }
    if (isMap) throw new NotUnderstood(`a verdict map must be @name or { … }, found "${t}"`);
    const elements = [this.element(false)];
    while (this.peek() === ',') {
      this.i++;
      elements.push(this.element(false));
    }
    return { kind: 'values', elements, anonymous: false };
  }

  /** "10.96.0.1 . tcp . 443 [timeout 5m] [expires 1m] [comment "…"] [: goto chain]". */
  element(isMap: boolean): Element {
    const from = this.i;
    const key = [this.value()];
    while (this.peek() === '.') {
      this.i++;
      key.push(this.value());
    }
    while (ELEMENT_OPTIONS.has(this.peek() ?? '') || this.peek() === 'counter') {
      if (this.next() === 'counter') {
        if (this.peek() === 'packets') this.i += 4;
      } else this.i++;
    }
    let value: string | null = null;
    if (isMap) {
      this.expect(':');
      const v = this.next('a verdict');
      value = v === 'goto' || v === 'jump' ? `${v} ${unquote(this.next('a chain name'))}` : v;
    }
    return { key, value, text: this.text(from) };
  }

  value(): string {
    const t = this.next('a value');
    if (t === '{' || t === '}' || t === ',' || t === ':' || t === '.') throw new NotUnderstood(`expected a value, found "${t}"`);
    return unquote(t);
  }
}

/** The rule's statements in order; what cannot be read ends the list as "unknown". */
export function parseRuleText(text: string): Stmt[] {
  const p = new Parser(tokenize(text));
  const out: Stmt[] = [];
  while (!p.eof()) {
    const from = p.i;
    try {
      out.push(p.statement());
    } catch (err) {
      if (!(err instanceof NotUnderstood)) throw err;
      out.push({ kind: 'unknown', text: joinTokens(p.toks.slice(from)), reason: err.message });
      break;
    }
  }
  return out;
}

/**
 * The elements of "{ a, b : goto c, … }" (the text inside an `elements = { … }` listing or
 * an `add element` command); throws an Error saying what could not be read.
 */
export function parseElementList(text: string, isMap: boolean): Element[] {
  const p = new Parser(tokenize(text));
  try {
    const rhs = p.rhs(isMap);
    if (!p.eof()) throw new NotUnderstood(`unexpected "${joinTokens(p.toks.slice(p.i))}" after the elements`);
    return rhs.kind === 'values' ? rhs.elements : [];
  } catch (err) {
    if (err instanceof NotUnderstood) throw new Error(`cannot read the elements: ${err.message}`);
    throw err;
  }
}

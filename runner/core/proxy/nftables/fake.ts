// An in-memory nftables table that applies transactions atomically, like knftables.Fake
// but as strict as the kernel where kube-proxy's logic depends on it: a chain that a rule
// or map element still refers to cannot be deleted, a map element's value cannot change by "add", and
// deleting or flushing what does not exist fails. dump() prints the table as the
// transaction that would create it, in knftables' Dump order (upstream's golden format).
import { parseTransactionText } from './parse.ts';
import { joinKey, operationLine, type ChainObj, type ElementObj, type NftFamily, type Operation, type RuleObj, type SetObj, type Transaction } from './transaction.ts';

interface FakeChain {
  chain: ChainObj;
  rules: RuleObj[];
}

interface FakeContainer {
  set: SetObj;
  /** Key (" . "-joined) → element. */
  elements: Map<string, ElementObj>;
}

interface FakeState {
  comment?: string;
  chains: Map<string, FakeChain>;
  sets: Map<string, FakeContainer>;
  maps: Map<string, FakeContainer>;
}

export class NftError extends Error {
  override readonly name = 'NftError';
  constructor(
    message: string,
    /** 1-based operation number in the transaction. */
    readonly operation: number,
  ) {
    super(message);
  }
}

function copyState(s: FakeState): FakeState {
  return {
    comment: s.comment,
    chains: new Map([...s.chains].map(([k, c]) => [k, { chain: c.chain, rules: [...c.rules] }])),
    sets: new Map([...s.sets].map(([k, c]) => [k, { set: c.set, elements: new Map(c.elements) }])),
    maps: new Map([...s.maps].map(([k, c]) => [k, { set: c.set, elements: new Map(c.elements) }])),
  };
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Chains a rule or verdict jumps or goes to. */
function chainRefs(text: string): string[] {
  const out: string[] = [];
  const words = text.split(' ');
  for (let i = 0; i < words.length - 1; i++) if (words[i] === 'goto' || words[i] === 'jump') out.push(words[i + 1]!);
  return out;
}

/** Sets and maps a rule looks up ("@name"). */
function setRefs(text: string): string[] {
  return text.split(' ').filter((w) => w.startsWith('@')).map((w) => w.slice(1));
}

/** "add" of an existing set may change its timeout (the kernel updates it), not its type or flags. */
function compatibleSetSpec(a: SetObj, b: SetObj): boolean {
  return a.type === b.type && (a.flags ?? []).join(',') === (b.flags ?? []).join(',');
}

export class FakeTable {
  private state: FakeState | null = null;
  /** The last transaction run (successful or not). */
  lastTransaction: Operation[] = [];

  constructor(
    readonly family: NftFamily,
    readonly table: string,
  ) {}

  get exists(): boolean {
    return this.state !== null;
  }

  /** Runs a transaction: all of it, or (on the first failing operation) nothing. */
  run(tx: Transaction | Operation[]): void {
    const ops = Array.isArray(tx) ? tx : tx.operations;
    this.lastTransaction = ops;
    let next = this.state ? copyState(this.state) : null;
    ops.forEach((op, i) => {
      next = this.apply(next, op, i + 1);
    });
    this.state = next;
  }

  /** Runs a transaction in knftables text form (lines for other tables are an error). */
  runText(text: string): void {
    const ops = parseTransactionText(text).map((p, i) => {
      if (p.family !== this.family || p.table !== this.table) throw new NftError(`operation on table ${p.family} ${p.table}, not ${this.family} ${this.table}`, i + 1);
      return { verb: p.verb, obj: p.obj };
    });
    this.run(ops);
  }

  private apply(s: FakeState | null, op: Operation, n: number): FakeState | null {
    const fail = (msg: string): never => {
      throw new NftError(`${msg} (operation ${n}: ${operationLine(op, this.family, this.table)})`, n);
    };
    const { verb, obj } = op;
    if (obj.kind === 'table') {
      if (verb === 'add') return s ?? { comment: obj.comment, chains: new Map(), sets: new Map(), maps: new Map() };
      if (!s) fail('No such file or directory: no such table');
      if (verb === 'delete') return null;
      return { comment: s!.comment, chains: new Map(), sets: new Map(), maps: new Map() };
    }
    if (!s) return fail('No such file or directory: no such table');
    switch (obj.kind) {
      case 'chain': {
        const existing = s.chains.get(obj.name);
        if (verb === 'add') {
          if (!existing) s.chains.set(obj.name, { chain: obj, rules: [] });
          else if (existing.chain.type !== obj.type || existing.chain.hook !== obj.hook || existing.chain.priority !== obj.priority) {
            if (obj.type !== undefined || existing.chain.type === undefined) fail(`Device or resource busy: chain ${obj.name} exists with other properties`);
          }
          return s;
        }
        if (!existing) return fail(`No such file or directory: no such chain ${obj.name}`);
        if (verb === 'flush') {
          existing.rules = [];
          return s;
        }
        // The kernel deletes the chain's own rules with it, but not a chain something else jumps to.
        s.chains.delete(obj.name);
        if (this.referencedChains(s).has(obj.name)) fail(`Device or resource busy: chain ${obj.name} is still referenced`);
        return s;
      }
      case 'rule': {
        if (verb !== 'add') return fail(`rule ${verb} by handle is not supported here`);
        const chain = s.chains.get(obj.chain);
        if (!chain) return fail(`No such file or directory: no such chain ${obj.chain}`);
        for (const c of chainRefs(obj.rule)) if (!s.chains.has(c)) fail(`No such file or directory: no such chain ${c}`);
        for (const name of setRefs(obj.rule)) if (!s.sets.has(name) && !s.maps.has(name)) fail(`No such file or directory: no such set ${name}`);
        chain.rules.push(obj);
        return s;
      }
      case 'set':
      case 'map': {
        const all = obj.kind === 'set' ? s.sets : s.maps;
        const existing = all.get(obj.name);
        if (verb === 'add') {
          if (!existing) all.set(obj.name, { set: obj, elements: new Map() });
          else if (!compatibleSetSpec(existing.set, obj)) fail(`Device or resource busy: ${obj.kind} ${obj.name} exists with other properties`);
          else if (obj.timeoutSeconds !== undefined) existing.set = { ...existing.set, timeoutSeconds: obj.timeoutSeconds };
          return s;
        }
        if (!existing) return fail(`No such file or directory: no such ${obj.kind} ${obj.name}`);
        if (verb === 'flush') existing.elements = new Map();
        else {
          if (this.referencedSets(s).has(obj.name)) fail(`Device or resource busy: ${obj.kind} ${obj.name} is still referenced`);
          all.delete(obj.name);
        }
        return s;
      }
      case 'element': {
        const container = s.sets.get(obj.container) ?? s.maps.get(obj.container);
        if (!container) return fail(`No such file or directory: no such set ${obj.container}`);
        const key = joinKey(obj.key);
        const existing = container.elements.get(key);
        if (verb === 'delete') {
          if (!existing) fail(`No such file or directory: no element ${key} in ${obj.container}`);
          container.elements.delete(key);
          return s;
        }
        if (verb !== 'add') return fail('elements cannot be flushed');
        for (const c of chainRefs(obj.value.join(' '))) if (!s.chains.has(c)) fail(`No such file or directory: no such chain ${c}`);
        if (existing && joinKey(existing.value) !== joinKey(obj.value)) fail(`File exists: element ${key} in ${obj.container} has another value`);
        container.elements.set(key, obj);
        return s;
      }
    }
  }

  private referencedChains(s: FakeState): Set<string> {
    const out = new Set<string>();
    for (const c of s.chains.values()) for (const r of c.rules) for (const name of chainRefs(r.rule)) out.add(name);
    for (const m of s.maps.values()) for (const e of m.elements.values()) for (const name of chainRefs(e.value.join(' '))) out.add(name);
    return out;
  }

  private referencedSets(s: FakeState): Set<string> {
    const out = new Set<string>();
    for (const c of s.chains.values()) for (const r of c.rules) for (const name of setRefs(r.rule)) out.add(name);
    return out;
  }

  chains(): string[] {
    return [...(this.state?.chains.keys() ?? [])].sort(cmp);
  }

  sets(): string[] {
    return [...(this.state?.sets.keys() ?? [])].sort(cmp);
  }

  maps(): string[] {
    return [...(this.state?.maps.keys() ?? [])].sort(cmp);
  }

  rules(chain: string): RuleObj[] {
    return this.state?.chains.get(chain)?.rules ?? [];
  }

  /** The elements of a set or map, or null when it does not exist. */
  elements(container: string): ElementObj[] | null {
    const c = this.state?.sets.get(container) ?? this.state?.maps.get(container);
    return c ? [...c.elements.values()] : null;
  }

  /**
   * The table as the transaction that creates it, in knftables' Dump order: the table,
   * chains, sets and maps by name, then each chain's rules, then the elements (sorted).
   */
  dump(): string {
    const s = this.state;
    if (!s) return '';
    const line = (op: Operation) => `${operationLine(op, this.family, this.table)}\n`;
    let out = line({ verb: 'add', obj: { kind: 'table', comment: s.comment } });
    const chains = [...s.chains.keys()].sort(cmp);
    const sets = [...s.sets.keys()].sort(cmp);
    const maps = [...s.maps.keys()].sort(cmp);
    for (const c of chains) out += line({ verb: 'add', obj: s.chains.get(c)!.chain });
    for (const n of sets) out += line({ verb: 'add', obj: s.sets.get(n)!.set });
    for (const n of maps) out += line({ verb: 'add', obj: s.maps.get(n)!.set });
    for (const c of chains) for (const r of s.chains.get(c)!.rules) out += line({ verb: 'add', obj: r });
    for (const containers of [s.sets, s.maps]) {
      for (const n of [...containers.keys()].sort(cmp)) {
        out += [...containers.get(n)!.elements.values()].map((e) => line({ verb: 'add', obj: e })).sort(cmp).join('');
      }
    }
    return out;
  }
}

// An nftables transaction for one table, written the way sigs.k8s.io/knftables writes it
// (what upstream kube-proxy feeds `nft -f -`, and logs at -v=9): one operation a line.

export type NftFamily = 'ip' | 'ip6';
export type Verb = 'add' | 'flush' | 'delete';

export interface TableObj {
  kind: 'table';
  comment?: string;
}

export interface ChainObj {
  kind: 'chain';
  name: string;
  /** Base chains only. */
  type?: string;
  hook?: string;
  priority?: number;
  comment?: string;
}

export interface RuleObj {
  kind: 'rule';
  chain: string;
  rule: string;
  comment?: string;
}

export interface SetObj {
  kind: 'set' | 'map';
  name: string;
  /** e.g. "ipv4_addr" or "ipv4_addr . inet_proto . inet_service : verdict". */
  type?: string;
  flags?: string[];
  timeoutSeconds?: number;
  comment?: string;
}

export interface ElementObj {
  kind: 'element';
  /** The set or map the element belongs to. */
  container: string;
  key: string[];
  /** Empty for set elements. */
  value: string[];
  comment?: string;
}

export type NftObject = TableObj | ChainObj | RuleObj | SetObj | ElementObj;

export interface Operation {
  verb: Verb;
  obj: NftObject;
}

/** Go's %q for the strings kube-proxy uses (printable ASCII): quotes and backslashes escaped. */
export function quote(s: string): string {
  return `"${s.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

export function joinKey(parts: string[]): string {
  return parts.join(' . ');
}

/** One operation as a knftables transaction line (without the newline). */
export function operationLine(op: Operation, family: NftFamily, table: string): string {
  const { verb, obj } = op;
  const adding = verb === 'add';
  switch (obj.kind) {
    case 'table':
      return `${verb} table ${family} ${table}${adding && obj.comment !== undefined ? ` { comment ${quote(obj.comment)} ; }` : ''}`;
    case 'chain': {
      let line = `${verb} chain ${family} ${table} ${obj.name}`;
      if (adding && (obj.type !== undefined || obj.comment !== undefined)) {
        line += ' {';
        if (obj.type !== undefined) line += ` type ${obj.type} hook ${obj.hook} priority ${obj.priority} ;`;
        if (obj.comment !== undefined) line += ` comment ${quote(obj.comment)} ;`;
        line += ' }';
      }
      return line;
    }
    case 'rule':
      return `${verb} rule ${family} ${table} ${obj.chain}${adding ? ` ${obj.rule}${obj.comment !== undefined ? ` comment ${quote(obj.comment)}` : ''}` : ''}`;
    case 'set':
    case 'map': {
      let line = `${verb} ${obj.kind} ${family} ${table} ${obj.name}`;
      if (adding) {
        line += ` { type ${obj.type} ;`;
        if (obj.flags?.length) line += ` flags ${obj.flags.join(',')} ;`;
        if (obj.timeoutSeconds !== undefined) line += ` timeout ${obj.timeoutSeconds}s ;`;
        if (obj.comment !== undefined) line += ` comment ${quote(obj.comment)} ;`;
        line += ' }';
      }
      return line;
    }
    case 'element': {
      let line = `${verb} element ${family} ${table} ${obj.container} { ${joinKey(obj.key)}`;
      if (adding) {
        if (obj.comment !== undefined) line += ` comment ${quote(obj.comment)}`;
        if (obj.value.length) line += ` : ${joinKey(obj.value)}`;
      }
      return `${line} }`;
    }
  }
}

export class Transaction {
  readonly operations: Operation[] = [];

  constructor(
    readonly family: NftFamily,
    readonly table: string,
  ) {}

  add(obj: NftObject): void {
    this.operations.push({ verb: 'add', obj });
  }

  flush(obj: NftObject): void {
    this.operations.push({ verb: 'flush', obj });
  }

  delete(obj: NftObject): void {
    this.operations.push({ verb: 'delete', obj });
  }

  get numOperations(): number {
    return this.operations.length;
  }

  /** The `nft -f` input: every operation on its own line. */
  toString(): string {
    let out = '';
    for (const op of this.operations) out += `${operationLine(op, this.family, this.table)}\n`;
    return out;
  }
}

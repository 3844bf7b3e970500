// Reads knftables-format transaction lines back into operations: for replaying a
// transaction upstream kube-proxy logged (-v=9) and for the in-memory table in tests.
import type { ChainObj, ElementObj, NftFamily, NftObject, Operation, SetObj, Verb } from './transaction.ts';

export interface ParsedLine extends Operation {
  family: NftFamily;
  table: string;
}

const COMMENT = '"((?:[^"\\\\]|\\\\.)*)"';
const unquote = (s: string | undefined) => (s === undefined ? undefined : s.replace(/\\(.)/g, '$1'));

const HEAD = /^(add|flush|delete) (table|chain|rule|set|map|element) (ip|ip6) (\S+)(?: (.*))?$/;
const TABLE_BODY = new RegExp(`^\\{ comment ${COMMENT} ; \\}$`);
const CHAIN_BODY = new RegExp(`^(\\S+)(?: \\{(?: type (\\S+) hook (\\S+) priority (-?\\d+) ;)?(?: comment ${COMMENT} ;)? \\})?$`);
const RULE_BODY = new RegExp(`^(\\S+) (.*?)(?: comment ${COMMENT})?$`);
const SET_BODY = new RegExp(`^(\\S+)(?: \\{ type ([^;]*) ;(?: flags ([^;]*) ;)?(?: timeout (\\d+)s ;)?(?: comment ${COMMENT} ;)? \\})?$`);
const ELEMENT_BODY = new RegExp(`^(\\S+) \\{ (.*?)(?: comment ${COMMENT})?(?: : (.*))? \\}$`);

/** One line, or an Error saying what could not be read. */
export function parseLine(line: string): ParsedLine | Error {
  const m = HEAD.exec(line.trim());
  if (!m) return new Error(`not an nftables operation: ${line}`);
  const verb = m[1] as Verb;
  const kind = m[2]!;
  const family = m[3] as NftFamily;
  const table = m[4]!;
  const rest = m[5] ?? '';
  let obj: NftObject | null = null;
  switch (kind) {
    case 'table': {
      if (rest === '') obj = { kind: 'table' };
      else {
        const t = TABLE_BODY.exec(rest);
        if (t) obj = { kind: 'table', comment: unquote(t[1]) };
      }
      break;
    }
    case 'chain': {
      const c = CHAIN_BODY.exec(rest);
      if (c) {
        const chain: ChainObj = { kind: 'chain', name: c[1]! };
        if (c[2] !== undefined) Object.assign(chain, { type: c[2], hook: c[3], priority: Number(c[4]) });
        if (c[5] !== undefined) chain.comment = unquote(c[5]);
        obj = chain;
      }
      break;
    }
    case 'rule': {
      const r = RULE_BODY.exec(rest);
      if (r) obj = { kind: 'rule', chain: r[1]!, rule: r[2]!, ...(r[3] !== undefined ? { comment: unquote(r[3]) } : {}) };
      break;
    }
    case 'set':
    case 'map': {
      const s = SET_BODY.exec(rest);
      if (s) {
        const set: SetObj = { kind, name: s[1]! };
        if (s[2] !== undefined) set.type = s[2];
        if (s[3] !== undefined) set.flags = s[3].split(',');
        if (s[4] !== undefined) set.timeoutSeconds = Number(s[4]);
        if (s[5] !== undefined) set.comment = unquote(s[5]);
        obj = set;
      }
      break;
    }
    case 'element': {
      const e = ELEMENT_BODY.exec(rest);
      if (e) {
        const el: ElementObj = { kind: 'element', container: e[1]!, key: e[2]!.split(' . '), value: e[4] === undefined ? [] : e[4].split(' . ') };
        if (e[3] !== undefined) el.comment = unquote(e[3]);
        obj = el;
      }
      break;
    }
  }
  if (!obj) return new Error(`cannot read this nftables ${kind} operation: ${line}`);
  return { verb, obj, family, table };
}

/** Every non-blank, non-comment line of a transaction; throws on the first it cannot read. */
export function parseTransactionText(text: string): ParsedLine[] {
  const out: ParsedLine[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const p = parseLine(line);
    if (p instanceof Error) throw p;
    out.push(p);
  }
  return out;
}

// Reading what nft lists: `nft -j list table` (which chains, sets and map elements exist,
// for a full sync to start from), and a canonical form of `nft list table` text for
// comparing two tables (objects by name, set elements sorted, dynamic sets' contents left
// out — what nft prints in kernel order or what traffic fills in).
import { isAffinitySetName } from './names.ts';

export interface TableListing {
  chains: Set<string>;
  sets: Set<string>;
  /** Elements of every set and map (key → value, " . "-joined as in transactions). */
  elements: Map<string, Map<string, string>>;
}

type Json = unknown;

function exprText(e: Json): string | null {
  if (typeof e === 'string') return e;
  if (typeof e === 'number') return String(e);
  if (e && typeof e === 'object') {
    const o = e as Record<string, Json>;
    if (Array.isArray(o.concat)) {
      const parts = o.concat.map(exprText);
      return parts.every((p): p is string => p !== null) ? parts.join(' . ') : null;
    }
    if (o.elem && typeof o.elem === 'object') return exprText((o.elem as Record<string, Json>).val);
    if (o.prefix && typeof o.prefix === 'object') {
      const p = o.prefix as Record<string, Json>;
      return `${exprText(p.addr)}/${String(p.len)}`;
    }
  }
  return null;
}

function verdictText(v: Json): string | null {
  if (!v || typeof v !== 'object') return exprText(v);
  const [[verb, arg] = []] = Object.entries(v as Record<string, Json>);
  if (verb === 'goto' || verb === 'jump') {
    const target = (arg as Record<string, Json> | null)?.target;
    return typeof target === 'string' ? `${verb} ${target}` : null;
  }
  if (['drop', 'accept', 'return', 'continue'].includes(verb!)) return verb!;
  return exprText(v);
}

/** Parses `nft -j list table FAMILY TABLE`; throws when the JSON is not what nft prints. */
export function parseTableJson(text: string, table: string): TableListing {
  const doc = JSON.parse(text) as { nftables?: Json[] };
  if (!Array.isArray(doc.nftables)) throw new Error('nft -j output has no "nftables" array');
  const out: TableListing = { chains: new Set(), sets: new Set(), elements: new Map() };
  for (const item of doc.nftables) {
    if (!item || typeof item !== 'object') continue;
    const [[kind, body] = []] = Object.entries(item as Record<string, Json>);
    const o = body as Record<string, Json> | undefined;
    if (!o || o.table !== table || typeof o.name !== 'string') continue;
    if (kind === 'chain') out.chains.add(o.name);
    else if (kind === 'set' || kind === 'map') {
      if (kind === 'set') out.sets.add(o.name);
      const elems = new Map<string, string>();
      for (const el of (o.elem as Json[] | undefined) ?? []) {
        const [k, v] = kind === 'map' && Array.isArray(el) ? [exprText(el[0]), verdictText(el[1])] : [exprText(el), ''];
        if (k === null || v === null) throw new Error(`cannot read an element of ${kind} ${o.name}: ${JSON.stringify(el)}`);
        elems.set(k, v);
      }
      out.elements.set(o.name, elems);
    }
  }
  return out;
}

/** Splits "a, b, { c, d }" at top-level commas (outside braces and quotes). */
function splitTopLevel(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '"' && s[i - 1] !== '\\') quoted = !quoted;
    if (!quoted && c === '{') depth++;
    if (!quoted && c === '}') depth--;
    if (!quoted && depth === 0 && c === ',') {
      out.push(cur.trim());
      cur = '';
    } else cur += c;
  }
  if (cur.trim() !== '') out.push(cur.trim());
  return out;
}

/**
 * `nft list table` text in a canonical form: each table's sets, maps and chains sorted
 * by kind and name; set and map elements one a line, sorted; the elements of dynamic
 * (affinity-…) sets removed, since traffic fills them. Rules keep their order.
 */
export function normalizeListing(text: string): string {
  const lines = text.split('\n');
  const out: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const head = lines[i]!;
    const t = /^table (\S+) (\S+) \{$/.exec(head);
    if (!t) {
      i++;
      continue;
    }
    i++;
    const preamble: string[] = [];
    const blocks: { key: string; lines: string[] }[] = [];
    while (i < lines.length && lines[i] !== '}') {
      const line = lines[i]!;
      const b = /^\t(set|map|chain|flowtable|counter|quota) (\S+) \{$/.exec(line);
      if (!b) {
        if (line.trim() !== '') preamble.push(line);
        i++;
        continue;
      }
      const body: string[] = [];
      i++;
      while (i < lines.length && lines[i] !== '\t}') body.push(lines[i++]!);
      i++;
      blocks.push({ key: `${b[1] === 'chain' ? 1 : 0} ${b[2]}`, lines: [line, ...normalizeBlockBody(body, b[1] === 'set' && isAffinitySetName(b[2]!))] });
    }
    i++;
    blocks.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    out.push(head, ...preamble);
    for (const b of blocks) out.push(...b.lines, '\t}');
    out.push('}');
  }
  return out.length ? `${out.join('\n')}\n` : '';
}

function normalizeBlockBody(body: string[], dynamic: boolean): string[] {
  const out: string[] = [];
  for (let j = 0; j < body.length; j++) {
    const line = body[j]!;
    const m = /^(\t\t)elements = \{ ?(.*)$/.exec(line);
    if (!m) {
      if (line.trim() !== '') out.push(line);
      continue;
    }
    // The list runs until the line that ends it with "}" (element text has no newlines).
    let all = m[2]!;
    while (!/\}\s*$/.test(all) && j + 1 < body.length) all += ` ${body[++j]!.trim()}`;
    if (dynamic) continue;
    const elements = splitTopLevel(all.replace(/\s*\}\s*$/, '')).sort();
    out.push(`${m[1]}elements = {`, ...elements.map((e) => `${m[1]}\t${e}`), `${m[1]}}`);
  }
  return out;
}

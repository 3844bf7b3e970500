// kube-proxy's ipsets as `ipset restore` input: how upstream creates them (pkg/proxy/ipvs/
// ipset: hash sets with family, hashsize 1024 and maxelem 65536, bitmap:port over 0-65535),
// entries as upstream's Entry.String() writes them, reading `ipset save` back, and the
// restore input that turns what a node has into what a sync wants.
import type { IPFamily } from '../ip.ts';
import type { SetType } from './names.ts';

export interface IpsetSpec {
  name: string;
  type: SetType;
  family: IPFamily;
  comment: string;
  /** Sorted, without duplicates. */
  entries: string[];
}

const HASH_SIZE = 1024;
const MAX_ELEM = 65536;
const PORT_RANGE = '0-65535';

/** `ipset create` parameters after the type, as upstream passes them. */
export function createOptions(type: SetType, family: IPFamily): string[] {
  if (type === 'bitmap:port') return ['range', PORT_RANGE];
  return ['family', family === 'IPv6' ? 'inet6' : 'inet', 'hashsize', String(HASH_SIZE), 'maxelem', String(MAX_ELEM)];
}

export function createLine(name: string, type: SetType, family: IPFamily): string {
  return ['create', name, type, ...createOptions(type, family)].join(' ');
}

/** Entry.String(): "ip,proto:port", "ip,proto:port,ip2", "ip,proto:port,net", "port" or "ip". */
export const entry = {
  ipPort: (ip: string, protocol: string, port: number) => `${ip},${protocol}:${port}`,
  ipPortIp: (ip: string, protocol: string, port: number, ip2: string) => `${ip},${protocol}:${port},${ip2}`,
  ipPortNet: (ip: string, protocol: string, port: number, net: string) => `${ip},${protocol}:${port},${net}`,
  port: (port: number) => String(port),
  ip: (ip: string) => ip,
};

/** The sets as `ipset restore -exist` input: each set's comment, its create line and its entries. */
export function formatIpsetRestore(sets: IpsetSpec[]): string {
  const lines: string[] = [];
  for (const s of sets) {
    lines.push(`# ${s.comment}`, createLine(s.name, s.type, s.family));
    for (const e of s.entries) lines.push(`add ${s.name} ${e}`);
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}

export interface SavedSet {
  name: string;
  type: string;
  /** The create line's options, e.g. {family: "inet", hashsize: "1024", maxelem: "65536", comment: ""}. */
  options: Map<string, string>;
  entries: Set<string>;
}

const VALUED_OPTIONS = new Set(['family', 'hashsize', 'maxelem', 'range', 'netmask', 'bucketsize', 'initval', 'timeout', 'markmask', 'size']);

/** Parses `ipset save` output (create and add lines; entry extensions such as comments are dropped). */
export function parseIpsetSave(text: string): Map<string, SavedSet> {
  const sets = new Map<string, SavedSet>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const words = line.split(/\s+/);
    if (words[0] === 'create' && words.length >= 3) {
      const options = new Map<string, string>();
      for (let i = 3; i < words.length; i++) {
        const w = words[i]!;
        if (VALUED_OPTIONS.has(w) && i + 1 < words.length) options.set(w, words[++i]!);
        else options.set(w, '');
      }
      sets.set(words[1]!, { name: words[1]!, type: words[2]!, options, entries: new Set() });
    } else if (words[0] === 'add' && words.length >= 3) {
      sets.get(words[1]!)?.entries.add(words[2]!);
    }
  }
  return sets;
}

/**
 * Whether `ipset create … -exist` with upstream's parameters accepts the existing set: the
 * kernel requires the same type, family, maxelem (hash) or range (bitmap) and no
 * extensions (comment, timeout, counters…); the hash size may differ (hashes grow).
 */
export function compatible(saved: SavedSet, type: SetType, family: IPFamily): boolean {
  if (saved.type !== type) return false;
  const want = new Map<string, string>();
  const opts = createOptions(type, family);
  for (let i = 0; i < opts.length; i += 2) want.set(opts[i]!, opts[i + 1]!);
  for (const [k, v] of saved.options) {
    if (k === 'hashsize' || k === 'bucketsize' || k === 'initval') continue;
    if (want.get(k) !== v) return false;
  }
  for (const [k, v] of want) if (k !== 'hashsize' && saved.options.get(k) !== v) return false;
  return true;
}

/** Same type and family: the kernel lets `ipset swap` exchange the two. */
function swappable(saved: SavedSet, type: SetType, family: IPFamily): boolean {
  if (saved.type !== type) return false;
  if (type === 'bitmap:port') return true;
  return (saved.options.get('family') ?? 'inet') === (family === 'IPv6' ? 'inet6' : 'inet');
}

/** A temporary name for rebuilding `name` (31 characters at most, never one of kube-proxy's sets). */
export function tempSetName(name: string): string {
  return `${name.slice(0, 27)}-NEW`;
}

export interface IpsetPlan {
  /** `ipset restore -exist` input; "" when nothing changes. */
  text: string;
  created: string[];
  /** Sets whose create parameters were wrong, rebuilt and swapped in (same type and family). */
  swapped: string[];
  /** Sets of another type or family, destroyed and created again (fails while iptables references them). */
  recreated: string[];
  added: number;
  deleted: number;
}

/**
 * What turns the node's sets into the wanted ones, in one `ipset restore -exist`: missing
 * sets are created, stale entries deleted and missing ones added (upstream syncIPSetEntries,
 * batched); a set created with other parameters is rebuilt under a temporary name and
 * swapped in, so the iptables rules that reference it never see it missing.
 */
export function planIpsetRestore(wanted: IpsetSpec[], current: Map<string, SavedSet>): IpsetPlan {
  const lines: string[] = [];
  const plan: IpsetPlan = { text: '', created: [], swapped: [], recreated: [], added: 0, deleted: 0 };
  const fill = (name: string, entries: string[]) => {
    for (const e of entries) lines.push(`add ${name} ${e}`);
    plan.added += entries.length;
  };
  for (const s of wanted) {
    const saved = current.get(s.name);
    if (!saved) {
      lines.push(createLine(s.name, s.type, s.family));
      fill(s.name, s.entries);
      plan.created.push(s.name);
    } else if (compatible(saved, s.type, s.family)) {
      const want = new Set(s.entries);
      for (const e of [...saved.entries].sort()) {
        if (!want.has(e)) {
          lines.push(`del ${s.name} ${e}`);
          plan.deleted++;
        }
      }
      fill(s.name, s.entries.filter((e) => !saved.entries.has(e)));
    } else if (swappable(saved, s.type, s.family)) {
      const tmp = tempSetName(s.name);
      if (current.has(tmp)) lines.push(`destroy ${tmp}`);
      lines.push(createLine(tmp, s.type, s.family));
      fill(tmp, s.entries);
      lines.push(`swap ${tmp} ${s.name}`, `destroy ${tmp}`);
      plan.swapped.push(s.name);
    } else {
      lines.push(`destroy ${s.name}`, createLine(s.name, s.type, s.family));
      fill(s.name, s.entries);
      plan.recreated.push(s.name);
    }
  }
  plan.text = lines.length ? `${lines.join('\n')}\n` : '';
  return plan;
}

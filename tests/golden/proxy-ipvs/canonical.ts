// One IPVS-mode sync in a canonical text, so that svclab's render and what upstream's
// proxier did can be compared byte for byte: the kube-ipvs0 addresses, the virtual and
// real servers, the ipsets with their entries, the jump rules from the built-in chains in
// their final order, and the iptables-restore input (where upstream iterates a Go map,
// in KUBE-IPVS-OUT-FILTER, the rules are sorted).

export interface SyncParts {
  addresses: string[];
  /** ipvsadm-restore lines ("-A …", "-a …"). */
  ipvs: string[];
  /** `ipset save` or `ipset restore` lines ("create …", "add …"). */
  ipsets: string[];
  /** "table chain rule" of each jump rule, in chain order. */
  jumps: string[];
  restore: string;
}

const IGNORED_CREATE_OPTIONS = new Set(['bucketsize', 'initval']);

function canonicalIpsets(lines: string[]): string[] {
  const sets = new Map<string, { create: string; adds: string[] }>();
  for (const line of lines) {
    const w = line.trim().split(/\s+/);
    if (w[0] === 'create') {
      const kept: string[] = [];
      for (let i = 1; i < w.length; i++) {
        if (IGNORED_CREATE_OPTIONS.has(w[i]!)) i++;
        else kept.push(w[i]!);
      }
      sets.set(w[1]!, { create: `create ${kept.join(' ')}`, adds: [] });
    } else if (w[0] === 'add') {
      sets.get(w[1]!)?.adds.push(`add ${w[1]} ${w[2]}`);
    }
  }
  return [...sets.keys()].sort().flatMap((n) => [sets.get(n)!.create, ...sets.get(n)!.adds.sort()]);
}

function canonicalRestore(text: string): string {
  const lines = text.split('\n').filter((l) => l !== '');
  const out = lines.filter((l) => !l.startsWith('-A KUBE-IPVS-OUT-FILTER '));
  const outFilter = lines.filter((l) => l.startsWith('-A KUBE-IPVS-OUT-FILTER ')).sort();
  const at = out.findIndex((l, i) => i > 0 && l === 'COMMIT' && out.slice(0, i).includes('*filter'));
  out.splice(at, 0, ...outFilter);
  return out.join('\n');
}

export function canonicalText(p: SyncParts): string {
  return [
    '## kube-ipvs0', ...[...p.addresses].sort(),
    '## ipvs', ...[...p.ipvs].sort(),
    '## ipsets', ...canonicalIpsets(p.ipsets),
    '## jumps', ...p.jumps,
    '## iptables-restore', canonicalRestore(p.restore),
  ].join('\n') + '\n';
}

const CHAIN_ORDER = ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'];

/** Groups "table chain rule" lines by table (nat, filter) and built-in chain, keeping each chain's order. */
function byTableAndChain(rules: string[]): string[] {
  const key = (r: string) => ['nat', 'filter'].indexOf(r.split(' ')[0]!) * 10 + CHAIN_ORDER.indexOf(r.split(' ')[1]!);
  return rules.map((r, i) => ({ r, i })).sort((a, b) => key(a.r) - key(b.r) || a.i - b.i).map((x) => x.r);
}

/** The jump rules into KUBE-* chains from the built-in chains of an `iptables-save`. */
export function jumpsFromSave(save: string): string[] {
  const out: string[] = [];
  let table = '';
  for (const line of save.split('\n')) {
    if (line.startsWith('*')) table = line.slice(1);
    const m = /^-A (\S+) (.*-j KUBE-\S+)$/.exec(line);
    if (m && CHAIN_ORDER.includes(m[1]!)) out.push(`${table} ${m[1]} ${m[2]}`);
  }
  return byTableAndChain(out);
}

/** The same from iptables-restore input that inserts them (-I): each chain's inserts end up in reverse. */
export function jumpsFromInserts(restore: string): string[] {
  const out: string[] = [];
  let table = '';
  for (const line of restore.split('\n')) {
    if (line.startsWith('*')) table = line.slice(1);
    const m = /^-I (\S+) (.*)$/.exec(line);
    if (m) out.unshift(`${table} ${m[1]} ${m[2]}`);
  }
  return byTableAndChain(out);
}

/** Splits `svclab proxy render --proxy-mode ipvs` output into its sections' parts. */
export function partsFromRender(text: string): SyncParts {
  const sections = text.split(/^# ==== /m).slice(1);
  // Each section's text after its header line.
  const body = (n: number) => (sections.find((s) => s.startsWith(`${n}. `)) ?? '').replace(/^.*\n/, '');
  const lines = (n: number) => body(n).split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  const iptables = body(4);
  const marker = "# The rules of one sync (upstream's iptables-restore input):\n";
  const [jumpText, restore] = [iptables.slice(0, iptables.indexOf(marker)), iptables.slice(iptables.indexOf(marker) + marker.length)];
  return {
    addresses: lines(1).filter((l) => l.startsWith('addr add ')).map((l) => l.split(' ')[2]!.split('/')[0]!),
    ipvs: lines(2),
    ipsets: lines(3),
    jumps: jumpsFromInserts(jumpText),
    restore,
  };
}

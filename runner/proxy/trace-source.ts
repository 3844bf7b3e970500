// Where `svclab proxy trace` gets rules and the node's addresses: a saved file, or a live
// node through any Exec (docker exec into a kind node, ip netns exec in tests); and which
// tracer reads them: iptables (an iptables-save dump) or nftables (kube-proxy's nft table).
import { readFile } from 'node:fs/promises';
import { run } from '../exec.ts';
import { UserError } from '../errors.ts';
import { canonicalIP, isV4, parseIP } from '../core/proxy/ip.ts';
import { parseDump } from '../core/proxy/iptables-dump.ts';
import { TABLE } from '../core/proxy/nftables/names.ts';
import { looksLikeNftables, parseNftRuleset } from '../core/proxy/nftables/ruleset.ts';
import { formatNftTrace, traceNftPacket, type NftTraceResult } from '../core/proxy/nftables/trace.ts';
import { formatTrace, tracePacket, type TraceResult } from '../core/proxy/trace.ts';
import type { Exec } from './exec.ts';

export const TRACE_MODES = ['auto', 'iptables', 'nftables'] as const;
export type TraceMode = (typeof TRACE_MODES)[number];

/** What the tracers return, tagged with the one that ran. */
export type AnyTraceResult = (TraceResult & { mode: 'iptables' }) | NftTraceResult;

/** A node's nftables table: its `nft list table` text, none, or no way to ask (no nft). */
export type NftTableListing = { kind: 'table'; text: string } | { kind: 'none' } | { kind: 'unavailable'; reason: string };

export interface RulesSource {
  /** For messages: "file rules.txt", "node kind-worker". */
  readonly label: string;
  /** An iptables-save dump from a node; a file's content (either kind of rules). */
  rules(): Promise<string>;
  /** A live node's kube-proxy nftables table of a family; files have none. */
  nftTable?(family: 'ip' | 'ip6'): Promise<NftTableListing>;
  localAddresses(): Promise<string[]>;
}

export function fileRulesSource(path: string, nodeIPs: string[]): RulesSource {
  return {
    label: `file ${path}`,
    async rules() {
      try {
        return await readFile(path, 'utf8');
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        throw new UserError(`cannot read rules file ${path}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (err as Error).message}`);
      }
    },
    localAddresses: async () => nodeIPs,
  };
}

/** Parses `ip -o addr show` into the addresses it lists. */
export function parseIpAddr(text: string): string[] {
  return [...text.matchAll(/\binet6? ([0-9a-fA-F:.]+)\//g)].map((m) => m[1]!);
}

export function execRulesSource(exec: Exec, label: string): RulesSource {
  return {
    label,
    async rules() {
      const r = await exec('iptables-save', [], { allowFailure: true, timeoutMs: 60_000 });
      if (r.code !== 0) throw new UserError(`iptables-save on ${label} failed: ${(r.stderr || r.stdout).trim().split('\n')[0]}`);
      return r.stdout;
    },
    async nftTable(family) {
      let r;
      try {
        r = await exec('nft', ['list', 'table', family, TABLE], { allowFailure: true, timeoutMs: 60_000 });
      } catch (err) {
        return { kind: 'unavailable', reason: (err as Error).message };
      }
      if (r.code === 0) return { kind: 'table', text: r.stdout };
      const out = (r.stderr || r.stdout).trim();
      // nft says "No such file or directory" for a missing table; a missing nft binary is
      // reported by docker exec / ip netns exec ("executable file not found", "exec of \"nft\" failed").
      if (/executable file not found|exec of "nft" failed|[‘'"]nft[’'"]: No such file|command not found/.test(out)) return { kind: 'unavailable', reason: `no nft command on ${label} (Debian package nftables)` };
      if (/^Error: No such file or directory/m.test(out)) return { kind: 'none' };
      return { kind: 'unavailable', reason: `nft list table ${family} ${TABLE} on ${label} failed: ${out.split('\n')[0]}` };
    },
    async localAddresses() {
      const r = await exec('ip', ['-o', 'addr', 'show'], { allowFailure: true, timeoutMs: 30_000 });
      return r.code === 0 ? parseIpAddr(r.stdout) : [];
    },
  };
}

/** A kind node: its container runs iptables-save (through kind's iptables wrapper). */
export function dockerNodeSource(node: string): RulesSource {
  return execRulesSource((cmd, args, opts) => run('docker', ['exec', node, cmd, ...args], opts), `node ${node}`);
}

/**
 * Parses and checks the packet, reads the rules from `source`, traces. Mode auto: a file is
 * traced by what it holds (nft listing or commands vs iptables-save), a node by whether it
 * has kube-proxy's nftables table.
 */
export async function traceFromSource(source: RulesSource, opts: { src: string; dst: string; proto: 'tcp' | 'udp' | 'sctp'; sport?: string; nodeIp?: string[]; recent?: string[]; mode?: TraceMode }): Promise<AnyTraceResult> {
  const src = canonicalIP(opts.src);
  if (!src) throw new UserError(`--src ${JSON.stringify(opts.src)} is not an IP address`);
  const m = /^\[(.+)\]:(\d+)$/.exec(opts.dst) ?? /^([^:]+):(\d+)$/.exec(opts.dst);
  const dst = m ? canonicalIP(m[1]!) : null;
  const dport = m ? Number(m[2]) : NaN;
  if (!dst || !(dport >= 1 && dport <= 65535)) throw new UserError(`--dst ${JSON.stringify(opts.dst)}: expected IP:PORT, e.g. 10.96.0.10:80`);
  const sport = opts.sport === undefined ? undefined : Number(opts.sport);
  if (sport !== undefined && !(Number.isInteger(sport) && sport >= 1 && sport <= 65535)) throw new UserError(`--sport ${opts.sport}: expected a port number`);
  for (const ip of opts.nodeIp ?? []) if (!canonicalIP(ip)) throw new UserError(`--node-ip ${JSON.stringify(ip)} is not an IP address`);
  const mode = opts.mode ?? 'auto';
  if (!TRACE_MODES.includes(mode)) throw new UserError(`--mode ${JSON.stringify(mode)}: expected one of ${TRACE_MODES.join(', ')}`);
  const packet = { src, dst, dport, proto: opts.proto, sport };
  const traceOptions = async () => ({ localAddresses: await source.localAddresses(), recent: opts.recent });
  const nft = async (text: string, notes: string[]) => {
    let ruleset;
    try {
      ruleset = parseNftRuleset(text);
    } catch (err) {
      throw new UserError(`nftables rules from ${source.label} cannot be read: ${(err as Error).message}`);
    }
    const r = traceNftPacket(ruleset, packet, await traceOptions());
    return { ...r, notes: [...r.notes, ...notes] };
  };
  if (source.nftTable && mode !== 'iptables') {
    const family = isV4(parseIP(dst)!) ? 'ip' : 'ip6';
    const listing = await source.nftTable(family);
    if (listing.kind === 'table') return nft(listing.text, [`read table ${family} ${TABLE} only (nft list table ${family} ${TABLE}); other tables on ${source.label} are not traced`]);
    if (mode === 'nftables') throw new UserError(listing.kind === 'none' ? `${source.label} has no nftables table ${family} ${TABLE}: its kube-proxy is not in nftables mode (trace with --mode iptables)` : `cannot read the nftables rules of ${source.label}: ${listing.reason}`);
  }
  const text = await source.rules();
  if (!source.nftTable && (mode === 'nftables' || (mode === 'auto' && looksLikeNftables(text)))) return nft(text, []);
  let dump;
  try {
    dump = parseDump(text);
  } catch (err) {
    throw new UserError(`rules from ${source.label} cannot be read: ${(err as Error).message}`);
  }
  return { mode: 'iptables', ...tracePacket(dump, packet, await traceOptions()) };
}

export function formatAnyTrace(r: AnyTraceResult): string {
  return r.mode === 'nftables' ? formatNftTrace(r) : formatTrace(r);
}

// Where `svclab proxy trace` gets rules and the node's addresses: a saved file, or a live
// node through any Exec (docker exec into a kind node, ip netns exec in tests).
import { readFile } from 'node:fs/promises';
import { run } from '../exec.ts';
import { UserError } from '../errors.ts';
import { canonicalIP } from '../core/proxy/ip.ts';
import { parseDump } from '../core/proxy/iptables-dump.ts';
import { tracePacket, type TraceResult } from '../core/proxy/trace.ts';
import type { Exec } from './exec.ts';

export interface RulesSource {
  /** For messages: "file rules.txt", "node kind-worker". */
  readonly label: string;
  rules(): Promise<string>;
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

/** Parses and checks the packet, reads the rules from `source`, traces. */
export async function traceFromSource(source: RulesSource, opts: { src: string; dst: string; proto: 'tcp' | 'udp' | 'sctp'; sport?: string; nodeIp?: string[]; recent?: string[] }): Promise<TraceResult> {
  const src = canonicalIP(opts.src);
  if (!src) throw new UserError(`--src ${JSON.stringify(opts.src)} is not an IP address`);
  const m = /^\[(.+)\]:(\d+)$/.exec(opts.dst) ?? /^([^:]+):(\d+)$/.exec(opts.dst);
  const dst = m ? canonicalIP(m[1]!) : null;
  const dport = m ? Number(m[2]) : NaN;
  if (!dst || !(dport >= 1 && dport <= 65535)) throw new UserError(`--dst ${JSON.stringify(opts.dst)}: expected IP:PORT, e.g. 10.96.0.10:80`);
  const sport = opts.sport === undefined ? undefined : Number(opts.sport);
  if (sport !== undefined && !(Number.isInteger(sport) && sport >= 1 && sport <= 65535)) throw new UserError(`--sport ${opts.sport}: expected a port number`);
  for (const ip of opts.nodeIp ?? []) if (!canonicalIP(ip)) throw new UserError(`--node-ip ${JSON.stringify(ip)} is not an IP address`);
  const text = await source.rules();
  let dump;
  try {
    dump = parseDump(text);
  } catch (err) {
    throw new UserError(`rules from ${source.label} cannot be read: ${(err as Error).message}`);
  }
  return tracePacket(dump, { src, dst, dport, proto: opts.proto, sport }, { localAddresses: await source.localAddresses(), recent: opts.recent });
}

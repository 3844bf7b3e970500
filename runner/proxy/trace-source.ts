// Where `svclab proxy trace` gets rules and the node's addresses: a saved file, or a live
// node through any Exec (docker exec into a kind node, ip netns exec in tests).
import { readFile } from 'node:fs/promises';
import { run } from '../exec.ts';
import { UserError } from '../errors.ts';
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

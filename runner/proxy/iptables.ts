// The iptables commands kube-proxy runs (upstream pkg/util/iptables): chains and jump
// rules with `iptables -w 5`, whole tables with `iptables-save -t` and
// `iptables-restore -w 5 --noflush --counters`, on the legacy or nft backend.
import type { Exec } from './exec.ts';

export type Backend = 'nft' | 'legacy';
export type Table = 'filter' | 'nat' | 'mangle';

export class RestoreError extends Error {
  override readonly name = 'RestoreError';
  constructor(
    message: string,
    /** The input line iptables-restore refused (1-based), when it said. */
    readonly line: number | null,
  ) {
    super(message);
  }
}

export interface Iptables {
  readonly backend: Backend;
  readonly hasRandomFully: boolean;
  /** Creates the chain; true if it already existed. */
  ensureChain(table: Table, chain: string): Promise<boolean>;
  chainExists(table: Table, chain: string): Promise<boolean>;
  deleteChain(table: Table, chain: string): Promise<void>;
  /** Adds the rule at the top ("-I") or bottom ("-A") unless `-C` finds it; true if it existed. */
  ensureRule(position: '-I' | '-A', table: Table, chain: string, args: string[]): Promise<boolean>;
  deleteRule(table: Table, chain: string, args: string[]): Promise<void>;
  save(table?: Table): Promise<string>;
  restoreAll(data: string): Promise<void>;
}

const WAIT = ['-w', '5'];

/** The names of the chains an `iptables-save -t TABLE` output declares. */
export function chainsInSave(save: string): string[] {
  const out: string[] = [];
  for (const line of save.split('\n')) if (line.startsWith(':')) out.push(line.slice(1, line.indexOf(' ') > 0 ? line.indexOf(' ') : undefined));
  return out;
}

export function parseRestoreError(output: string): number | null {
  const m = /line (\d+) failed/.exec(output);
  return m ? Number(m[1]) : null;
}

export function newIptables(exec: Exec, backend: Backend, hasRandomFully = true): Iptables {
  const bin = `iptables-${backend}`;
  const ipt = async (args: string[]) => exec(bin, [...WAIT, ...args], { allowFailure: true, timeoutMs: 5 * 60_000 });
  const fail = (what: string, r: { code: number | null; stderr: string; stdout: string }) => new Error(`${what}: ${bin} exited ${r.code}: ${(r.stderr || r.stdout).trim()}`);
  return {
    backend,
    hasRandomFully,
    async ensureChain(table, chain) {
      const r = await ipt(['-N', chain, '-t', table]);
      if (r.code === 0) return false;
      if (r.code === 1) return true;
      throw fail(`creating chain ${chain} in ${table}`, r);
    },
    async chainExists(table, chain) {
      const r = await ipt(['-S', chain, '-t', table]);
      return r.code === 0;
    },
    async deleteChain(table, chain) {
      const r = await ipt(['-X', chain, '-t', table]);
      if (r.code !== 0) throw fail(`deleting chain ${chain} in ${table}`, r);
    },
    async ensureRule(position, table, chain, args) {
      const check = await ipt(['-C', chain, '-t', table, ...args]);
      if (check.code === 0) return true;
      if (check.code !== 1) throw fail(`checking a rule in ${table}/${chain}`, check);
      const r = await ipt([position, chain, '-t', table, ...args]);
      if (r.code !== 0) throw fail(`adding a rule to ${table}/${chain}`, r);
      return false;
    },
    async deleteRule(table, chain, args) {
      const check = await ipt(['-C', chain, '-t', table, ...args]);
      if (check.code !== 0) return;
      const r = await ipt(['-D', chain, '-t', table, ...args]);
      if (r.code !== 0) throw fail(`deleting a rule from ${table}/${chain}`, r);
    },
    async save(table) {
      const r = await exec(`${bin}-save`, table ? ['-t', table] : [], { allowFailure: true, timeoutMs: 5 * 60_000 });
      if (r.code !== 0) throw fail(`${bin}-save${table ? ` -t ${table}` : ''}`, r);
      return r.stdout;
    },
    async restoreAll(data) {
      const r = await exec(`${bin}-restore`, [...WAIT, '--noflush', '--counters'], { input: data, allowFailure: true, timeoutMs: 5 * 60_000 });
      if (r.code !== 0) {
        const out = `${r.stderr}${r.stdout}`.trim();
        throw new RestoreError(`${bin}-restore exited ${r.code}: ${out}`, parseRestoreError(out));
      }
    },
  };
}

const KUBELET_CHAINS = /^:(KUBE-IPTABLES-HINT|KUBE-KUBELET-CANARY)/m;

/**
 * Picks the backend the node's kubelet uses, like upstream's iptables-wrapper: its hint
 * chains in nft's mangle table, else anywhere in legacy's rules; nft when neither has them.
 */
export async function detectBackend(exec: Exec): Promise<Backend> {
  const has = async (cmd: string, args: string[]) => {
    const r = await exec(cmd, args, { allowFailure: true, timeoutMs: 30_000 }).catch(() => null);
    return r !== null && r.code === 0 && KUBELET_CHAINS.test(r.stdout);
  };
  if (await has('iptables-nft-save', ['-t', 'mangle'])) return 'nft';
  if (await has('ip6tables-nft-save', ['-t', 'mangle'])) return 'nft';
  if (await has('iptables-legacy-save', [])) return 'legacy';
  if (await has('ip6tables-legacy-save', [])) return 'legacy';
  return 'nft';
}

/** The 3 lines either side of a failing restore line, numbered, for the log. */
export function linesAround(data: string, line: number, count = 3): string {
  const lines = data.split('\n');
  const from = Math.max(1, line - count);
  const to = Math.min(lines.length, line + count);
  const out: string[] = [];
  for (let i = from; i <= to; i++) out.push(`${i}: ${lines[i - 1]}`);
  return out.join('\n');
}

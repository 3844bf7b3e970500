// nfacct counters through Debian's nfacct tool (upstream talks netlink directly).
import type { Exec } from './exec.ts';

export interface Nfacct {
  /** Creates the counter unless it exists; false when nfacct is unavailable. */
  ensure(name: string): Promise<boolean>;
  /** ensure() for several counters, with one `nfacct list` for all of them. */
  ensureAll(names: string[]): Promise<boolean[]>;
  packets(name: string): Promise<number | null>;
}

/** Counter names in `nfacct list` output ("{ pkts = …, bytes = … } = NAME;" lines). */
export function parseNfacctList(text: string): Set<string> {
  return new Set([...text.matchAll(/\}\s*=\s*([^;\s]+);/g)].map((m) => m[1]!));
}

export function newNfacct(exec: Exec): Nfacct {
  const run = (args: string[]) => exec('nfacct', args, { allowFailure: true, timeoutMs: 10_000 }).catch(() => null);
  const get = async (name: string) => {
    const r = await run(['get', name]);
    if (!r || r.code !== 0) return null;
    const m = /pkts = (\d+)/.exec(r.stdout);
    return m ? Number(m[1]) : null;
  };
  const add = async (name: string) => {
    const r = await run(['add', name]);
    return r !== null && r.code === 0;
  };
  return {
    async ensure(name) {
      if ((await get(name)) !== null) return true;
      return add(name);
    },
    async ensureAll(names) {
      const r = await run(['list']);
      if (!r || r.code !== 0) return names.map(() => false);
      const have = parseNfacctList(r.stdout);
      return Promise.all(names.map((n) => (have.has(n) ? true : add(n))));
    },
    packets: get,
  };
}

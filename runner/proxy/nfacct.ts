// nfacct counters through Debian's nfacct tool (upstream talks netlink directly).
import type { Exec } from './exec.ts';

export interface Nfacct {
  /** Creates the counter unless it exists; false when nfacct is unavailable. */
  ensure(name: string): Promise<boolean>;
  packets(name: string): Promise<number | null>;
}

export function newNfacct(exec: Exec): Nfacct {
  const get = async (name: string) => {
    const r = await exec('nfacct', ['get', name], { allowFailure: true, timeoutMs: 10_000 }).catch(() => null);
    if (!r || r.code !== 0) return null;
    const m = /pkts = (\d+)/.exec(r.stdout);
    return m ? Number(m[1]) : null;
  };
  return {
    async ensure(name) {
      if ((await get(name)) !== null) return true;
      const r = await exec('nfacct', ['add', name], { allowFailure: true, timeoutMs: 10_000 }).catch(() => null);
      return r !== null && r.code === 0;
    },
    packets: get,
  };
}

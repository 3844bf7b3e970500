// The nft commands nftables mode runs (upstream uses sigs.k8s.io/knftables, which runs the
// same binary): a transaction through `nft -f -`, the table as JSON, and deleting it.
import { parseTableJson, type TableListing } from '../../core/proxy/nftables/listing.ts';
import { TABLE } from '../../core/proxy/nftables/names.ts';
import type { NftFamily } from '../../core/proxy/nftables/transaction.ts';
import { UserError } from '../../errors.ts';
import { RunError } from '../../exec.ts';
import type { Exec } from '../exec.ts';

export const NFT_MISSING = 'nft not found: nftables mode needs the nft command (Debian package nftables: apt-get install nftables)';

export class NftRunError extends Error {
  override readonly name = 'NftRunError';
  constructor(
    message: string,
    /** The transaction line nft refused (1-based), when it said. */
    readonly line: number | null,
  ) {
    super(message);
  }
}

export interface Nft {
  /** Runs one transaction atomically (`nft -f -`); throws NftRunError when nft refuses it. */
  run(transaction: string): Promise<void>;
  /** The kube-proxy table of a family, or null when there is none. */
  listTable(family: NftFamily): Promise<TableListing | null>;
  /** Deletes the kube-proxy table of a family; false when there was none. */
  deleteTable(family: NftFamily): Promise<boolean>;
}

/** "/dev/stdin:12:1-30: Error: …": the line nft complains about. */
export function parseNftErrorLine(stderr: string): number | null {
  const m = /\/dev\/stdin:(\d+):/.exec(stderr);
  return m ? Number(m[1]) : null;
}

/** True when the failure means there is no nft to run (directly, or inside `ip netns exec`). */
function isMissing(err: unknown, stderr = ''): boolean {
  if (err instanceof RunError && err.exitCode === null && /command not found/.test(err.output)) return true;
  return /exec of "nft" failed: No such file or directory/.test(stderr);
}

const noSuchTable = (stderr: string) => /No such file or directory/.test(stderr);

export function newNft(exec: Exec): Nft {
  const nft = async (args: string[], input?: string) => {
    try {
      const r = await exec('nft', args, { input, allowFailure: true, timeoutMs: 5 * 60_000 });
      if (r.code !== 0 && isMissing(null, r.stderr)) throw new UserError(NFT_MISSING);
      return r;
    } catch (err) {
      if (isMissing(err)) throw new UserError(NFT_MISSING);
      throw err;
    }
  };
  return {
    async run(transaction) {
      const r = await nft(['-f', '-'], transaction);
      if (r.code !== 0) {
        const out = (r.stderr || r.stdout).trim();
        throw new NftRunError(`nft -f exited ${r.code}: ${out}`, parseNftErrorLine(out));
      }
    },
    async listTable(family) {
      const r = await nft(['-j', 'list', 'table', family, TABLE]);
      if (r.code !== 0) {
        if (noSuchTable(r.stderr)) return null;
        throw new Error(`nft -j list table ${family} ${TABLE} exited ${r.code}: ${r.stderr.trim()}`);
      }
      return parseTableJson(r.stdout, TABLE);
    },
    async deleteTable(family) {
      const r = await nft(['delete', 'table', family, TABLE]);
      if (r.code === 0) return true;
      if (noSuchTable(r.stderr)) return false;
      throw new Error(`nft delete table ${family} ${TABLE} exited ${r.code}: ${r.stderr.trim()}`);
    },
  };
}

/**
 * Fails with a one-line UserError when nftables mode cannot work here: no nft, or one
 * older than 1.0.1 (upstream's requirement; older ones parse every table at startup).
 */
export async function checkNft(exec: Exec): Promise<string> {
  let r;
  try {
    r = await exec('nft', ['--version'], { allowFailure: true, timeoutMs: 30_000 });
  } catch (err) {
    if (isMissing(err)) throw new UserError(NFT_MISSING);
    throw err;
  }
  if (r.code !== 0) throw new UserError(isMissing(null, r.stderr) ? NFT_MISSING : `nft --version failed: ${(r.stderr || r.stdout).trim().split('\n')[0]}`);
  const m = /v(\d+)\.(\d+)\.(\d+)/.exec(r.stdout);
  if (m) {
    const [maj, min, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
    if (maj < 1 || (maj === 1 && min === 0 && patch < 1)) throw new UserError(`nftables mode needs nft 1.0.1 or later, found ${m[0]}: upgrade the Debian package nftables`);
  }
  return r.stdout.trim();
}

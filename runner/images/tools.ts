import { statfs } from 'node:fs/promises';
import { existsSync, mkdirSync } from 'node:fs';
import { UserError } from '../errors.ts';
import { commandExists } from '../exec.ts';

/** Fails with one line naming the Debian packages to install if a build tool is missing. */
export async function requireTools(tools: Record<string, string>, purpose: string): Promise<void> {
  const missing: string[] = [];
  for (const [cmd, pkg] of Object.entries(tools)) if (!(await commandExists(cmd))) missing.push(pkg);
  if (missing.length > 0) {
    throw new UserError(`${purpose} needs ${[...new Set(missing)].join(', ')}: install with 'apt-get install ${[...new Set(missing)].join(' ')}' and try again`);
  }
}

/** Fails with one line if the filesystem holding `dir` has less than `needGiB` free. */
export async function requireFreeDisk(dir: string, needGiB: number, purpose: string): Promise<void> {
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true });
  const s = await statfs(dir);
  const freeGiB = (s.bavail * s.bsize) / 2 ** 30;
  if (freeGiB < needGiB) {
    throw new UserError(`${purpose} needs about ${needGiB} GiB free in ${dir}, but only ${freeGiB.toFixed(1)} GiB is free: free some disk space (docker system prune, or SVCLAB_CACHE_DIR elsewhere) and try again`);
  }
}

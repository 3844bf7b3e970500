import { statfs } from 'node:fs/promises';
import { existsSync, mkdirSync } from 'node:fs';
import { UserError } from '../errors.ts';
import { commandExists } from '../exec.ts';

/** Debian's golang is older than the Go the builds need: that one is never installed for the user. */
const NOT_FROM_APT = new Set(['golang']);

/**
 * Installs missing Debian packages when it can (root, apt-get, SVCLAB_NO_APT unset), as
 * the Quick start promises; false when it cannot or the install failed.
 */
async function aptInstall(pkgs: string[], purpose: string): Promise<boolean> {
  if (process.getuid?.() !== 0 || process.env.SVCLAB_NO_APT || pkgs.some((p) => NOT_FROM_APT.has(p)) || !(await commandExists('apt-get'))) return false;
  const { spawnSync } = await import('node:child_process');
  process.stderr.write(` • ${purpose}: installing ${pkgs.join(', ')} with apt-get ...\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkgs], { stdio: ['ignore', 'ignore', 'inherit'], env }).status === 0;
  return install() || (spawnSync('apt-get', ['update', '-qq'], { stdio: ['ignore', 'ignore', 'inherit'], env }).status === 0 && install());
}

/** Installs (see aptInstall) or fails with one line naming the Debian packages of missing build tools. */
export async function requireTools(tools: Record<string, string>, purpose: string): Promise<void> {
  const lacking = async () => {
    const out: string[] = [];
    for (const [cmd, pkg] of Object.entries(tools)) if (!(await commandExists(cmd))) out.push(pkg);
    return [...new Set(out)];
  };
  let missing = await lacking();
  if (missing.length > 0 && (await aptInstall(missing, purpose))) missing = await lacking();
  if (missing.length > 0) {
    throw new UserError(`${purpose} needs ${missing.join(', ')}: install with 'apt-get install ${missing.join(' ')}' and try again`);
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

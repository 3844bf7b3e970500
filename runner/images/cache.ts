import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, relative } from 'node:path';

/** svclab's cache directory: $SVCLAB_CACHE_DIR, else $XDG_CACHE_HOME/svclab, else ~/.cache/svclab. */
export function cacheDir(...parts: string[]): string {
  const base = process.env.SVCLAB_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'svclab');
  return join(base, ...parts);
}

/** The repository root (where package.json is). */
export const repoRoot = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');

/** A short content key: sha256 over the given strings, hex, 12 characters. */
export function contentKey(...parts: string[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex').slice(0, 12);
}

/** sha256 over every file below dir (names and contents, in sorted order). */
export async function hashTree(dir: string): Promise<string> {
  const h = createHash('sha256');
  const walk = async (d: string): Promise<void> => {
    for (const name of (await readdir(d)).sort()) {
      const p = join(d, name);
      const s = await stat(p);
      if (s.isDirectory()) await walk(p);
      else {
        h.update(relative(dir, p)).update('\0').update(String(s.mode & 0o111)).update('\0');
        h.update(await readFile(p)).update('\0');
      }
    }
  };
  if (existsSync(dir)) await walk(dir);
  return h.digest('hex');
}

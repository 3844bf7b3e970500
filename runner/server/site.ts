import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../errors.ts';
import { run } from '../exec.ts';
import { repoRoot } from '../images/cache.ts';

export const docsDir = join(repoRoot, 'docs');
export const siteDir = join(docsDir, '.vitepress/dist');

function newestSource(dir: string): number {
  let newest = 0;
  for (const name of readdirSync(dir)) {
    if (name === 'dist' || name === 'cache' || name === 'node_modules') continue;
    const p = join(dir, name);
    const s = statSync(p);
    newest = Math.max(newest, s.isDirectory() ? newestSource(p) : s.mtimeMs);
  }
  return newest;
}

/** Builds the lesson site with VitePress unless the build is newer than every source file. */
export async function ensureSite(onLine?: (l: string) => void): Promise<string> {
  const built = join(siteDir, 'index.html');
  if (existsSync(built) && statSync(built).mtimeMs >= newestSource(docsDir)) return siteDir;
  const bin = join(repoRoot, 'node_modules/vitepress/bin/vitepress.js');
  if (!existsSync(bin)) throw new UserError('the lesson site cannot be built: VitePress is not installed (run npm ci in the svclab checkout)');
  await run(process.execPath, [bin, 'build', 'docs'], { cwd: repoRoot, onLine, timeoutMs: 10 * 60_000 });
  return siteDir;
}

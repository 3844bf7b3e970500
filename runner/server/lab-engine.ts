import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../images/cache.ts';
import type { LabEngine } from './labs.ts';

/**
 * The grading engine from runner/grade, when this checkout has it. Loaded by path so
 * the server does not depend on it at compile time.
 */
export async function labEngine(): Promise<LabEngine | undefined> {
  const live = join(repoRoot, 'runner/grade/live.ts');
  if (!existsSync(live)) return undefined;
  return (await import(live)) as LabEngine;
}

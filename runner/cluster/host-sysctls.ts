import { existsSync } from 'node:fs';
import { readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { stateDir } from './state.ts';

/**
 * A kubelet in a privileged node writes host-wide kernel settings, and they outlive
 * the cluster. svclab records them before its first cluster and puts them back when
 * its last cluster goes.
 */
export const KUBELET_SYSCTLS = ['vm/overcommit_memory', 'kernel/panic', 'kernel/panic_on_oops'];

const recordFile = () => join(stateDir(), 'host-sysctls.json');

async function readSysctl(key: string): Promise<string | undefined> {
  try {
    return (await readFile(`/proc/sys/${key}`, 'utf8')).trim();
  } catch {
    return undefined;
  }
}

/** Records the current values unless a record already exists (from before an earlier cluster). */
export async function recordHostSysctls(): Promise<void> {
  if (existsSync(recordFile())) return;
  const values: Record<string, string> = {};
  for (const k of KUBELET_SYSCTLS) {
    const v = await readSysctl(k);
    if (v !== undefined) values[k] = v;
  }
  await mkdir(stateDir(), { recursive: true });
  await writeFile(recordFile(), `${JSON.stringify(values, null, 2)}\n`);
}

/** Writes the recorded values back and forgets them. Returns what was restored. */
export async function restoreHostSysctls(): Promise<Record<string, string>> {
  if (!existsSync(recordFile())) return {};
  const values = JSON.parse(await readFile(recordFile(), 'utf8')) as Record<string, string>;
  const restored: Record<string, string> = {};
  for (const [k, v] of Object.entries(values)) {
    if ((await readSysctl(k)) === v) continue;
    try {
      await writeFile(`/proc/sys/${k}`, v);
      restored[k] = v;
    } catch {
      // Not root, or a read-only /proc/sys: nothing svclab can do; the record stays for the next try.
      return restored;
    }
  }
  await rm(recordFile(), { force: true });
  return restored;
}

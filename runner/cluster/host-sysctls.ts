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

/**
 * Every kind node's kubelet and systemd take inotify instances from the host's shared
 * budget (about 20 per node); Debian's default of 128 runs out at the second 3-node
 * cluster. kind's known-issues page recommends these values; svclab raises the limits
 * (never lowers them) and restores them with the others.
 */
export const INOTIFY_MINIMUMS: Record<string, number> = { 'fs/inotify/max_user_instances': 8192, 'fs/inotify/max_user_watches': 524288 };

const recordFile = () => join(stateDir(), 'host-sysctls.json');

async function readSysctl(key: string): Promise<string | undefined> {
  try {
    return (await readFile(`/proc/sys/${key}`, 'utf8')).trim();
  } catch {
    return undefined;
  }
}

/**
 * Records the current values of the settings not recorded yet. A record made before an
 * earlier cluster keeps its values: they are the ones from before any cluster.
 */
export async function recordHostSysctls(): Promise<void> {
  const values: Record<string, string> = existsSync(recordFile()) ? (JSON.parse(await readFile(recordFile(), 'utf8')) as Record<string, string>) : {};
  let added = false;
  for (const k of [...KUBELET_SYSCTLS, ...Object.keys(INOTIFY_MINIMUMS)]) {
    if (k in values) continue;
    const v = await readSysctl(k);
    if (v === undefined) continue;
    values[k] = v;
    added = true;
  }
  if (!added && existsSync(recordFile())) return;
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

/** Raises the inotify limits to INOTIFY_MINIMUMS where they are lower (call after recordHostSysctls). */
export async function raiseInotifyLimits(): Promise<void> {
  for (const [k, min] of Object.entries(INOTIFY_MINIMUMS)) {
    const cur = Number(await readSysctl(k));
    if (Number.isFinite(cur) && cur >= min) continue;
    try {
      await writeFile(`/proc/sys/${k}`, String(min));
    } catch {
      // Not root: kind may still work for one cluster; nothing more to do here.
    }
  }
}

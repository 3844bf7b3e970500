// One lab run at a time per cluster: `lab test`, `lab start`, `lab solve` and `lab cleanup`
// all rewrite the lab namespace, so two of them at once would undo each other. The lock
// is a directory (mkdir is atomic) holding the owner's pid; a dead owner's lock is taken over.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stateDir } from '../cluster/state.ts';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function withClusterLock<T>(cluster: string, fn: () => Promise<T>, onWait: (pid: number) => void = () => {}): Promise<T> {
  const dir = stateDir('locks', `lab-${cluster}`);
  await mkdir(stateDir('locks'), { recursive: true });
  let told = false;
  for (;;) {
    try {
      await mkdir(dir);
      await writeFile(join(dir, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(await readFile(join(dir, 'pid'), 'utf8').catch(() => '0'));
      if (pid && !alive(pid)) {
        await rm(dir, { recursive: true, force: true });
        continue;
      }
      if (!told && pid) {
        onWait(pid);
        told = true;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

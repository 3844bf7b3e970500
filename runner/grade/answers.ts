// Answers a learner typed, per cluster and lab, kept in svclab's state directory so that
// they survive a runner restart.
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { stateDir } from '../cluster/state.ts';

const file = (cluster: string, lab: string) => stateDir('answers', cluster, `${lab}.json`);

export async function readAnswers(cluster: string, lab: string): Promise<Record<string, string>> {
  const f = file(cluster, lab);
  if (!existsSync(f)) return {};
  try {
    return JSON.parse(await readFile(f, 'utf8')) as Record<string, string>;
  } catch {
    return {};
  }
}

export async function writeAnswers(cluster: string, lab: string, answers: Record<string, string>): Promise<void> {
  const f = file(cluster, lab);
  await mkdir(dirname(f), { recursive: true });
  await writeFile(`${f}.tmp`, JSON.stringify(answers));
  await rename(`${f}.tmp`, f);
}

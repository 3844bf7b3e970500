import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { stateDir } from '../cluster/state.ts';

/** Where a running `svclab serve` says it is, so `svclab class …` can reach it. */
export interface ServerInfo {
  url: string;
  pid: number;
}

const file = () => stateDir('server', 'running.json');

export async function writeServerInfo(info: ServerInfo): Promise<void> {
  await mkdir(stateDir('server'), { recursive: true });
  await writeFile(file(), `${JSON.stringify(info)}\n`);
}

export async function readServerInfo(): Promise<ServerInfo | undefined> {
  if (!existsSync(file())) return undefined;
  const info = JSON.parse(await readFile(file(), 'utf8')) as ServerInfo;
  try {
    process.kill(info.pid, 0);
    return info;
  } catch {
    return undefined;
  }
}

export async function readAdminToken(): Promise<string | undefined> {
  const f = stateDir('server', 'admin-token');
  return existsSync(f) ? (await readFile(f, 'utf8')).trim() : undefined;
}

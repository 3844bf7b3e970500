import { existsSync } from 'node:fs';
import { commandExists } from '../exec.ts';
import { goBinary } from '../images/go-binaries.ts';

/** A kubectl for the host: on PATH, else the one svclab built or copied out of the node image. */
export async function findKubectl(): Promise<string | undefined> {
  if (await commandExists('kubectl')) return 'kubectl';
  const built = goBinary('kubernetes', 'kubectl');
  if (existsSync(built)) return built;
  return undefined;
}

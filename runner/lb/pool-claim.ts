// `svclab cluster up` picks each cluster's LoadBalancer address pool: one block at the top
// of the kind Docker network, different from the blocks of the other svclab clusters on
// the same Docker engine (they share that network, and two nodes answering ARP for one
// address would break both). The choice is kept in the cluster's state folder, so it is
// stable across `cluster up` runs and freed by `cluster down`.
import { existsSync } from 'node:fs';
import { readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { choosePoolBlock, formatPool, formatSubnet, parsePool, parseSubnet, type Pool } from '../core/lb/pool.ts';
import { UserError } from '../errors.ts';
import { clusterDir, knownClusters, readRecord, stateDir } from '../cluster/state.ts';

interface Claim {
  subnet: string;
  pool: string;
  dockerHost?: string;
}

const claimPath = (cluster: string) => join(clusterDir(cluster), 'lb-pool.json');

async function readClaim(cluster: string): Promise<Claim | undefined> {
  try {
    const c = JSON.parse(await readFile(claimPath(cluster), 'utf8')) as Claim;
    return typeof c.subnet === 'string' && typeof c.pool === 'string' ? c : undefined;
  } catch {
    return undefined;
  }
}

/** The IPv4 subnet of the `kind` Docker network on this engine. */
export async function kindSubnet(docker: Docker, network = 'kind'): Promise<string> {
  const info = (await docker.getNetwork(network).inspect()) as { IPAM?: { Config?: { Subnet?: string }[] } };
  const v4 = (info.IPAM?.Config ?? []).map((c) => c.Subnet ?? '').find((s) => parseSubnet(s));
  if (!v4) throw new Error(`the Docker network "${network}" has no IPv4 subnet`);
  return formatSubnet(parseSubnet(v4)!);
}

/** Runs fn while holding svclab's pool lock (a file created exclusively; a stale one is taken over after 30 s). */
async function withLock<T>(fn: () => Promise<T>): Promise<T> {
  const lock = stateDir('lb-pool.lock');
  await mkdir(stateDir(), { recursive: true });
  for (let i = 0; ; i++) {
    try {
      await writeFile(lock, String(process.pid), { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const age = await stat(lock).then((s) => Date.now() - s.mtimeMs, () => 0);
      if (age > 30_000 || i > 300) await rm(lock, { force: true });
      else await new Promise((r) => setTimeout(r, 100));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { force: true });
  }
}

/** The cluster's pool as FIRST-LAST: the one it has, or the first block no other cluster on its engine uses. */
export async function claimLBPool(docker: Docker, cluster: string): Promise<string> {
  const subnetText = await kindSubnet(docker);
  const subnet = parseSubnet(subnetText)!;
  const engine = (await readRecord(cluster))?.dockerHost ?? '';
  return withLock(async () => {
    const own = await readClaim(cluster);
    if (own && own.subnet === subnetText && !('error' in parsePool(own.pool))) return own.pool;
    const taken: Pool[] = [];
    for (const other of await knownClusters()) {
      if (other === cluster) continue;
      const rec = await readRecord(other).catch(() => undefined);
      if (!rec || (rec.dockerHost ?? '') !== engine) continue;
      const c = await readClaim(other);
      const p = c && c.subnet === subnetText ? parsePool(c.pool) : undefined;
      if (p && !('error' in p)) taken.push(p);
    }
    const block = choosePoolBlock(subnet, taken);
    if (!block) {
      throw new UserError(`no LoadBalancer address block is left in the kind network ${subnetText} (each svclab cluster on this Docker engine has its own): delete a cluster you no longer need with 'svclab cluster down --name NAME'`);
    }
    const claim: Claim = { subnet: subnetText, pool: formatPool(block), ...(engine ? { dockerHost: engine } : {}) };
    if (!existsSync(clusterDir(cluster))) await mkdir(clusterDir(cluster), { recursive: true });
    await writeFile(claimPath(cluster), `${JSON.stringify(claim, null, 2)}\n`);
    return claim.pool;
  });
}

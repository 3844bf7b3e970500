import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { ProxyMode } from '../proxy/mode.ts';

/** Where svclab keeps what it knows about its clusters: $SVCLAB_STATE_DIR or $XDG_STATE_HOME/svclab. */
export function stateDir(...parts: string[]): string {
  const base = process.env.SVCLAB_STATE_DIR ?? join(process.env.XDG_STATE_HOME ?? join(homedir(), '.local/state'), 'svclab');
  return join(base, ...parts);
}

export interface ClusterRecord {
  name: string;
  workers: number;
  podSubnet: string;
  serviceSubnet: string;
  nodeImage: string;
  imageSource: 'online' | 'offline';
  components: Record<string, string>;
  createdAt: string;
  /** The Docker engine the cluster runs on (DOCKER_HOST); absent for the default engine. */
  dockerHost?: string;
  /** kube-proxy's mode when svclab last set it (the ConfigMap is the truth). */
  proxyMode?: ProxyMode;
}

export const clusterDir = (name: string) => stateDir('clusters', name);
export const kubeconfigPath = (name: string) => join(clusterDir(name), 'kubeconfig');

export async function readRecord(name: string): Promise<ClusterRecord | undefined> {
  const p = join(clusterDir(name), 'cluster.json');
  if (!existsSync(p)) return undefined;
  return JSON.parse(await readFile(p, 'utf8')) as ClusterRecord;
}

export async function writeRecord(rec: ClusterRecord): Promise<void> {
  await mkdir(clusterDir(rec.name), { recursive: true });
  await writeFile(join(clusterDir(rec.name), 'cluster.json'), `${JSON.stringify(rec, null, 2)}\n`);
}

export async function removeClusterState(name: string): Promise<void> {
  await rm(clusterDir(name), { recursive: true, force: true });
}

/** Names of the clusters svclab has state for. */
export async function knownClusters(): Promise<string[]> {
  try {
    return (await readdir(stateDir('clusters'))).sort();
  } catch {
    return [];
  }
}

/**
 * kind creates a shared `kind` Docker network on each engine; svclab notes when its own
 * cluster was the one that made it (per engine: `dockerHost` as in ClusterRecord, absent for the default one).
 */
const networkMarker = (dockerHost?: string) => stateDir(dockerHost ? `kind-network-created-by-svclab@${encodeURIComponent(dockerHost)}` : 'kind-network-created-by-svclab');

export async function noteKindNetworkCreated(dockerHost?: string): Promise<void> {
  await mkdir(stateDir(), { recursive: true });
  await writeFile(networkMarker(dockerHost), '');
}

export async function kindNetworkIsOurs(dockerHost?: string): Promise<boolean> {
  return existsSync(networkMarker(dockerHost));
}

export async function forgetKindNetwork(dockerHost?: string): Promise<void> {
  await rm(networkMarker(dockerHost), { force: true });
}

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KubernetesObject } from '@kubernetes/client-node';
import type Docker from 'dockerode';
import type { Status } from '../cli/status.ts';
import { componentProfile, defaultSpec, dnsServiceIP, renderKindConfig, type ClusterSpec } from '../core/cluster/kind-config.ts';
import { UserError } from '../errors.ts';
import { imageExists } from '../docker.ts';
import { requireFreeDisk } from '../images/tools.ts';
import { ensureImages, resolveSource, type ImageSet, type SourceChoice } from '../images/build.ts';
import { listComponents } from '../images/components.ts';
import { loadKubeConfig } from '../kube/client.ts';
import { claimLBPool } from '../lb/pool-claim.ts';
import { raiseInotifyLimits, recordHostSysctls } from './host-sysctls.ts';
import { findKind, Kind } from './kind.ts';
import { applyObjects, componentManifest, type ManifestVars } from './manifests.ts';
import { deleteCluster } from './delete.ts';
import { configuredProxyMode, NO_IPVS, proxyModeUnsupported } from './proxy-mode.ts';
import type { ProxyMode } from '../proxy/mode.ts';
import { clusterDir, kubeconfigPath, noteKindNetworkCreated, readRecord, removeClusterState, writeRecord, type ClusterRecord } from './state.ts';
import { waitForNodesReady, waitForWorkloads } from './wait.ts';

export interface UpOptions {
  name: string;
  /** Worker nodes; undefined: an existing cluster's count, else 2. */
  workers?: number;
  /** The lean profile (ClusterSpec.lean) for a new cluster; an existing one keeps how it was made. */
  lean?: boolean;
  /** Another Docker engine for the nodes (DOCKER_HOST); images are built here and shipped there. */
  engine?: { host: string; docker: Docker };
  source: SourceChoice;
  /** Keep a failed cluster for debugging instead of deleting it. */
  retain: boolean;
  waitMs: number;
  /** kube-proxy's mode; undefined: an existing cluster's, else iptables. */
  proxyMode?: ProxyMode;
  status: Status;
  onLine?: (l: string) => void;
}

/** Components that other pods need first come first; the rest follow by name. */
const ORDER = ['cni-agent', 'kube-proxy', 'dns'];

function componentOrder(names: string[]): string[] {
  return [...ORDER.filter((n) => names.includes(n)), ...names.filter((n) => !ORDER.includes(n)).sort()];
}

/**
 * `svclab cluster up`: creates the kind cluster (or finds it), installs svclab's own
 * CNI agent, kube-proxy and DNS, and waits until every node is Ready and every
 * component is available. Idempotent. A failed creation is deleted unless retained.
 */
export async function clusterUp(docker: Docker, opts: UpOptions): Promise<ClusterRecord> {
  const { status, name } = opts;
  const nodesDocker = opts.engine?.docker ?? docker;
  const kind = new Kind(await findKind(opts.onLine), opts.onLine, opts.engine?.host);
  const existing = await kind.clusters();
  const record = await readRecord(name);
  if (existing.includes(name) && !record) {
    throw new UserError(`a kind cluster named "${name}" already exists and was not created by svclab: choose another --name, or delete it with 'kind delete cluster --name ${name}'`);
  }
  if (record && !existing.includes(name)) await removeClusterState(name);
  const fresh = !(record && existing.includes(name));
  if (!fresh && opts.workers !== undefined && record!.workers !== opts.workers) {
    throw new UserError(`cluster "${name}" exists with ${record!.workers} workers, not ${opts.workers}: run 'svclab cluster down --name ${name}' first, or omit --workers`);
  }
  // The lean profile is fixed when a cluster is made; an existing one keeps how it was made.
  const lean = fresh ? !!opts.lean : await madeLean(name);
  if (!fresh && opts.lean && !lean) {
    throw new UserError(`cluster "${name}" exists and was not made with --lean (the profile applies when a cluster is created): run 'svclab cluster down --name ${name}' first, or omit --lean`);
  }

  if (opts.proxyMode === 'ipvs') {
    const why = fresh ? hostIpvsUnsupported(opts.engine) : await proxyModeUnsupported(nodesDocker, `${name}-control-plane`, 'ipvs');
    if (why) throw new UserError(`--proxy-mode ipvs: ${why}; choose iptables, nftables or userspace`);
  }
  const source = await resolveSource(docker, fresh ? opts.source : record!.imageSource, status);
  const images = await ensureImages(docker, { source, status, onLine: opts.onLine });
  if (opts.engine) await status.step(`Shipping the node image to ${opts.engine.host}`, () => shipImage(docker, opts.engine!.docker, images.nodeImage));
  const spec: ClusterSpec = fresh
    ? { ...defaultSpec(name, opts.workers ?? 2), apiServerAddress: opts.engine ? apiServerAddressFor(opts.engine.host) : undefined, ...(lean ? { lean: true } : {}) }
    : { ...defaultSpec(name, record!.workers), podSubnet: record!.podSubnet, serviceSubnet: record!.serviceSubnet, ...(lean ? { lean: true } : {}) };

  try {
    if (fresh) {
      if (!opts.engine) {
        await requireNodeDisk(docker, spec.workers + 1);
        await recordHostSysctls();
        await raiseInotifyLimits();
        if (!(await networkExists(docker, 'kind'))) await noteKindNetworkCreated();
      } else if (!(await networkExists(nodesDocker, 'kind'))) await noteKindNetworkCreated(opts.engine.host);
      await createKindCluster(kind, spec, images, status, opts.engine?.host);
    }
    const rec: ClusterRecord = {
      name,
      workers: spec.workers,
      podSubnet: spec.podSubnet,
      serviceSubnet: spec.serviceSubnet,
      nodeImage: images.nodeImage,
      imageSource: images.source,
      components: images.components,
      createdAt: record?.createdAt ?? new Date().toISOString(),
      ...(opts.engine ? { dockerHost: opts.engine.host } : {}),
    };
    rec.proxyMode = await installComponents(nodesDocker, kind, spec, images, record, opts.proxyMode, status, opts.waitMs);
    await writeRecord(rec);
    return rec;
  } catch (err) {
    if (fresh && !opts.retain) {
      status.end(false);
      await status.step(`Deleting the failed cluster "${name}" (use --retain to keep it for debugging)`, () => deleteCluster(docker, name, opts.onLine));
    }
    throw err;
  }
}

async function createKindCluster(kind: Kind, spec: ClusterSpec, images: ImageSet, status: Status, dockerHost?: string): Promise<void> {
  await mkdir(clusterDir(spec.name), { recursive: true });
  const configPath = join(clusterDir(spec.name), 'kind-config.yaml');
  await writeFile(configPath, renderKindConfig(spec));
  // Written before kind runs so that a failed creation can be found and cleaned up.
  await writeRecord({
    name: spec.name,
    workers: spec.workers,
    podSubnet: spec.podSubnet,
    serviceSubnet: spec.serviceSubnet,
    nodeImage: images.nodeImage,
    imageSource: images.source,
    components: {},
    createdAt: new Date().toISOString(),
    ...(dockerHost ? { dockerHost } : {}),
  });
  await status.step(`Creating kind cluster "${spec.name}" (1 control-plane, ${spec.workers} worker${spec.workers === 1 ? '' : 's'}; no kube-proxy, CoreDNS or default CNI)`, () =>
    kind.create(spec.name, images.nodeImage, configPath, kubeconfigPath(spec.name)),
  );
}

/** Whether an existing cluster was made with the lean profile: its kind config (written when it was made) has the lean patches. */
async function madeLean(name: string): Promise<boolean> {
  try {
    return (await readFile(join(clusterDir(name), 'kind-config.yaml'), 'utf8')).includes('leader-elect: "false"');
  } catch {
    return false;
  }
}

async function controlPlaneAddress(docker: Docker, name: string): Promise<string> {
  const info = await docker.getContainer(`${name}-control-plane`).inspect();
  if (!info.State.Running) throw new UserError(`the control-plane node ${name}-control-plane is not running: run 'svclab cluster down --name ${name}' and 'svclab cluster up' again`);
  const ip = info.NetworkSettings.Networks?.kind?.IPAddress;
  if (!ip) throw new Error(`cannot find ${name}-control-plane's address on the kind network`);
  return ip;
}

/** Installs (or updates) the components; returns kube-proxy's mode. */
async function installComponents(docker: Docker, kind: Kind, spec: ClusterSpec, images: ImageSet, previous: ClusterRecord | undefined, requestedMode: ProxyMode | undefined, status: Status, waitMs: number): Promise<ProxyMode> {
  const names = componentOrder(await listComponents());
  const refs = names.map((n) => images.components[n]!).filter(Boolean);
  // A new cluster's nodes start with every component image; an existing one gets the changed ones.
  const changed = previous ? refs.filter((r) => !Object.values(previous.components).includes(r)) : [];
  if (changed.length) await status.step(`Loading ${changed.length} svclab image${changed.length === 1 ? '' : 's'} into the nodes`, () => kind.loadImages(spec.name, changed));

  const kc = loadKubeConfig(kubeconfigPath(spec.name));
  // An existing cluster keeps the mode it runs in, even one set by editing the ConfigMap.
  const proxyMode = requestedMode ?? (previous ? await configuredProxyMode(kc) : undefined) ?? previous?.proxyMode ?? 'iptables';
  const vars: ManifestVars = {
    PROXY_MODE: proxyMode,
    API_SERVER_HOST: await controlPlaneAddress(docker, spec.name),
    API_SERVER_PORT: '6443',
    CLUSTER_CIDR: spec.podSubnet,
    SERVICE_CIDR: spec.serviceSubnet,
    DNS_SERVICE_IP: dnsServiceIP(spec.serviceSubnet),
    ECHO_IMAGE: images.components.echo ?? '',
    // The LoadBalancer controller's address pool: this cluster's block of the kind network.
    LB_POOL: await claimLBPool(docker, spec.name),
    ...componentProfile(spec.lean ?? false),
    IMAGE: '',
  };
  const applied: KubernetesObject[] = [];
  await status.step(`Installing svclab components: ${names.filter((n) => images.components[n]).join(', ')}`, async () => {
    for (const n of names) {
      const objects = await componentManifest(n, { ...vars, IMAGE: images.components[n] ?? '' });
      if (!objects) continue;
      await applyObjects(kc, objects);
      applied.push(...objects);
    }
  });
  await status.step(spec.workers ? `Waiting for ${spec.workers + 1} nodes to be Ready` : 'Waiting for the node to be Ready', () => waitForNodesReady(kc, spec.workers + 1, waitMs));
  await status.step('Waiting for svclab components to be available', () => waitForWorkloads(kc, applied, waitMs));
  return proxyMode;
}

/** Before a local cluster exists: the host's kernel is the nodes' kernel. Remote engines are checked once a node runs. */
function hostIpvsUnsupported(engine: UpOptions['engine']): string | undefined {
  if (engine) return undefined;
  spawnSync('modprobe', ['-q', 'ip_vs'], { stdio: 'ignore' });
  return existsSync('/proc/net/ip_vs') ? undefined : NO_IPVS;
}

/**
 * Disk one node takes: Docker copies the node image's /var (containerd's preloaded images,
 * then their unpacked layers) into the node's /var volume; 1.0–1.5 GB per node measured here.
 */
const NODE_DISK_GIB = 1.5;

/** Fails with one line before `kind create` if Docker's data root cannot hold the nodes. */
async function requireNodeDisk(docker: Docker, nodes: number): Promise<void> {
  const root = ((await docker.info()) as { DockerRootDir?: string }).DockerRootDir;
  if (root && existsSync(root)) await requireFreeDisk(root, NODE_DISK_GIB * nodes, `a cluster of ${nodes} node${nodes === 1 ? '' : 's'}`);
}

async function networkExists(docker: Docker, name: string): Promise<boolean> {
  try {
    await docker.getNetwork(name).inspect();
    return true;
  } catch {
    return false;
  }
}

/** The address a remote engine's machine is reached at: where its API server ports are published. */
export function apiServerAddressFor(dockerHost: string): string {
  if (dockerHost.startsWith('unix://') || dockerHost.startsWith('npipe://')) return '127.0.0.1';
  const url = new URL(dockerHost.replace(/^ssh:\/\//, 'http://').replace(/^tcp:\/\//, 'http://'));
  return url.hostname;
}

/** Copies an image to another engine (docker save | docker load) unless it is there already. */
async function shipImage(from: Docker, to: Docker, ref: string): Promise<void> {
  if (await imageExists(to, ref)) return;
  const stream = await from.getImage(ref).get();
  const out = await to.loadImage(stream);
  await new Promise<void>((resolve, reject) => to.modem.followProgress(out, (err: Error | null) => (err ? reject(err) : resolve())));
  if (!(await imageExists(to, ref))) throw new Error(`shipping ${ref} to the other engine failed`);
}

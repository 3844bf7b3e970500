import type { AddressInfo } from 'node:net';
import type Docker from 'dockerode';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { findKind, Kind } from '../cluster/kind.ts';
import { UserError } from '../errors.ts';
import { dockerNodeSource, traceFromSource } from '../proxy/trace-source.ts';
import { kubeconfigPath } from '../cluster/state.ts';
import { stateDir } from '../cluster/state.ts';
import { loadKubeConfig } from '../kube/client.ts';
import { createApp, HttpError, type Route, type SocketRoute } from './app.ts';
import { ClusterManager, type ClusterEvent } from './cluster-manager.ts';
import { EventHub } from './events.ts';
import { attachTab } from './terminal/gateway.ts';
import { Shell } from './terminal/shell.ts';
import { TokenStore } from './tokens.ts';

export interface RunnerOptions {
  cluster: string;
  port: number;
  host: string;
  siteDir?: string;
  docker: Docker;
  log?: (msg: string) => void;
}

export type RunnerEvent = ClusterEvent | { type: string; [k: string]: unknown };

export interface Runner {
  url: string;
  token: string;
  close(): Promise<void>;
}

/** The self-paced runner: one learner ("you"), one lab cluster, one shell. */
export async function startRunner(opts: RunnerOptions): Promise<Runner> {
  const log = opts.log ?? ((m: string) => console.error(`svclab serve: ${m}`));
  const tokens = new TokenStore(stateDir('server', 'tokens.json'));
  await tokens.load();
  const token = await tokens.issue({ role: 'learner', id: 'you' });
  const hub = new EventHub<RunnerEvent>();
  const cluster = new ClusterManager(opts.cluster, opts.docker, (e) => hub.publish('you', e));
  await cluster.refresh();

  let shell: Shell | undefined;
  let kc: KubeConfig | undefined;
  const kube = (): KubeConfig => {
    if (cluster.state !== 'running') throw new HttpError(409, cluster.message ?? 'the lab cluster is not running');
    kc ??= loadKubeConfig(kubeconfigPath(opts.cluster));
    return kc;
  };
  const learnerShell = (): Shell => (shell ??= new Shell(kube()));

  const learnerNodes = async (): Promise<string[]> => new Kind(await findKind()).nodes(opts.cluster);

  const routes: Route[] = [
    { method: 'GET', path: '/api/health', handler: () => ({ ok: true }) },
    { method: 'GET', path: '/api/session', role: 'any', handler: ({ principal }) => ({ role: principal!.role, learner: principal!.id, cluster: opts.cluster }) },
    { method: 'GET', path: '/api/cluster', role: 'any', handler: async () => (await cluster.refresh(), cluster.event()) },
    {
      method: 'POST',
      path: '/api/cluster/up',
      role: 'learner',
      handler: () => {
        void cluster.up().then(() => (kc = undefined));
        return cluster.event();
      },
    },
    {
      method: 'GET',
      path: '/api/services',
      role: 'any',
      handler: async () => {
        const items = (await kube().makeApiClient(CoreV1Api).listServiceForAllNamespaces()).items;
        return items
          .filter((s) => s.spec?.clusterIP && s.spec.clusterIP !== 'None')
          .map((s) => ({ namespace: s.metadata?.namespace, name: s.metadata?.name, type: s.spec?.type, clusterIP: s.spec?.clusterIP, ports: (s.spec?.ports ?? []).map((p) => ({ name: p.name, port: p.port, protocol: p.protocol, nodePort: p.nodePort })) }));
      },
    },
    { method: 'GET', path: '/api/nodes', role: 'any', handler: async () => ({ nodes: await learnerNodes() }) },
    {
      method: 'GET',
      path: '/api/trace',
      role: 'any',
      handler: async ({ url }) => {
        const node = url.searchParams.get('node') ?? '';
        if (!(await learnerNodes()).includes(node)) throw new HttpError(400, `no node "${node}" in the lab cluster`);
        const proto = (url.searchParams.get('proto') ?? 'tcp') as 'tcp' | 'udp';
        if (proto !== 'tcp' && proto !== 'udp') throw new HttpError(400, 'proto must be tcp or udp');
        try {
          return await traceFromSource(dockerNodeSource(node), { src: url.searchParams.get('src') ?? '', dst: url.searchParams.get('dst') ?? '', proto });
        } catch (err) {
          if (err instanceof UserError) throw new HttpError(400, err.message.replace(/^--/, ''));
          throw err;
        }
      },
    },
  ];
  const sockets: SocketRoute[] = [
    {
      path: '/api/terminal',
      role: 'learner',
      handler: (ws) => {
        let s: Shell;
        try {
          s = learnerShell();
        } catch (err) {
          ws.send(JSON.stringify({ type: 'error', message: (err as Error).message }));
          ws.close(1013, 'cluster not running');
          return;
        }
        attachTab(ws, s);
      },
    },
    { path: '/api/events', role: 'any', handler: (ws, { principal }) => hub.join(principal!.id, ws) },
  ];

  const app = createApp({ routes, sockets, tokens, siteDir: opts.siteDir, log });
  const server = app.server;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const clusterPoll = setInterval(() => void cluster.refresh(), 15_000);
  clusterPoll.unref();
  return {
    url: `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${addr.port}/`,
    token,
    async close() {
      clearInterval(clusterPoll);
      shell?.close();
      await app.close();
    },
  };
}

import { CoreV1Api } from '@kubernetes/client-node';
import { UserError } from '../errors.ts';
import { dockerNodeSource, traceFromSource } from '../proxy/trace-source.ts';
import { HttpError, type RequestContext, type Route, type SocketRoute } from './app.ts';
import type { EventHub } from './events.ts';
import type { LearnerEnv, LearnerEvent } from './learner-env.ts';
import { attachTab } from './terminal/gateway.ts';

export type EnvOf = (ctx: RequestContext) => LearnerEnv;

/** What a learner's page uses: their session, cluster, shell, events, services and the packet tracer. */
export function learnerRoutes(envOf: EnvOf): Route[] {
  return [
    { method: 'GET', path: '/api/session', role: 'learner', handler: (ctx) => ({ role: 'learner', learner: envOf(ctx).learner.id, name: envOf(ctx).learner.name, cluster: envOf(ctx).learner.cluster }) },
    { method: 'GET', path: '/api/cluster', role: 'learner', handler: async (ctx) => {
      const env = envOf(ctx);
      await env.cluster.refresh();
      return env.cluster.event();
    } },
    { method: 'POST', path: '/api/cluster/up', role: 'learner', handler: (ctx) => {
      const env = envOf(ctx);
      void env.cluster.up();
      return env.cluster.event();
    } },
    {
      method: 'GET',
      path: '/api/services',
      role: 'learner',
      handler: async (ctx) => {
        const items = (await envOf(ctx).kube().makeApiClient(CoreV1Api).listServiceForAllNamespaces()).items;
        return items
          .filter((s) => s.spec?.clusterIP && s.spec.clusterIP !== 'None')
          .map((s) => ({ namespace: s.metadata?.namespace, name: s.metadata?.name, type: s.spec?.type, clusterIP: s.spec?.clusterIP, ports: (s.spec?.ports ?? []).map((p) => ({ name: p.name, port: p.port, protocol: p.protocol, nodePort: p.nodePort })) }));
      },
    },
    { method: 'GET', path: '/api/nodes', role: 'learner', handler: async (ctx) => ({ nodes: await envOf(ctx).nodes() }) },
    {
      method: 'GET',
      path: '/api/trace',
      role: 'learner',
      handler: async (ctx) => {
        const q = ctx.url.searchParams;
        const node = q.get('node') ?? '';
        if (!(await envOf(ctx).nodes()).includes(node)) throw new HttpError(400, `no node "${node}" in the lab cluster`);
        const proto = q.get('proto') ?? 'tcp';
        if (proto !== 'tcp' && proto !== 'udp') throw new HttpError(400, 'proto must be tcp or udp');
        try {
          return await traceFromSource(dockerNodeSource(node), { src: q.get('src') ?? '', dst: q.get('dst') ?? '', proto });
        } catch (err) {
          if (err instanceof UserError) throw new HttpError(400, err.message.replace(/^--/, ''));
          throw err;
        }
      },
    },
  ];
}

export function learnerSockets(envOf: EnvOf, hub: EventHub<LearnerEvent>, keepaliveMs?: number): SocketRoute[] {
  return [
    {
      path: '/api/terminal',
      role: 'learner',
      handler: (ws, ctx) => {
        const env = envOf(ctx);
        let shell;
        try {
          shell = env.shell();
        } catch (err) {
          ws.send(JSON.stringify({ type: 'error', message: (err as Error).message }));
          ws.close(1013, 'cluster not running');
          return;
        }
        attachTab(ws, shell, undefined, keepaliveMs);
      },
    },
    {
      path: '/api/events',
      role: 'learner',
      handler: (ws, ctx) => {
        const env = envOf(ctx);
        hub.join(env.learner.id, ws);
        ws.send(JSON.stringify(env.cluster.event()));
      },
    },
  ];
}

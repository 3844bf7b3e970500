import type { AddressInfo } from 'node:net';
import type Docker from 'dockerode';
import { stateDir } from '../cluster/state.ts';
import { createApp, HttpError, type RequestContext, type Route, type SocketRoute } from './app.ts';
import { localCreator } from './cluster-manager.ts';
import { EventHub } from './events.ts';
import { LearnerEnv, type LearnerEvent } from './learner-env.ts';
import { learnerRoutes, learnerSockets } from './learner-routes.ts';
import { Store, type LearnerRow } from './store.ts';
import type { Principal } from './tokens.ts';

export interface RunnerOptions {
  /** The self-paced learner's cluster. */
  cluster: string;
  port: number;
  host: string;
  siteDir?: string;
  docker: Docker;
  /** The database file; default: svclab's state directory. */
  storeFile?: string;
  log?: (msg: string) => void;
}

export interface Runner {
  url: string;
  /** The self-paced learner's token. */
  token: string;
  store: Store;
  close(): Promise<void>;
}

/** The id of the one learner of self-paced mode. */
export const SELF = 'you';

/**
 * The runner: the lesson site plus, for every learner, their cluster, shell, live task
 * checks and events. Self-paced mode is a server with one learner ("you") whose cluster
 * is the one given.
 */
export async function startRunner(opts: RunnerOptions): Promise<Runner> {
  const log = opts.log ?? ((m: string) => console.error(`svclab serve: ${m}`));
  const store = await Store.open(opts.storeFile ?? stateDir('server', 'svclab.db'));
  if (!store.learnerById(SELF)) await store.addLearner(null, 'you', opts.cluster, SELF);
  else await store.setLearnerCluster(SELF, opts.cluster);
  const self = store.learnerById(SELF)!;
  const hub = new EventHub<LearnerEvent>();
  const envs = new Map<string, LearnerEnv>();
  const envFor = (l: LearnerRow): LearnerEnv => {
    let env = envs.get(l.id);
    if (!env) {
      env = new LearnerEnv(l, localCreator(opts.docker), (e) => hub.publish(l.id, e));
      envs.set(l.id, env);
      void env.cluster.refresh();
    }
    return env;
  };
  const envOf = (ctx: RequestContext): LearnerEnv => {
    const l = ctx.principal?.role === 'learner' ? store.learnerById(ctx.principal.id) : undefined;
    if (!l) throw new HttpError(403, 'this token does not belong to a learner');
    return envFor(l);
  };

  const resolve = (token: string | undefined): Principal | undefined => {
    if (!token) return undefined;
    const l = store.learnerByToken(token);
    if (l) return { role: 'learner', id: l.id };
    const c = store.classByInstructorToken(token);
    if (c) return { role: 'instructor', id: c.id };
    return undefined;
  };

  const routes: Route[] = [{ method: 'GET', path: '/api/health', handler: () => ({ ok: true }) }, ...learnerRoutes(envOf)];
  const sockets: SocketRoute[] = [...learnerSockets(envOf, hub)];

  const app = createApp({ routes, sockets, resolve, siteDir: opts.siteDir, log });
  await new Promise<void>((resolveListen, reject) => {
    app.server.once('error', reject);
    app.server.listen(opts.port, opts.host, () => resolveListen());
  });
  const addr = app.server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const poll = setInterval(() => {
    for (const env of envs.values()) void env.cluster.refresh();
  }, 15_000);
  poll.unref();
  await envFor(self).cluster.refresh();
  return {
    url: `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${addr.port}/`,
    token: self.token,
    store,
    async close() {
      clearInterval(poll);
      for (const env of envs.values()) env.close();
      await app.close();
      await store.close();
    },
  };
}

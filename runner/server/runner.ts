import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import type Docker from 'dockerode';
import { stateDir } from '../cluster/state.ts';
import { createApp, HttpError, type RequestContext, type Route, type SocketRoute } from './app.ts';
import type { CapacityPolicy } from './classroom/capacity.ts';
import { Provisioner, type Engine } from './classroom/provisioner.ts';
import { classroomRoutes } from './classroom/routes.ts';
import { localCreator } from './cluster-manager.ts';
import { EventHub } from './events.ts';
import { labRoutes } from './lab-routes.ts';
import { LabSessions, type LabEngine } from './labs.ts';
import { LearnerEnv, type LearnerEvent } from './learner-env.ts';
import { learnerRoutes, learnerSockets } from './learner-routes.ts';
import { Store, type LearnerRow } from './store.ts';
import type { Principal } from './tokens.ts';

export interface ClassroomOptions {
  engines: Engine[];
  policy: CapacityPolicy;
  /** Spare ready clusters kept per class. */
  warm: number;
  /** Worker nodes per learner cluster (0: one node). */
  workers: number;
}

export interface RunnerOptions {
  /** The self-paced learner's cluster. */
  cluster: string;
  port: number;
  host: string;
  siteDir?: string;
  docker: Docker;
  /** Classroom mode: classes of learners, each with their own cluster. */
  classroom?: ClassroomOptions;
  /** The grading engine; without it the lab routes answer 503. */
  labs?: LabEngine;
  /** Where the database and tokens live; default: svclab's state directory. */
  dataDir?: string;
  /** Worker nodes of the self-paced cluster when the lesson page starts it; default: as `cluster up` (2). */
  workers?: number;
  /** Interval of the terminal sockets' ping frames; default KEEPALIVE_MS (20 s). */
  keepaliveMs?: number;
  log?: (msg: string) => void;
}

export interface Runner {
  url: string;
  /** The self-paced learner's token. */
  token: string;
  /** Classroom mode: the token that may create classes and see every class. */
  adminToken?: string;
  store: Store;
  close(): Promise<void>;
}

/** The id of the one learner of self-paced mode. */
export const SELF = 'you';

async function adminToken(file: string): Promise<string> {
  if (existsSync(file)) return (await readFile(file, 'utf8')).trim();
  const t = randomBytes(24).toString('base64url');
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${t}\n`, { mode: 0o600 });
  return t;
}

/**
 * The runner: the lesson site plus, for every learner, their cluster, shell, live task
 * checks and events. Self-paced mode is a server with one learner ("you") on the given
 * cluster; classroom mode adds classes whose learners each get their own cluster.
 */
export async function startRunner(opts: RunnerOptions): Promise<Runner> {
  const log = opts.log ?? ((m: string) => console.error(`svclab serve: ${m}`));
  const dataDir = opts.dataDir ?? stateDir('server');
  const store = await Store.open(join(dataDir, 'svclab.db'));
  if (!store.learnerById(SELF)) await store.addLearner(null, 'you', opts.cluster, SELF);
  else await store.setLearnerCluster(SELF, opts.cluster);
  const self = store.learnerById(SELF)!;
  const admin = opts.classroom ? await adminToken(join(dataDir, 'admin-token')) : undefined;

  const hub = new EventHub<LearnerEvent>();
  const classHub = new EventHub<{ type: string; [k: string]: unknown }>();
  const provisioner = opts.classroom ? new Provisioner(opts.classroom.engines, opts.classroom.policy, opts.docker, opts.classroom.workers) : undefined;
  const envs = new Map<string, LearnerEnv>();
  let classroom: ReturnType<typeof classroomRoutes> | undefined;

  const envFor = (l: LearnerRow): LearnerEnv => {
    let env = envs.get(l.id);
    if (!env) {
      const create = l.classId && provisioner ? (name: string, status: Parameters<Provisioner['create']>[1]) => provisioner.create(name, status) : localCreator(opts.docker, opts.workers);
      env = new LearnerEnv(l, create, (e) => {
        hub.publish(l.id, e);
        if (e.type === 'cluster') classroom?.learnerChanged(l.id);
      });
      envs.set(l.id, env);
      void env.cluster.refresh();
    }
    return env;
  };
  const dropEnv = (id: string) => {
    envs.get(id)?.close();
    envs.delete(id);
  };
  const envOf = (ctx: RequestContext): LearnerEnv => {
    const l = ctx.principal?.role === 'learner' ? store.learnerById(ctx.principal.id) : undefined;
    if (!l) throw new HttpError(403, 'this token does not belong to a learner');
    return envFor(l);
  };

  const labs = opts.labs
    ? new LabSessions(opts.labs, store, (learnerId, e) => {
        hub.publish(learnerId, e, `tasks:${e.lab}`);
        classroom?.learnerChanged(learnerId);
      }, opts.classroom ? 4000 : 2000)
    : undefined;

  if (provisioner && opts.classroom) {
    classroom = classroomRoutes({
      store,
      provisioner,
      labs,
      envFor,
      dropEnv,
      learnerHub: hub,
      classHub,
      connections: (id) => hub.count(id),
      warm: opts.classroom.warm,
      log,
    });
    hub.onMembership = (learnerId) => {
      classroom?.learnerChanged(learnerId);
      if (hub.count(learnerId) > 0) void store.touchLearner(learnerId);
    };
  }

  const resolve = (token: string | undefined): Principal | undefined => {
    if (!token) return undefined;
    if (admin && token === admin) return { role: 'admin', id: 'admin' };
    const l = store.learnerByToken(token);
    if (l) return { role: 'learner', id: l.id };
    const c = store.classByInstructorToken(token);
    if (c) return { role: 'instructor', id: c.id };
    return undefined;
  };

  // Without a grading engine every lab route answers 503, so that the page can say why.
  const noLabs: Route[] = labRoutes(envOf, store, undefined as unknown as LabSessions).map((r) => ({
    ...r,
    handler: () => {
      throw new HttpError(503, 'task checking is not available on this server: it has no grading engine (runner/grade)');
    },
  }));
  const routes: Route[] = [
    { method: 'GET', path: '/api/health', handler: () => ({ ok: true, mode: opts.classroom ? 'classroom' : 'self-paced' }) },
    ...learnerRoutes(envOf),
    ...(labs ? labRoutes(envOf, store, labs) : noLabs),
    ...(classroom?.routes ?? []),
  ];
  const sockets: SocketRoute[] = [...learnerSockets(envOf, hub, opts.keepaliveMs), ...(classroom?.sockets ?? [])];

  const app = createApp({ routes, sockets, resolve, siteDir: opts.siteDir, log });
  await new Promise<void>((resolveListen, reject) => {
    app.server.once('error', reject);
    app.server.listen(opts.port, opts.host, () => resolveListen());
  });
  const addr = app.server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const poll = setInterval(() => {
    for (const env of envs.values()) if (!env.cluster.busy) void env.cluster.refresh();
  }, 15_000);
  poll.unref();
  await envFor(self).cluster.refresh();
  await classroom?.start();
  return {
    url: `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${addr.port}/`,
    token: self.token,
    adminToken: admin,
    store,
    async close() {
      clearInterval(poll);
      // Sockets still closing after this would call back into the closed store (and crash the process).
      hub.onMembership = undefined;
      labs?.stopAll();
      for (const env of envs.values()) env.close();
      await app.close();
      await store.close();
    },
  };
}

// Classroom mode: classes and their learners, joining, the instructor's live grid,
// shadowing with consented take-over, messages, resets and the gradebook.
import type { WebSocket } from 'ws';
import { cellKey, toCSV, toJSON, toJUnit, type Gradebook } from '../../core/classroom/gradebook.ts';
import { knownClusters } from '../../cluster/state.ts';
import { oneLine } from '../../errors.ts';
import { HttpError, type RequestContext, type Route, type SocketRoute } from '../app.ts';
import type { EventHub } from '../events.ts';
import type { LearnerEnv, LearnerEvent } from '../learner-env.ts';
import type { LabInfo, LabSessions } from '../labs.ts';
import type { ClassRow, LearnerRow, Store } from '../store.ts';
import { attachTab, type TabAccess } from '../terminal/gateway.ts';
import { quietStatus, type Provisioner } from './provisioner.ts';

export interface ClassroomDeps {
  store: Store;
  provisioner: Provisioner;
  labs?: LabSessions;
  envFor: (l: LearnerRow) => LearnerEnv;
  /** Forgets a learner's environment (after their cluster changed). */
  dropEnv: (learnerId: string) => void;
  learnerHub: EventHub<LearnerEvent>;
  /** Instructor topics are `class:<id>`. */
  classHub: EventHub<{ type: string; [k: string]: unknown }>;
  /** Open learner sockets per learner id (connected / disconnected in the grid). */
  connections: (learnerId: string) => number;
  /** Spare ready clusters kept per class. */
  warm: number;
  log: (msg: string) => void;
}

const NAME_MAX = 40;

export function slug(name: string): string {
  const s = name
    .normalize('NFKD')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 16);
  return s || 'learner';
}

/** Checks a display name; returns the problem, or undefined. */
export function nameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string' || name.trim() === '') return 'a name is required';
  if (name.trim().length > NAME_MAX) return `a name has at most ${NAME_MAX} characters`;
  // eslint-disable-next-line no-control-regex -- names must not carry control characters.
  if (/[\u0000-\u001f<>]/.test(name)) return 'a name cannot contain control characters or < >';
  return undefined;
}

/** Parses a roster file: one learner name per line; blank lines and # comments skipped. Errors name the line. */
export function parseRoster(text: string): string[] {
  const names: string[] = [];
  const seen = new Map<string, number>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const problem = nameProblem(line);
    if (problem) throw new Error(`roster line ${i + 1}: ${problem}`);
    const key = line.toLowerCase();
    if (seen.has(key)) throw new Error(`roster line ${i + 1}: "${line}" is already on line ${seen.get(key)}`);
    seen.set(key, i + 1);
    names.push(line);
  });
  if (names.length === 0) throw new Error('the roster has no learners');
  return names;
}

export function classroomRoutes(d: ClassroomDeps): { routes: Route[]; sockets: SocketRoute[]; learnerChanged(learnerId: string): void; start(): Promise<void> } {
  const { store } = d;
  /** Take-over state per learner: requested by the instructor, then granted by the learner. */
  const takeover = new Map<string, { requested: boolean; granted: boolean; shadows: Set<TabAccess> }>();
  const takeoverOf = (id: string) => {
    let t = takeover.get(id);
    if (!t) takeover.set(id, (t = { requested: false, granted: false, shadows: new Set() }));
    return t;
  };

  const classOf = (ctx: RequestContext): ClassRow => {
    const p = ctx.principal!;
    const id = p.role === 'instructor' ? p.id : (ctx.url.searchParams.get('class') ?? ctx.params.class ?? '');
    const c = store.classById(id);
    if (!c) throw new HttpError(404, id ? `no class "${id}"` : 'which class? pass ?class=ID');
    return c;
  };
  const learnerIn = (c: ClassRow, id: string): LearnerRow => {
    const l = store.learnerById(id);
    if (!l || l.classId !== c.id) throw new HttpError(404, `no learner "${id}" in class ${c.title}`);
    return l;
  };

  const labInfos = async (c: ClassRow): Promise<LabInfo[]> => {
    if (!d.labs) return [];
    const out: LabInfo[] = [];
    for (const id of c.labs) {
      try {
        out.push(await d.labs.engine.loadLab(id));
      } catch (err) {
        d.log(`class ${c.id}: lab ${id} cannot be loaded: ${oneLine(err)}`);
      }
    }
    return out;
  };

  /** One learner's row of the grid. */
  const gridRow = (c: ClassRow, l: LearnerRow) => {
    const env = d.envFor(l);
    const progress = store.progress(l.id);
    return {
      id: l.id,
      name: l.name,
      cluster: { name: l.cluster, state: env.cluster.state, message: env.cluster.message },
      connected: d.connections(l.id) > 0,
      lastSeen: l.lastSeen,
      takeover: takeoverOf(l.id).granted ? 'granted' : takeoverOf(l.id).requested ? 'requested' : 'none',
      tasks: Object.fromEntries(
        progress
          .filter((p) => c.labs.includes(p.lab))
          .map((p) => [cellKey(p.lab, p.task), { state: p.state, reason: p.reason ? (JSON.parse(p.reason) as unknown) : null, startedAt: p.startedAt, passedAt: p.passedAt, attempts: p.attempts, hintsUsed: p.hintsUsed }]),
      ),
    };
  };

  const grid = async (c: ClassRow) => ({
    type: 'grid',
    class: { id: c.id, title: c.title, labs: c.labs, joinCode: c.joinCode },
    labs: (await labInfos(c)).map((l) => ({ id: l.id, title: l.title, tasks: l.tasks.map((t) => ({ id: t.id, title: t.title })) })),
    learners: store.learners(c.id).map((l) => gridRow(c, l)),
  });

  const pushLearner = (l: LearnerRow) => {
    if (!l.classId) return;
    const c = store.classById(l.classId);
    if (c) d.classHub.publish(`class:${c.id}`, { type: 'learner', learner: gridRow(c, l) }, `learner:${l.id}`);
  };

  /** Creates a learner's cluster in the background; their page shows the progress. */
  const provision = (l: LearnerRow) => {
    const env = d.envFor(l);
    void env.cluster.up().then(() => pushLearner(l));
    pushLearner(l);
  };

  const poolPrefix = (c: ClassRow) => `${c.id}-pool-`;
  const poolClusters = async (c: ClassRow): Promise<string[]> => {
    const taken = new Set(store.learners(c.id).map((l) => l.cluster));
    return (await knownClusters()).filter((n) => n.startsWith(poolPrefix(c)) && !taken.has(n));
  };
  const refillPool = async (c: ClassRow) => {
    const spare = await poolClusters(c);
    for (let k = 0; spare.length < d.warm && k < 100; k++) {
      const name = `${poolPrefix(c)}${k}`;
      if (spare.includes(name) || store.learners(c.id).some((l) => l.cluster === name)) continue;
      const admit = await d.provisioner.admit(store.learners(c.id).length + spare.length);
      if (!admit.ok) {
        d.log(`class ${c.id}: warm pool not refilled: ${admit.reason}`);
        return;
      }
      d.provisioner.reserve(name, admit.host);
      spare.push(name);
      void d.provisioner
        .create(name, quietStatus())
        .then(() => d.log(`class ${c.id}: warm cluster ${name} ready`))
        .catch((err) => d.log(`class ${c.id}: warm cluster ${name} failed: ${oneLine(err)}`));
    }
  };

  /** Adds a learner: a spare warm cluster if there is one, else a new cluster (if there is room). */
  const admitLearner = async (c: ClassRow, name: string): Promise<LearnerRow> => {
    const problem = nameProblem(name);
    if (problem) throw new HttpError(400, problem);
    if (store.learners(c.id).some((l) => l.name.toLowerCase() === name.trim().toLowerCase())) throw new HttpError(409, `someone in this class is already called "${name.trim()}": choose another name`);
    const [spare] = await poolClusters(c);
    let cluster = spare;
    if (!cluster) {
      const admit = await d.provisioner.admit(store.learners(c.id).length);
      if (!admit.ok) throw new HttpError(503, admit.reason);
      cluster = `${c.id}-${slug(name)}`;
      for (let i = 2; store.learners(c.id).some((l) => l.cluster === cluster); i++) cluster = `${c.id}-${slug(name)}-${i}`;
      d.provisioner.reserve(cluster, admit.host);
    }
    const l = await store.addLearner(c.id, name.trim(), cluster);
    await store.logEvent('joined', { name: l.name, cluster, warm: !!spare }, { classId: c.id, learnerId: l.id });
    provision(l);
    void refillPool(c);
    return l;
  };

  const instructor: Route['role'] = ['instructor', 'admin'];

  const routes: Route[] = [
    {
      method: 'POST',
      path: '/api/classes',
      role: 'admin',
      handler: async ({ body }) => {
        const b = (await body()) as { title?: unknown; labs?: unknown; learners?: unknown };
        if (typeof b.title !== 'string' || !b.title.trim()) throw new HttpError(400, 'a class needs a title');
        if (!Array.isArray(b.labs) || b.labs.length === 0 || !b.labs.every((x) => typeof x === 'string')) throw new HttpError(400, 'a class needs labs: a list of lab ids');
        if (d.labs) {
          const known = await d.labs.engine.listLabs();
          const unknown = (b.labs as string[]).filter((x) => !known.includes(x));
          if (unknown.length) throw new HttpError(400, `unknown lab${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')} (labs: ${known.join(', ')})`);
        }
        let roster: string[] = [];
        if (b.learners !== undefined) {
          if (typeof b.learners !== 'string') throw new HttpError(400, 'learners is the text of a roster file: one name per line');
          try {
            roster = parseRoster(b.learners);
          } catch (err) {
            throw new HttpError(400, (err as Error).message);
          }
        }
        const c = await store.createClass(b.title.trim(), b.labs as string[]);
        await store.logEvent('class-created', { title: c.title, labs: c.labs }, { classId: c.id });
        const learners = [];
        for (const name of roster) {
          try {
            learners.push(await admitLearner(c, name));
          } catch (err) {
            learners.push({ name, error: (err as Error).message });
          }
        }
        void refillPool(c);
        return {
          class: { id: c.id, title: c.title, labs: c.labs, joinCode: c.joinCode },
          instructorToken: c.instructorToken,
          learners: learners.map((l) => ('token' in l ? { name: l.name, token: l.token, cluster: l.cluster } : l)),
        };
      },
    },
    { method: 'GET', path: '/api/classes', role: 'admin', handler: () => ({ classes: store.classes().map((c) => ({ id: c.id, title: c.title, labs: c.labs, joinCode: c.joinCode, instructorToken: c.instructorToken, learners: store.learners(c.id).length })) }) },
    {
      method: 'POST',
      path: '/api/join',
      handler: async ({ body }) => {
        const b = (await body()) as { code?: unknown; name?: unknown };
        const c = typeof b.code === 'string' ? store.classByJoinCode(b.code.trim()) : undefined;
        if (!c) throw new HttpError(404, 'no class with that join code: check the code your instructor gave you');
        const l = await admitLearner(c, String(b.name ?? ''));
        return { token: l.token, name: l.name, class: c.title, firstLab: c.labs[0] };
      },
    },
    { method: 'GET', path: '/api/class', role: instructor, handler: async (ctx) => grid(classOf(ctx)) },
    {
      method: 'POST',
      path: '/api/class/message',
      role: instructor,
      handler: async (ctx) => {
        const c = classOf(ctx);
        const b = (await ctx.body()) as { learner?: unknown; text?: unknown };
        if (typeof b.text !== 'string' || !b.text.trim() || b.text.length > 2000) throw new HttpError(400, 'a message needs text (at most 2000 characters)');
        const to = typeof b.learner === 'string' ? [learnerIn(c, b.learner)] : store.learners(c.id);
        for (const l of to) d.learnerHub.publish(l.id, { type: 'message', from: 'instructor', text: b.text.trim(), at: new Date().toISOString() }, `message:${Date.now()}`);
        await store.logEvent('message', { to: typeof b.learner === 'string' ? b.learner : 'all', text: b.text.trim() }, { classId: c.id });
        return { sent: to.length };
      },
    },
    {
      method: 'POST',
      path: '/api/class/learners/:learner/reset',
      role: instructor,
      handler: async (ctx) => {
        const c = classOf(ctx);
        const l = learnerIn(c, ctx.params.learner!);
        const b = (await ctx.body()) as { lab?: unknown; recreate?: unknown };
        if (b.recreate === true) {
          d.labs?.stopLearner(l.id);
          d.dropEnv(l.id);
          takeover.delete(l.id);
          const env = d.envFor(l);
          d.learnerHub.publish(l.id, { type: 'cluster', state: 'starting', message: 'your instructor is recreating your lab cluster' });
          void (async () => {
            try {
              await d.provisioner.destroy(l.cluster);
            } catch (err) {
              d.log(`recreate ${l.cluster}: delete failed: ${oneLine(err)}`);
            }
            const admit = await d.provisioner.admit(0);
            if (admit.ok) {
              d.provisioner.reserve(l.cluster, admit.host);
              await env.cluster.up();
            } else {
              // Admission counts the cluster just deleted as gone: no room means no room.
              d.log(`recreate ${l.cluster}: not made: ${admit.reason}`);
              env.cluster.fail(`the lab cluster was deleted but not made again: ${admit.reason}`);
            }
            pushLearner(l);
          })();
          await store.logEvent('recreate', {}, { classId: c.id, learnerId: l.id });
          return { recreating: l.cluster };
        }
        const lab = typeof b.lab === 'string' ? b.lab : undefined;
        if (!lab || !c.labs.includes(lab)) throw new HttpError(400, `which lab? one of: ${c.labs.join(', ')}`);
        if (!d.labs) throw new HttpError(503, 'labs are not available on this server');
        d.envFor(l).kube();
        await d.labs.reset(l.id, l.cluster, lab);
        await store.logEvent('reset', { lab }, { classId: c.id, learnerId: l.id });
        pushLearner(l);
        return { reset: lab };
      },
    },
    {
      method: 'POST',
      path: '/api/class/learners/:learner/takeover',
      role: instructor,
      handler: async (ctx) => {
        const c = classOf(ctx);
        const l = learnerIn(c, ctx.params.learner!);
        const t = takeoverOf(l.id);
        t.requested = true;
        d.learnerHub.publish(l.id, { type: 'takeover', state: t.granted ? 'granted' : 'requested' });
        pushLearner(l);
        return { takeover: t.granted ? 'granted' : 'requested' };
      },
    },
    {
      method: 'POST',
      path: '/api/takeover',
      role: 'learner',
      handler: async (ctx) => {
        const l = store.learnerById(ctx.principal!.id)!;
        const b = (await ctx.body()) as { accept?: unknown };
        const t = takeoverOf(l.id);
        const accept = b.accept === true && t.requested;
        t.granted = accept;
        if (!accept) t.requested = false;
        for (const access of t.shadows) access.input = accept;
        d.learnerHub.publish(l.id, { type: 'takeover', state: accept ? 'granted' : 'none' });
        if (l.classId) await store.logEvent(accept ? 'takeover-granted' : 'takeover-ended', {}, { classId: l.classId, learnerId: l.id });
        pushLearner(l);
        return { takeover: accept ? 'granted' : 'none' };
      },
    },
    {
      method: 'GET',
      path: '/api/class/export',
      role: instructor,
      handler: async (ctx) => {
        const c = classOf(ctx);
        const format = ctx.url.searchParams.get('format') ?? 'json';
        const labs = await labInfos(c);
        const g: Gradebook = {
          className: c.title,
          exportedAt: new Date().toISOString(),
          tasks: labs.flatMap((lab) => lab.tasks.map((t) => ({ lab: lab.id, task: t.id, title: t.title.en }))),
          learners: store.learners(c.id).map((l) => ({
            name: l.name,
            cells: Object.fromEntries(
              store.progress(l.id).map((p) => [
                cellKey(p.lab, p.task),
                { passed: p.state === 'passed', passedAt: p.passedAt, attempts: p.attempts, hintsUsed: p.hintsUsed, solutionRevealed: p.solutionRevealed, reason: p.reason ? ((JSON.parse(p.reason) as { en?: string }).en ?? null) : null },
              ]),
            ),
          })),
        };
        const body = format === 'csv' ? toCSV(g) : format === 'junit' ? toJUnit(g) : format === 'json' ? toJSON(g) : undefined;
        if (body === undefined) throw new HttpError(400, 'format must be csv, json or junit');
        return { format, filename: `${slug(c.title)}-gradebook.${format === 'junit' ? 'xml' : format}`, body };
      },
    },
  ];

  const sockets: SocketRoute[] = [
    {
      path: '/api/class/events',
      role: instructor,
      handler: (ws, ctx) => {
        let c: ClassRow;
        try {
          c = classOf(ctx);
        } catch (err) {
          ws.close(1008, (err as Error).message.slice(0, 100));
          return;
        }
        d.classHub.join(`class:${c.id}`, ws);
        void grid(c).then((g) => ws.readyState === ws.OPEN && ws.send(JSON.stringify(g)));
      },
    },
    {
      path: '/api/class/shadow',
      role: instructor,
      handler: (ws: WebSocket, ctx) => {
        let l: LearnerRow;
        try {
          l = learnerIn(classOf(ctx), ctx.url.searchParams.get('learner') ?? '');
        } catch (err) {
          ws.close(1008, (err as Error).message.slice(0, 100));
          return;
        }
        const env = d.envFor(l);
        let shell;
        try {
          shell = env.shell();
        } catch (err) {
          ws.send(JSON.stringify({ type: 'error', message: (err as Error).message }));
          ws.close(1013, 'cluster not running');
          return;
        }
        const t = takeoverOf(l.id);
        const access: TabAccess = { input: t.granted, resize: false };
        t.shadows.add(access);
        const watching = () => d.learnerHub.publish(l.id, { type: 'watching', count: t.shadows.size });
        watching();
        ws.on('close', () => {
          t.shadows.delete(access);
          watching();
        });
        attachTab(ws, shell, access);
      },
    },
  ];

  return {
    routes,
    sockets,
    /** Tells the grid about a learner's change (connection, tasks, cluster). */
    learnerChanged(learnerId: string) {
      const l = store.learnerById(learnerId);
      if (l) pushLearner(l);
    },
    async start() {
      for (const c of store.classes()) void refillPool(c);
    },
  };
}

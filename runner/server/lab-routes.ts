import { oneLine } from '../errors.ts';
import { HttpError, type Route } from './app.ts';
import type { LabInfo, LabSessions } from './labs.ts';
import type { EnvOf } from './learner-routes.ts';
import type { Store } from './store.ts';

const LAB_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** A learner's view of a lab: texts, hints revealed so far, the solution if revealed, task states. */
function labView(store: Store, sessions: LabSessions, learnerId: string, lab: LabInfo) {
  const rows = new Map(store.progress(learnerId, lab.id).map((r) => [r.task, r]));
  return {
    id: lab.id,
    title: lab.title,
    summary: lab.summary,
    started: store.labStarted(learnerId, lab.id),
    tasks: lab.tasks.map((t) => {
      const r = rows.get(t.id);
      return {
        id: t.id,
        title: t.title,
        text: t.text,
        hintCount: t.hints.length,
        ...(t.answer ? { answer: t.answer } : {}),
        hints: t.hints.slice(0, r?.hintsUsed ?? 0),
        ...(r?.solutionRevealed && t.solution ? { solution: t.solution } : {}),
      };
    }),
    states: sessions.states(learnerId, lab),
  };
}

export function labRoutes(envOf: EnvOf, store: Store, sessions: LabSessions): Route[] {
  const load = async (id: string): Promise<LabInfo> => {
    if (!LAB_ID.test(id)) throw new HttpError(400, `"${id}" is not a lab id`);
    try {
      return await sessions.engine.loadLab(id);
    } catch (err) {
      throw new HttpError(404, `no lab "${id}": ${oneLine(err)}`);
    }
  };
  const task = (lab: LabInfo, id: string) => {
    const t = lab.tasks.find((x) => x.id === id);
    if (!t) throw new HttpError(404, `lab ${lab.id} has no task "${id}"`);
    return t;
  };
  return [
    { method: 'GET', path: '/api/labs', role: 'learner', handler: async () => ({ labs: await sessions.engine.listLabs() }) },
    {
      method: 'GET',
      path: '/api/labs/:lab',
      role: 'learner',
      handler: async (ctx) => {
        const env = envOf(ctx);
        const lab = await load(ctx.params.lab!);
        if (store.labStarted(env.learner.id, lab.id) && env.cluster.state === 'running') await sessions.watch(env.learner.id, env.learner.cluster, lab.id);
        return labView(store, sessions, env.learner.id, lab);
      },
    },
    {
      method: 'POST',
      path: '/api/labs/:lab/start',
      role: 'learner',
      handler: async (ctx) => {
        const env = envOf(ctx);
        const lab = await load(ctx.params.lab!);
        env.kube();
        await sessions.start(env.learner.id, env.learner.cluster, lab.id);
        await store.logEvent('lab-started', { lab: lab.id }, { classId: env.learner.classId, learnerId: env.learner.id });
        return labView(store, sessions, env.learner.id, lab);
      },
    },
    {
      method: 'POST',
      path: '/api/labs/:lab/reset',
      role: 'learner',
      handler: async (ctx) => {
        const env = envOf(ctx);
        const lab = await load(ctx.params.lab!);
        env.kube();
        await sessions.reset(env.learner.id, env.learner.cluster, lab.id);
        return labView(store, sessions, env.learner.id, lab);
      },
    },
    {
      method: 'POST',
      path: '/api/labs/:lab/check',
      role: 'learner',
      handler: async (ctx) => {
        const env = envOf(ctx);
        const lab = await load(ctx.params.lab!);
        env.kube();
        return { states: await sessions.checkNow(env.learner.id, env.learner.cluster, lab.id) };
      },
    },
    {
      method: 'POST',
      path: '/api/labs/:lab/tasks/:task/hint',
      role: 'learner',
      handler: async (ctx) => {
        const env = envOf(ctx);
        const lab = await load(ctx.params.lab!);
        const t = task(lab, ctx.params.task!);
        const used = await store.useHint(env.learner.id, lab.id, t.id, t.hints.length);
        return { hints: t.hints.slice(0, used) };
      },
    },
    {
      method: 'POST',
      path: '/api/labs/:lab/tasks/:task/answer',
      role: 'learner',
      handler: async (ctx) => {
        const env = envOf(ctx);
        const lab = await load(ctx.params.lab!);
        const t = task(lab, ctx.params.task!);
        if (!t.answer) throw new HttpError(400, `task ${t.id} does not ask for an answer`);
        const value = ((await ctx.body()) as { value?: unknown } | undefined)?.value;
        if (typeof value !== 'string' || value.length > 200) throw new HttpError(400, 'an answer is {"value": "…"}, at most 200 characters');
        env.kube();
        await sessions.engine.setAnswer(env.learner.cluster, lab.id, t.id, value);
        return { states: await sessions.checkNow(env.learner.id, env.learner.cluster, lab.id) };
      },
    },
    {
      method: 'POST',
      path: '/api/labs/:lab/tasks/:task/solution',
      role: 'learner',
      handler: async (ctx) => {
        const env = envOf(ctx);
        const lab = await load(ctx.params.lab!);
        const t = task(lab, ctx.params.task!);
        if (!t.solution) throw new HttpError(404, `task ${t.id} has no written solution`);
        await store.revealSolution(env.learner.id, lab.id, t.id);
        return { solution: t.solution };
      },
    },
  ];
}

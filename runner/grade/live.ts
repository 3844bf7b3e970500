// The grading engine as the runner server uses it (runner/server/labs.ts LabEngine): lab
// texts for the page, setup and reset, and a check loop that reports task states as they
// change. The loop evaluates a task's checks in order and stops at the first failing one,
// so expensive checks (traffic, DNS) run only once the cheap ones pass.
import type { LabInfo, TaskStatus } from '../server/labs.ts';
import { checkKind, type AnswerCheck, type LoadedLab } from '../core/lab/types.ts';
import { LabCluster, Round } from './cluster.ts';
import { runCheck } from './checks.ts';
import { readAnswers, writeAnswers } from './answers.ts';
import { startLab } from './lifecycle.ts';
import { listLabIds, loadLab as loadLabFile } from '../lab/load.ts';

const clusters = new Map<string, Promise<LabCluster>>();
function openCluster(name: string): Promise<LabCluster> {
  let c = clusters.get(name);
  if (!c) {
    c = LabCluster.open(name);
    c.catch(() => clusters.delete(name));
    clusters.set(name, c);
  }
  return c;
}

export function labInfo(lab: LoadedLab): LabInfo {
  return {
    id: lab.id,
    title: lab.title,
    ...(lab.summary ? { summary: lab.summary } : {}),
    tasks: lab.tasks.map((t) => {
      const answer = t.checks.map((c) => (checkKind(c) === 'answer' ? (c as { answer: AnswerCheck }).answer : undefined)).find((a) => a);
      return { id: t.id, title: t.title, ...(t.text ? { text: t.text } : {}), hints: t.hints ?? [], ...(t.solution ? { solution: t.solution } : {}), ...(answer ? { answer: { prompt: answer.prompt } } : {}) };
    }),
  };
}

export async function loadLab(id: string): Promise<LabInfo> {
  return labInfo(await loadLabFile(id));
}

export const listLabs = (): Promise<string[]> => listLabIds();

export async function setupLab(cluster: string, id: string): Promise<void> {
  await startLab(await openCluster(cluster), await loadLabFile(id));
}

export async function resetLab(cluster: string, id: string): Promise<void> {
  await writeAnswers(cluster, id, {});
  await setupLab(cluster, id);
}

export async function setAnswer(cluster: string, id: string, task: string, value: string): Promise<void> {
  const answers = await readAnswers(cluster, id);
  answers[task] = value;
  await writeAnswers(cluster, id, answers);
}

/** One pass over the lab: passed tasks, the first unfinished one failing with its reason, the rest pending. */
export async function taskStates(cluster: LabCluster, lab: LoadedLab, kept: ReadonlySet<string> = new Set()): Promise<TaskStatus[]> {
  const round = new Round(cluster);
  const answers = await readAnswers(cluster.name, lab.id);
  const states: TaskStatus[] = [];
  let current = false;
  for (const t of lab.tasks) {
    if (t.once && kept.has(t.id)) {
      states.push({ id: t.id, state: 'passed' });
      continue;
    }
    let failed: TaskStatus | undefined;
    for (const c of t.checks) {
      const v = await runCheck(c, { lab, round, answers, taskId: t.id });
      if (!v.pass) {
        failed = { id: t.id, state: 'failing', ...(v.reason ? { reason: v.reason } : {}) };
        break;
      }
    }
    if (!failed) states.push({ id: t.id, state: 'passed' });
    else if (!current) {
      current = true;
      states.push(failed);
    } else states.push({ id: t.id, state: 'pending', ...(failed.reason ? { reason: failed.reason } : {}) });
  }
  return states;
}

export function watchLab(opts: { cluster: string; lab: string; intervalMs?: number; passed?: string[]; onChange: (tasks: TaskStatus[]) => void }): { stop(): void; checkNow(): Promise<TaskStatus[]> } {
  // Tasks marked `once` stay passed once they pass (seeded with what the store knows).
  const kept = new Set(opts.passed ?? []);
  let stopped = false;
  let last = '';
  let running: Promise<TaskStatus[]> | undefined;
  let timer: NodeJS.Timeout | undefined;
  // Read and validated once per watch, not on every pass of the loop.
  let lab: Promise<LoadedLab> | undefined;
  const once = (): Promise<TaskStatus[]> => {
    running ??= (async () => {
      try {
        lab ??= loadLabFile(opts.lab).catch((err: unknown) => {
          lab = undefined;
          throw err;
        });
        const states = await taskStates(await openCluster(opts.cluster), await lab, kept);
        for (const t of states) if (t.state === 'passed') kept.add(t.id);
        const key = JSON.stringify(states);
        if (key !== last && !stopped) {
          last = key;
          opts.onChange(states);
        }
        return states;
      } finally {
        running = undefined;
      }
    })();
    return running;
  };
  const loop = () => {
    if (stopped) return;
    once()
      .catch(() => {})
      .finally(() => {
        if (!stopped) timer = setTimeout(loop, opts.intervalMs ?? 2000);
      });
  };
  loop();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
    checkNow: () => (running ? running.then(() => once()) : once()),
  };
}

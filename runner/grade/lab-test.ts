// `svclab lab test`: proves a lab solvable and its graders honest. On a clean namespace:
// setup → every check must FAIL → solution → every check must PASS (given time to
// settle) → cleanup. One case per lab × check × phase.
import { performance } from 'node:perf_hooks';
import type { JUnitCase } from '../core/grade/report.ts';
import { checkKind, type LoadedLab } from '../core/lab/types.ts';
import { oneLine } from '../errors.ts';
import { Round, type LabCluster } from './cluster.ts';
import { runCheck } from './checks.ts';
import { cleanup, setup, solve } from './lifecycle.ts';

export type Phase = 'setup' | 'before' | 'solution' | 'after' | 'cleanup';

export interface LabTestCase {
  lab: string;
  task: string;
  check: string;
  phase: Phase;
  ok: boolean;
  ms: number;
  message?: string;
}

/** How long "after" waits for a check to pass, unless the check says `settle`. */
const DEFAULT_SETTLE_S = 60;

/** The answers the solution gives: each answer check's `solve` command, run in the toolbox pod. */
async function solvedAnswers(cluster: LabCluster, lab: LoadedLab): Promise<Record<string, string>> {
  const answers: Record<string, string> = {};
  for (const t of lab.tasks) {
    for (const c of t.checks) {
      if (checkKind(c) !== 'answer') continue;
      const cmd = (c as { answer: { solve?: string } }).answer.solve;
      if (!cmd) continue;
      const r = await cluster.inPod(cmd, 60_000);
      answers[t.id] = r.out.trim().split('\n').pop() ?? '';
    }
  }
  return answers;
}

export async function testLab(cluster: LabCluster, lab: LoadedLab, onCase: (c: LabTestCase) => void = () => {}): Promise<LabTestCase[]> {
  const cases: LabTestCase[] = [];
  const add = (c: LabTestCase) => {
    cases.push(c);
    onCase(c);
  };
  const step = async (phase: Phase, fn: () => Promise<void>): Promise<boolean> => {
    const t0 = performance.now();
    try {
      await fn();
      add({ lab: lab.id, task: '-', check: phase, phase, ok: true, ms: Math.round(performance.now() - t0) });
      return true;
    } catch (err) {
      add({ lab: lab.id, task: '-', check: phase, phase, ok: false, ms: Math.round(performance.now() - t0), message: oneLine(err) });
      return false;
    }
  };
  const name = (i: number, kind: string) => `${i + 1}:${kind}`;

  if (!(await step('setup', async () => {
    await cleanup(cluster, lab.namespace);
    await setup(cluster, lab);
  }))) return cases;

  // Before the solution nothing may pass; an empty answer sheet.
  const round = new Round(cluster);
  for (const t of lab.tasks) {
    for (const [i, c] of t.checks.entries()) {
      const t0 = performance.now();
      const v = await runCheck(c, { lab, round, answers: {}, taskId: t.id });
      add({ lab: lab.id, task: t.id, check: name(i, checkKind(c)), phase: 'before', ok: !v.pass, ms: Math.round(performance.now() - t0), message: v.pass ? 'passes on the untouched lab: this check cannot tell whether the learner did the task' : undefined });
    }
  }

  const solved = await step('solution', () => solve(cluster, lab));
  if (solved) {
    const answers = await solvedAnswers(cluster, lab);
    for (const t of lab.tasks) {
      for (const [i, c] of t.checks.entries()) {
        const t0 = performance.now();
        const deadline = Date.now() + (c.settle ?? DEFAULT_SETTLE_S) * 1000;
        let v = await runCheck(c, { lab, round: new Round(cluster), answers, taskId: t.id });
        while (!v.pass && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 2000));
          v = await runCheck(c, { lab, round: new Round(cluster), answers, taskId: t.id });
        }
        add({ lab: lab.id, task: t.id, check: name(i, checkKind(c)), phase: 'after', ok: v.pass, ms: Math.round(performance.now() - t0), message: v.pass ? undefined : v.reason?.en });
      }
    }
  }
  await step('cleanup', () => cleanup(cluster, lab.namespace));
  return cases;
}

export function labTestJUnit(cases: LabTestCase[]): { name: string; cases: JUnitCase[] }[] {
  const labs = [...new Set(cases.map((c) => c.lab))];
  return labs.map((lab) => ({
    name: lab,
    cases: cases.filter((c) => c.lab === lab).map((c) => ({ classname: `${c.lab}.${c.task === '-' ? c.phase : c.task}`, name: c.task === '-' ? c.phase : `${c.check} ${c.phase === 'before' ? 'fails before the solution' : 'passes after the solution'}`, ms: c.ms, ...(c.ok ? {} : { failure: c.message ?? 'failed' }) })),
  }));
}

export function labTestTable(cases: LabTestCase[]): string {
  const rows = cases.map((c) => [c.lab, c.task, c.check, c.phase, c.ok ? 'ok' : 'FAIL', `${(c.ms / 1000).toFixed(1)}s`, c.ok ? '' : (c.message ?? '')]);
  const head = ['LAB', 'TASK', 'CHECK', 'PHASE', 'RESULT', 'TIME', 'WHY'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((x, i) => (i === r.length - 1 ? x : x.padEnd(widths[i]!))).join('   ').trimEnd();
  const failed = cases.filter((c) => !c.ok).length;
  return `${[line(head), ...rows.map(line)].join('\n')}\n${cases.length - failed} passed, ${failed} failed\n`;
}

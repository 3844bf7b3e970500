// Grading a lab: every check of every task (or of one task) against the live cluster.
import { performance } from 'node:perf_hooks';
import type { CheckResult, LabResult, TaskResult } from '../core/grade/report.ts';
import { checkKind, type LoadedLab, type Task } from '../core/lab/types.ts';
import { Round, type LabCluster } from './cluster.ts';
import { runCheck } from './checks.ts';

export interface GradeOptions {
  task?: string;
  answers?: Record<string, string>;
}

export async function gradeTask(lab: LoadedLab, task: Task, round: Round, answers: Record<string, string>): Promise<TaskResult> {
  const checks: CheckResult[] = [];
  for (const [index, check] of task.checks.entries()) {
    const t0 = performance.now();
    const v = await runCheck(check, { lab, round, answers, taskId: task.id });
    checks.push({ kind: checkKind(check), index, pass: v.pass, ...(v.reason ? { reason: v.reason } : {}), ms: Math.round(performance.now() - t0) });
  }
  return { id: task.id, title: task.title, pass: checks.every((c) => c.pass), checks };
}

export async function gradeLab(lab: LoadedLab, cluster: LabCluster, opts: GradeOptions = {}): Promise<LabResult> {
  const round = new Round(cluster);
  const tasks = opts.task ? lab.tasks.filter((t) => t.id === opts.task) : lab.tasks;
  const results: TaskResult[] = [];
  for (const t of tasks) results.push(await gradeTask(lab, t, round, opts.answers ?? {}));
  return { lab: lab.id, title: lab.title, pass: results.every((t) => t.pass), tasks: results };
}

// The class gradebook: one row per learner, one column per task, as CSV, JSON or JUnit.

export interface GradebookTask {
  lab: string;
  task: string;
  title: string;
}

export interface GradebookCell {
  passed: boolean;
  passedAt: string | null;
  attempts: number;
  hintsUsed: number;
  solutionRevealed: boolean;
  /** The last failing check's explanation, if the task is not passed. */
  reason: string | null;
}

export interface Gradebook {
  className: string;
  exportedAt: string;
  tasks: GradebookTask[];
  learners: { name: string; cells: Record<string, GradebookCell> }[];
}

export const cellKey = (lab: string, task: string) => `${lab}/${task}`;

const EMPTY: GradebookCell = { passed: false, passedAt: null, attempts: 0, hintsUsed: 0, solutionRevealed: false, reason: null };

function csvField(v: string | number | boolean): string {
  const s = String(v);
  return /[",\n\r]/.test(s) || /^[=+\-@]/.test(s) ? `"${s.replace(/"/g, '""').replace(/^([=+\-@])/, "'$1")}"` : s;
}

/**
 * CSV with a header row; per task four columns: passed, passed_at, attempts, hints_used.
 * Cells that start like a spreadsheet formula are quoted and prefixed, so opening the file
 * in a spreadsheet runs nothing a learner typed.
 */
export function toCSV(g: Gradebook): string {
  const header = ['learner', 'tasks_passed', ...g.tasks.flatMap((t) => {
    const k = cellKey(t.lab, t.task);
    return [`${k} passed`, `${k} passed_at`, `${k} attempts`, `${k} hints_used`];
  })];
  const rows = g.learners.map((l) => {
    const cells = g.tasks.map((t) => l.cells[cellKey(t.lab, t.task)] ?? EMPTY);
    return [l.name, cells.filter((c) => c.passed).length, ...cells.flatMap((c) => [c.passed ? 'yes' : 'no', c.passedAt ?? '', c.attempts, c.hintsUsed])];
  });
  return [header, ...rows].map((r) => r.map(csvField).join(',')).join('\r\n') + '\r\n';
}

export function toJSON(g: Gradebook): string {
  return `${JSON.stringify(g, null, 2)}\n`;
}

// eslint-disable-next-line no-control-regex -- XML 1.0 forbids these characters; they are dropped.
const xml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '');

/** JUnit XML: a testsuite per learner, a testcase per task (classname lab, name task). */
export function toJUnit(g: Gradebook): string {
  const lines = ['<?xml version="1.0" encoding="UTF-8"?>'];
  const failures = g.learners.reduce((n, l) => n + g.tasks.filter((t) => !(l.cells[cellKey(t.lab, t.task)] ?? EMPTY).passed).length, 0);
  lines.push(`<testsuites name="${xml(g.className)}" tests="${g.learners.length * g.tasks.length}" failures="${failures}" timestamp="${xml(g.exportedAt)}">`);
  for (const l of g.learners) {
    const cells = g.tasks.map((t) => ({ t, c: l.cells[cellKey(t.lab, t.task)] ?? EMPTY }));
    lines.push(`  <testsuite name="${xml(l.name)}" tests="${cells.length}" failures="${cells.filter((x) => !x.c.passed).length}">`);
    for (const { t, c } of cells) {
      const open = `    <testcase classname="${xml(t.lab)}" name="${xml(`${t.task}: ${t.title}`)}">`;
      const props = `      <properties><property name="attempts" value="${c.attempts}"/><property name="hints_used" value="${c.hintsUsed}"/><property name="solution_revealed" value="${c.solutionRevealed}"/>${c.passedAt ? `<property name="passed_at" value="${xml(c.passedAt)}"/>` : ''}</properties>`;
      if (c.passed) lines.push(open, props, '    </testcase>');
      else lines.push(open, props, `      <failure message="${xml(c.reason ?? 'not done')}"/>`, '    </testcase>');
    }
    lines.push('  </testsuite>');
  }
  lines.push('</testsuites>', '');
  return lines.join('\n');
}

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toCSV, toJUnit, type Gradebook } from '../../../runner/core/classroom/gradebook.ts';

const g: Gradebook = {
  className: 'Services 101',
  exportedAt: '2026-11-25T10:00:00.000Z',
  tasks: [
    { lab: 'clusterip', task: 'create', title: 'Create the Service' },
    { lab: 'clusterip', task: 'curl', title: 'Reach it <by IP>' },
  ],
  learners: [
    { name: 'Ada', cells: { 'clusterip/create': { passed: true, passedAt: '2026-11-25T09:01:00Z', attempts: 2, hintsUsed: 1, solutionRevealed: false, reason: null } } },
    { name: '=HYPERLINK("x")', cells: {} },
  ],
};

test('CSV: a row per learner, the task columns, and formulas defused', () => {
  const lines = toCSV(g).trimEnd().split('\r\n');
  assert.equal(lines[0], 'learner,tasks_passed,clusterip/create passed,clusterip/create passed_at,clusterip/create attempts,clusterip/create hints_used,clusterip/curl passed,clusterip/curl passed_at,clusterip/curl attempts,clusterip/curl hints_used');
  assert.equal(lines[1], 'Ada,1,yes,2026-11-25T09:01:00Z,2,1,no,,0,0');
  assert.equal(lines[2], `"'=HYPERLINK(""x"")",0,no,,0,0,no,,0,0`);
});

test('JUnit: a testcase per learner and task, failures for tasks not done, XML escaped', () => {
  const x = toJUnit(g);
  assert.match(x, /<testsuites name="Services 101" tests="4" failures="3"/);
  assert.match(x, /<testsuite name="Ada" tests="2" failures="1">/);
  assert.match(x, /<testcase classname="clusterip" name="curl: Reach it &lt;by IP&gt;">/);
  assert.equal((x.match(/<failure /g) ?? []).length, 3);
  assert.equal((x.match(/<testcase /g) ?? []).length, 4);
});

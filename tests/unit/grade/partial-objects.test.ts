// A learner's half-made or half-deleted objects (no spec, no ports, a Service being deleted
// with its EndpointSlice gone) give a failed check with a reason, never an exception.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluateIptables } from '../../../runner/core/grade/iptables.ts';
import { evaluateObject } from '../../../runner/core/grade/object.ts';
import { parseDump } from '../../../runner/core/proxy/iptables-dump.ts';
import { serviceView } from '../../../runner/grade/observe.ts';
import { labTestJUnit, labTestTable, type LabTestCase } from '../../../runner/grade/lab-test.ts';

const skeletons = [
  { metadata: { name: 'web', namespace: 'default' } },
  { metadata: { name: 'web', namespace: 'default', deletionTimestamp: '2026-12-02T10:00:00Z' }, spec: {} },
  { metadata: { name: 'web' }, spec: { ports: [] } },
  { metadata: { name: 'web' }, spec: { clusterIP: 'None', ports: [{ port: 80 }] }, status: { loadBalancer: {} } },
];

test('skeleton Services fail the object and iptables checks with a reason', () => {
  const dump = parseDump('*nat\n:KUBE-SERVICES - [0:0]\nCOMMIT\n');
  for (const o of skeletons) {
    const v = evaluateObject({ kind: 'Service', name: 'web', match: { spec: { type: 'NodePort', ports: [{ port: 80 }] } } }, 'default', { objects: [o] });
    assert.equal(v.pass, false, JSON.stringify(o));
    assert.ok(v.reason?.en && v.reason.zh, JSON.stringify(v));
    const r = evaluateObject({ kind: 'Service', name: 'web', readyEndpoints: 2 }, 'default', { objects: [o], readyEndpoints: {}, pods: [] });
    assert.equal(r.pass, false, JSON.stringify(o));
    const ipt = evaluateIptables({ service: 'web', expect: { clusterIP: true, endpoints: 3, nodePort: true } }, serviceView(o), [{ node: 'n1', dump }], 'all');
    assert.equal(ipt.pass, false, JSON.stringify(o));
    assert.ok(ipt.reason?.en, JSON.stringify(ipt));
  }
});

test('lab test reports: a table and JUnit, one case per check and phase', () => {
  const cases: LabTestCase[] = [
    { lab: 'demo', task: '-', check: 'setup', phase: 'setup', ok: true, ms: 500 },
    { lab: 'demo', task: 'expose', check: '1:object', phase: 'before', ok: false, ms: 10, message: 'passes on the untouched lab: this check cannot tell whether the learner did the task' },
    { lab: 'demo', task: 'expose', check: '1:object', phase: 'after', ok: true, ms: 2100 },
  ];
  const table = labTestTable(cases);
  assert.match(table, /^LAB +TASK +CHECK +PHASE +RESULT +TIME +WHY$/m);
  assert.match(table, /demo +expose +1:object +before +FAIL +0\.0s +passes on the untouched lab/);
  assert.match(table, /2 passed, 1 failed\n$/);
  const [suite] = labTestJUnit(cases);
  assert.equal(suite!.name, 'demo');
  assert.deepEqual(suite!.cases.map((c) => [c.classname, c.name, c.failure !== undefined]), [
    ['demo.setup', 'setup', false],
    ['demo.expose', '1:object fails before the solution', true],
    ['demo.expose', '1:object passes after the solution', false],
  ]);
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { classroomResult, formatGithub, formatJUnit, formatTap, formatText, type LabResult } from '../../../runner/core/grade/report.ts';

const result: LabResult = {
  lab: 'clusterip',
  title: { en: 'ClusterIP', zh: 'ClusterIP 服务' },
  pass: false,
  tasks: [
    { id: 'deploy', title: { en: 'Deploy', zh: '部署' }, pass: true, checks: [{ kind: 'object', index: 0, pass: true, ms: 12 }] },
    { id: 'expose', title: { en: 'Expose <web>', zh: '暴露' }, pass: false, checks: [{ kind: 'object', index: 0, pass: false, reason: { en: 'Service "web" & co: no\u0001 endpoints', zh: '没有端点' }, ms: 30 }, { kind: 'iptables', index: 1, pass: true, ms: 5 }] },
  ],
};

describe('grade reports', () => {
  test('text in either language', () => {
    assert.equal(formatText(result), 'clusterip: ClusterIP\n  ✓ deploy: Deploy\n  ✗ expose: Expose <web>\n      Service "web" & co: no\u0001 endpoints\n1/2 tasks passed\n');
    assert.match(formatText(result, 'zh'), /✗ expose: 暴露\n {6}没有端点\n1\/2 个任务完成/);
  });
  test('JUnit: one case per check, escaped, control characters dropped', () => {
    const x = formatJUnit(result);
    assert.match(x, /<testsuites name="svclab" tests="3" failures="1" errors="0" skipped="0" time="0.047">/);
    assert.match(x, /<testcase classname="clusterip.expose" name="expose \[1: object\]" time="0.030">\n {6}<failure message="Service &quot;web&quot; &amp; co: no endpoints">/);
    assert.match(x, /<testcase classname="clusterip.deploy" name="deploy" time="0.012"\/>/);
  });
  test('TAP 14', () => {
    assert.equal(formatTap(result).split('\n').slice(0, 5).join('\n'), 'TAP version 14\n1..3\nok 1 - clusterip deploy\nnot ok 2 - clusterip expose [1: object]\n  ---');
  });
  test('GitHub annotations and a Classroom result', () => {
    const out = formatGithub(result, 'en', (s) => `B64(${s.length})`);
    assert.match(out, /^::notice title=clusterip\/deploy%3A Deploy::passed\n::error title=clusterip\/expose%3A Expose <web>::Service "web" & co/);
    assert.deepEqual(classroomResult(result).tests.map((t) => [t.name, t.score]), [['clusterip/deploy', 1], ['clusterip/expose', 0]]);
  });
});

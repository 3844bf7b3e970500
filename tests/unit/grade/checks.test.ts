import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { evaluateAnswer, evaluateAnswerAnyOf, evaluateMeasurement } from '../../../runner/core/grade/answer.ts';
import { evaluateDns, parseDig } from '../../../runner/core/grade/dns.ts';
import { partialMatch } from '../../../runner/core/grade/match.ts';
import { evaluateObject } from '../../../runner/core/grade/object.ts';
import { evaluateTraffic, parseEchoReply } from '../../../runner/core/grade/traffic.ts';

describe('partial matching', () => {
  const svc = { spec: { type: 'ClusterIP', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }] } };
  test('maps are subsets, numbers and strings compare by text', () => {
    assert.deepEqual(partialMatch({ spec: { selector: { app: 'web' } } }, svc), []);
    assert.deepEqual(partialMatch({ spec: { ports: [{ port: '80' }] } }, svc), []);
  });
  test('a difference names its path', () => {
    assert.deepEqual(partialMatch({ spec: { type: 'NodePort' } }, svc), [{ path: 'spec.type', expected: 'NodePort', actual: 'ClusterIP' }]);
    assert.equal(partialMatch({ spec: { ports: [{ port: 80 }, { port: 81 }] } }, svc)[0]!.path, 'spec.ports');
    assert.equal(partialMatch({ spec: { clusterIP: 'None' } }, svc)[0]!.actual, undefined);
  });
});

describe('object check', () => {
  const svc = { kind: 'Service', metadata: { name: 'my-nginx' }, spec: { selector: { app: 'nginx' } } };
  const pods = [1, 2].map((i) => ({ name: `my-nginx-${i}`, labels: { run: 'my-nginx', 'pod-template-hash': 'abc' }, ready: true }));
  test('a selector that matches no pod is explained with the labels the pods have', () => {
    const v = evaluateObject({ kind: 'Service', name: 'my-nginx', readyEndpoints: 2 }, 'default', { objects: [svc], readyEndpoints: { 'my-nginx': 0 }, pods });
    assert.equal(v.reason!.en, 'Service my-nginx selects app=nginx, but no pod has these labels (the pods here are labelled run=my-nginx ×2).');
    assert.match(v.reason!.zh, /选择 app=nginx，但没有 Pod 带这些标签/);
  });
  test('pods that match but are not ready', () => {
    const v = evaluateObject({ kind: 'Service', name: 'my-nginx', readyEndpoints: { min: 2 } }, 'default', { objects: [svc], readyEndpoints: { 'my-nginx': 0 }, pods: pods.map((p) => ({ ...p, labels: { app: 'nginx' }, ready: false })) });
    assert.match(v.reason!.en, /selects 2 pods, 0 of them ready/);
  });
  test('missing, mismatching, absent', () => {
    assert.match(evaluateObject({ kind: 'Service', name: 'web' }, 'default', { objects: [] }).reason!.en, /There is no Service web in namespace default yet/);
    assert.match(evaluateObject({ kind: 'Service', name: 'my-nginx', match: { spec: { type: 'NodePort' } } }, 'default', { objects: [svc] }).reason!.en, /spec.type is not set; expected "NodePort"/);
    assert.equal(evaluateObject({ kind: 'Service', name: 'x', absent: true }, 'default', { objects: [] }).pass, true);
    assert.equal(evaluateObject({ kind: 'Service', name: 'my-nginx', readyEndpoints: 2 }, 'default', { objects: [svc], readyEndpoints: { 'my-nginx': 2 } }).pass, true);
  });
});

const DIG_HEADLESS = `;; Got answer:
;; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 4242
;; flags: qr aa rd; QUERY: 1, ANSWER: 2, AUTHORITY: 0, ADDITIONAL: 1

web-headless.default.svc.cluster.local. 30 IN A 10.244.1.5
web-headless.default.svc.cluster.local. 30 IN A 10.244.2.9
`;

describe('dns check', () => {
  test('dig output is parsed', () => {
    const d = parseDig(DIG_HEADLESS);
    assert.equal(d.status, 'NOERROR');
    assert.deepEqual(d.answers.map((a) => a.data), ['10.244.1.5', '10.244.2.9']);
    assert.equal(parseDig(';; connection timed out; no servers could be reached\n').status, 'TIMEOUT');
  });
  test('exactly the ready endpoints, in any order', () => {
    const c = { name: 'web-headless', expect: { addresses: 'endpoints' as const } };
    assert.equal(evaluateDns(c, parseDig(DIG_HEADLESS), { addresses: ['10.244.2.9', '10.244.1.5'] }).pass, true);
    const v = evaluateDns(c, parseDig(DIG_HEADLESS), { addresses: ['10.244.1.5'], addressesAre: { en: 'the ready endpoints of web-headless', zh: 'x' } });
    assert.equal(v.reason!.en, 'web-headless A answers 10.244.1.5, 10.244.2.9; expected exactly the ready endpoints of web-headless: 10.244.1.5.');
  });
  test('rcode, CNAME, SRV port', () => {
    const nx = parseDig(';; ->>HEADER<<- opcode: QUERY, status: NXDOMAIN, id: 1\n');
    assert.match(evaluateDns({ name: 'web', expect: {} }, nx, {}).reason!.en, /NXDOMAIN/);
    assert.equal(evaluateDns({ name: 'nope', expect: { rcode: 'NXDOMAIN' } }, nx, {}).pass, true);
    const cname = parseDig(';; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 1\next.default.svc.cluster.local. 30 IN CNAME web.default.svc.cluster.local.\n');
    assert.equal(evaluateDns({ name: 'ext', type: 'CNAME', expect: { cname: 'web.default.svc.cluster.local' } }, cname, {}).pass, true);
    const srv = parseDig(';; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 1\n_http._tcp.web.default.svc.cluster.local. 30 IN SRV 0 50 8080 web-0.web.default.svc.cluster.local.\n_http._tcp.web.default.svc.cluster.local. 30 IN SRV 0 50 8080 web-1.web.default.svc.cluster.local.\n');
    assert.equal(evaluateDns({ name: '_http._tcp.web', type: 'SRV', expect: { srv: { port: 'http', count: 2 } } }, srv, { srvPort: 8080 }).pass, true);
    assert.match(evaluateDns({ name: '_http._tcp.web', type: 'SRV', expect: { srv: { port: 'http' } } }, srv, { srvPort: 80 }).reason!.en, /port 8080, expected 80/);
  });
});

describe('traffic check', () => {
  const reply = (pod: string, client = '10.244.0.9') => parseEchoReply(`pod: ${pod}\npod_ip: 10.244.1.2\nnode: n\nnamespace: default\nclient: ${client}:41234\nport: 8080\nprotocol: tcp\n`);
  const ctx = { target: '10.96.0.50:80', sourceIP: '10.244.0.9', readyEndpoints: 3 };
  test('echo replies are read', () => {
    assert.deepEqual(reply('web-1'), { ok: true, pod: 'web-1', client: '10.244.0.9' });
    assert.equal(parseEchoReply('curl: (7) Failed to connect').ok, false);
  });
  test('distinct pods, same pod, refused', () => {
    const spread = ['a', 'b', 'c', 'a'].map((p) => reply(p));
    assert.equal(evaluateTraffic({ service: 'web', expect: { distinctPods: 'all' } }, spread, ctx).pass, true);
    assert.match(evaluateTraffic({ service: 'web', expect: { samePod: true } }, spread, ctx).reason!.en, /answered by 3 different pods/);
    assert.match(evaluateTraffic({ service: 'web', expect: { distinctPods: 2 } }, [reply('a'), reply('a')], ctx).reason!.en, /answered by 1 pod \(a\); expected at least 2/);
    assert.equal(evaluateTraffic({ service: 'web', expect: { refused: true } }, [{ ok: false, error: 'connection refused' }], ctx).pass, true);
    assert.match(evaluateTraffic({ service: 'web', expect: { distinctPods: 1 } }, [{ ok: false, error: 'connection refused' }], ctx).reason!.en, /None of 1 request .* \(connection refused\)/);
  });
  test('client address preserved or rewritten', () => {
    assert.equal(evaluateTraffic({ service: 'web', from: 'outside', expect: { clientPreserved: true } }, [reply('a')], ctx).pass, true);
    assert.match(evaluateTraffic({ service: 'web', from: 'outside', expect: { clientPreserved: true } }, [reply('a', '172.18.0.3')], ctx).reason!.en, /saw the client as 172.18.0.3, not the real client 10.244.0.9/);
  });
});

describe('answer check', () => {
  const c = { prompt: { en: 'the chain', zh: '链' }, expect: { serviceChain: 'web' } };
  test('compared with the live value, case and quotes aside', () => {
    assert.equal(evaluateAnswer(c, ' "kube-svc-abc" ', 'KUBE-SVC-ABC').pass, true);
    assert.match(evaluateAnswer(c, undefined, 'KUBE-SVC-ABC').reason!.en, /Not answered yet: the chain/);
    assert.equal(evaluateAnswer(c, 'KUBE-SVC-XYZ', 'KUBE-SVC-ABC').pass, false);
    assert.ok(!evaluateAnswer(c, 'KUBE-SVC-XYZ', 'KUBE-SVC-ABC').reason!.en.includes('ABC'), 'a wrong answer does not give the right one away');
  });
  test('counts within a tolerance', () => {
    assert.equal(evaluateAnswer(c, '105', '100', 0.1).pass, true);
    assert.match(evaluateAnswer(c, '150', '100', 0.1).reason!.en, /too high/);
  });
  test('one of several live values (the addresses of a node)', () => {
    assert.equal(evaluateAnswerAnyOf(c, '10.244.1.1', ['172.18.0.3', '10.244.1.1']).pass, true);
    assert.equal(evaluateAnswerAnyOf(c, '10.244.1.7', ['172.18.0.3', '10.244.1.1']).pass, false);
    assert.match(evaluateAnswerAnyOf(c, '10.244.1.1', []).reason!.en, /cannot be checked yet/);
  });
  test('a measured time against the grader\'s own measurement', () => {
    assert.equal(evaluateMeasurement(c, '0.25', 0.2).pass, true, 'close');
    assert.equal(evaluateMeasurement(c, '0.5 ms', 0.2).pass, true, 'within the slack, unit written out');
    assert.equal(evaluateMeasurement(c, '1.5', 0.9).pass, true, 'within a factor of 3');
    assert.match(evaluateMeasurement(c, '0.0002', 1.2).reason!.en, /much shorter.*type milliseconds/, 'seconds typed instead of ms');
    assert.match(evaluateMeasurement(c, '20', 1.2).reason!.en, /much longer/);
    assert.ok(!evaluateMeasurement(c, '20', 1.2).reason!.en.includes('1.2'), 'the grader\'s figure is not given away');
    assert.match(evaluateMeasurement(c, 'fast', 0.2).reason!.en, /not a time in milliseconds/);
    assert.match(evaluateMeasurement(c, '0.2', undefined).reason!.en, /cannot be checked yet/);
  });
});

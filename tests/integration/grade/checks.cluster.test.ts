// Every check kind against the real lab cluster, failing and passing, with the sentences a
// learner would read; and `svclab grade` output that CI systems accept.
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { run } from '../../../runner/exec.ts';
import type { Check, LoadedLab } from '../../../runner/core/lab/types.ts';
import { LabCluster, Round } from '../../../runner/grade/cluster.ts';
import { runCheck } from '../../../runner/grade/checks.ts';
import { cleanup } from '../../../runner/grade/lifecycle.ts';
import { svclab } from '../../support/cli.ts';
import { deployEcho, kubeConfigFor } from '../../support/cluster.ts';
import { TEST_CLUSTER, testCluster } from '../../support/test-cluster.ts';

const NS = 'grade-e2e';
const lab: LoadedLab = { id: 'grade-e2e', title: { en: 'x', zh: 'x' }, namespace: NS, dir: '', tasks: [] };

describe('checks against the live cluster', { concurrency: false }, () => {
  let cluster: LabCluster;
  const core = () => kubeConfigFor(TEST_CLUSTER).makeApiClient(CoreV1Api);
  const check = async (c: Check, answers: Record<string, string> = {}) => runCheck(c, { lab, round: new Round(cluster), answers, taskId: 't' });
  /** Retries until the check passes (rules and DNS follow the API within a few seconds). */
  const eventually = async (c: Check, ms = 30_000) => {
    const deadline = Date.now() + ms;
    let v = await check(c);
    while (!v.pass && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 1000));
      v = await check(c);
    }
    return v;
  };

  before(async () => {
    await testCluster();
    cluster = await LabCluster.open(TEST_CLUSTER);
    await core().createNamespace({ body: { metadata: { name: NS } } });
  });
  after(async () => {
    await core().deleteNamespace({ name: NS }).catch(() => {});
  });

  test('before anything exists, every kind fails with a reason a learner can act on', async () => {
    const o = await check({ object: { kind: 'Service', name: 'web', readyEndpoints: 2 } });
    assert.equal(o.reason?.en, `There is no Service web in namespace ${NS} yet.`);
    assert.equal(o.reason?.zh, `命名空间 ${NS} 中还没有 Service web。`);
    assert.match((await check({ iptables: { service: 'web', expect: { clusterIP: true } } })).reason!.en, /There is no Service web yet/);
    assert.match((await check({ dns: { name: `web.${NS}.svc.cluster.local`, expect: { addresses: 'clusterIP' } } })).reason!.en, /NXDOMAIN/);
    assert.match((await check({ traffic: { service: 'web', expect: { distinctPods: 2 } } })).reason!.en, /There is no Service web to send traffic to yet/);
    assert.match((await check({ answer: { prompt: { en: 'Which chain?', zh: '哪条链？' }, expect: { serviceChain: 'web' } } })).reason!.en, /Not answered yet: Which chain\?/);
  });

  test('with pods and Services, the checks pass and the wrong expectations explain themselves', async () => {
    const rec = await testCluster();
    await deployEcho(TEST_CLUSTER, NS, 'web', 2, rec.components.echo!);
    await core().createNamespacedService({ namespace: NS, body: { metadata: { name: 'web' }, spec: { type: 'NodePort', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] } } });
    await core().createNamespacedService({ namespace: NS, body: { metadata: { name: 'web-headless' }, spec: { clusterIP: 'None', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] } } });
    await core().createNamespacedService({ namespace: NS, body: { metadata: { name: 'typo' }, spec: { selector: { app: 'wbe' }, ports: [{ port: 80 }] } } });

    assert.deepEqual(await eventually({ object: { kind: 'Service', name: 'web', match: { spec: { type: 'NodePort', selector: { app: 'web' } } }, readyEndpoints: 2 } }), { pass: true });
    const typo = await check({ object: { kind: 'Service', name: 'typo', readyEndpoints: { min: 1 } } });
    assert.match(typo.reason!.en, /^Service typo selects app=wbe, but no pod has these labels \(the pods here are labelled app=web ×2\)\.$/);
    assert.match((await check({ object: { kind: 'Service', name: 'web', match: { spec: { type: 'ClusterIP' } } } })).reason!.en, /spec.type is "NodePort", expected "ClusterIP"/);

    assert.deepEqual(await eventually({ iptables: { service: 'web', node: 'all', expect: { clusterIP: true, endpoints: 2, nodePort: true, masqueradeOffCluster: true } } }), { pass: true });
    const three = await check({ iptables: { service: 'web', node: 'worker', expect: { endpoints: 3 } } });
    assert.match(three.reason!.en, new RegExp(`^On ${TEST_CLUSTER}-worker2?, KUBE-SVC-[A-Z2-7]{16} \\(web:80/TCP\\) spreads over 2 endpoints \\(KUBE-SEP chains\\), not 3\\.$`));
    assert.deepEqual(await eventually({ iptables: { service: 'typo', expect: { rejected: true } } }), { pass: true });
    assert.match((await check({ iptables: { service: 'web', expect: { rejected: true } } })).reason!.en, /is not rejected: the Service still has endpoints/);

    const ips = (await core().listNamespacedPod({ namespace: NS, labelSelector: 'app=web' })).items.map((p) => p.status!.podIP!).sort();
    assert.deepEqual(await eventually({ dns: { name: `web-headless.${NS}.svc.cluster.local`, expect: { addresses: 'endpoints', count: 2 } } }), { pass: true });
    assert.deepEqual(await check({ dns: { name: `_http._tcp.web-headless.${NS}.svc.cluster.local`, type: 'SRV', expect: { srv: { port: 'http', count: 2 } } } }), { pass: true });
    assert.deepEqual(await check({ dns: { name: `nope.${NS}.svc.cluster.local`, expect: { rcode: 'NXDOMAIN' } } }), { pass: true });
    const wrong = await check({ dns: { name: `web-headless.${NS}.svc.cluster.local`, expect: { addresses: ['10.244.9.9'] } } });
    assert.equal(wrong.reason!.en, `web-headless.${NS}.svc.cluster.local A answers ${ips.join(', ')}; expected exactly expected: 10.244.9.9.`);

    assert.deepEqual(await check({ traffic: { service: 'web', from: 'pod', requests: 16, expect: { distinctPods: 'all' } } }), { pass: true });
    assert.deepEqual(await check({ traffic: { service: 'web', via: 'nodePort', from: 'outside', requests: 6, expect: { distinctPods: 1, clientPreserved: false } } }), { pass: true });
    assert.match((await check({ traffic: { service: 'web', from: 'pod', requests: 16, expect: { samePod: true } } })).reason!.en, /answered by 2 different pods/);
    assert.match((await check({ traffic: { service: 'typo', from: 'pod', requests: 2, expect: { distinctPods: 1 } } })).reason!.en, /None of 2 requests from a pod .* \(connection refused\)/);

    const chain = (await run('docker', ['exec', `${TEST_CLUSTER}-worker`, 'iptables-save', '-t', 'nat'])).stdout.match(new RegExp(`-A KUBE-SERVICES .*"${NS}/web:http cluster IP".* -j (KUBE-SVC-\\w+)`))![1]!;
    const ask: Check = { answer: { prompt: { en: 'chain', zh: '链' }, expect: { serviceChain: 'web' } } };
    assert.deepEqual(await check(ask, { t: chain }), { pass: true });
    assert.equal((await check(ask, { t: 'KUBE-SVC-AAAAAAAAAAAAAAAA' })).pass, false);
  });

  test('externalTrafficPolicy Local keeps the client address and goes through KUBE-SVL', async () => {
    await core().patchNamespacedService({ namespace: NS, name: 'web', body: [{ op: 'add', path: '/spec/externalTrafficPolicy', value: 'Local' }] });
    assert.deepEqual(await eventually({ iptables: { service: 'web', expect: { localOnly: true } } }), { pass: true });
    assert.deepEqual(await check({ traffic: { service: 'web', via: 'nodePort', from: 'outside', requests: 4, expect: { clientPreserved: true } } }), { pass: true });
  });

  test('a script check and a hanging check', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'svclab-script-'));
    await writeFile(join(dir, 'count.ts'), `export default async (ctx) => { const r = await ctx.kubectl(['get', 'pods', '-n', ctx.namespace, '-o', 'name']); const n = r.out.trim().split('\\n').length; return n === 2 ? { pass: true } : { pass: false, reason: { en: 'want 2 pods, have ' + n, zh: 'x' } }; };\n`);
    await writeFile(join(dir, 'hang.ts'), 'export default () => new Promise(() => {});\n');
    const scripted = { ...lab, dir };
    assert.deepEqual(await runCheck({ script: { file: 'count.ts' } }, { lab: scripted, round: new Round(cluster), answers: {}, taskId: 't' }), { pass: true });
    const hung = await runCheck({ script: { file: 'hang.ts' }, timeout: 1 }, { lab: scripted, round: new Round(cluster), answers: {}, taskId: 't' });
    assert.match(hung.reason!.en, /did not finish within 1 s/);
  });

  test('svclab grade: exit codes, valid JUnit, TAP, GitHub annotations, and clear errors', async () => {
    const labs = await mkdtemp(join(tmpdir(), 'svclab-labs-'));
    await mkdir(join(labs, 'g'));
    await writeFile(join(labs, 'g', 'lab.yaml'), stringify({
      id: 'g', title: { en: 'G', zh: 'G' }, namespace: NS,
      tasks: [
        { id: 'ok', title: { en: 'web exists', zh: 'web 存在' }, checks: [{ object: { kind: 'Service', name: 'web' } }] },
        { id: 'bad', title: { en: 'typo has endpoints', zh: 'typo 有端点' }, checks: [{ object: { kind: 'Service', name: 'typo', readyEndpoints: 1 } }] },
      ],
    }));
    const env = { SVCLAB_LABS_DIR: labs };
    const junit = await svclab(['grade', 'g', '--name', TEST_CLUSTER, '--format', 'junit'], { env });
    assert.equal(junit.code, 1, 'a failing task fails the command');
    const lint = await run('xmllint', ['--noout', '-'], { input: junit.stdout, allowFailure: true });
    assert.equal(lint.code, 0, `xmllint: ${lint.stderr}`);
    assert.match(junit.stdout, /<testsuite name="g" tests="2" failures="1"/);
    assert.match(junit.stdout, /<failure message="Service typo selects app=wbe, but no pod has these labels/);
    const text = await svclab(['grade', 'g', '--name', TEST_CLUSTER, '--lang', 'zh'], { env });
    assert.match(text.stdout, /✓ ok: web 存在\n {2}✗ bad: typo 有端点\n {6}Service typo 选择 app=wbe，但没有 Pod 带这些标签/);
    const tap = await svclab(['grade', 'g', '--name', TEST_CLUSTER, '--format', 'tap', '--task', 'ok'], { env });
    assert.equal(tap.code, 0);
    assert.equal(tap.stdout, 'TAP version 14\n1..1\nok 1 - g ok\n');
    const gh = await svclab(['grade', 'g', '--name', TEST_CLUSTER, '--format', 'github'], { env });
    assert.match(gh.stdout, /^::notice title=g\/ok%3A web exists::passed\n::error title=g\/bad%3A typo has endpoints::Service typo selects/);
    const result = JSON.parse(Buffer.from(/^result=(.*)$/m.exec(gh.stdout)![1]!, 'base64').toString()) as { max_score: number; tests: { status: string }[] };
    assert.equal(result.max_score, 2);
    assert.deepEqual(result.tests.map((t) => t.status), ['pass', 'fail']);
    const noCluster = await svclab(['grade', 'g', '--name', 'no-such-cluster'], { env });
    assert.equal(noCluster.code, 1);
    assert.equal(noCluster.stderr, 'svclab: no lab cluster "no-such-cluster": run svclab cluster up --name no-such-cluster\n');
    const noTask = await svclab(['grade', 'g', '--name', TEST_CLUSTER, '--task', 'zzz'], { env });
    assert.equal(noTask.stderr, 'svclab: lab g has no task "zzz": its tasks are ok, bad\n');
  });

  test('cleanup leaves the namespace empty but for what the control plane keeps', async () => {
    await cleanup(cluster, NS);
    const left = (await core().listNamespacedService({ namespace: NS })).items.length + (await core().listNamespacedPod({ namespace: NS })).items.length;
    assert.equal(left, 0);
  });
});

// The cluster substrate end to end, through the CLI as a user runs it: a 3-node kind
// cluster from local images, Ready nodes, pod IPs from each node's podCIDR, pod-to-pod
// traffic across nodes, an idempotent `up`, clear errors, and a `down` that leaves nothing.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AppsV1Api, CoreV1Api } from '@kubernetes/client-node';
import { findKind } from '../../../runner/cluster/kind.ts';
import { kubeconfigPath } from '../../../runner/cluster/state.ts';
import { run } from '../../../runner/exec.ts';
import { svclab } from '../../support/cli.ts';
import { execInPod, kindLeftovers, kubeConfigFor, waitForPods } from '../../support/cluster.ts';

const NAME = 'svclab-it';
const NS = 'lifecycle';

async function sysctls() {
  const read = async (k: string) => (await readFile(`/proc/sys/${k}`, 'utf8')).trim();
  return { overcommit: await read('vm/overcommit_memory'), panic: await read('kernel/panic'), oops: await read('kernel/panic_on_oops'), inotify: await read('fs/inotify/max_user_instances') };
}

async function nodeContainers() {
  const r = await run('docker', ['ps', '-a', '--filter', `label=io.x-k8s.kind.cluster=${NAME}`, '--format', '{{.Names}} {{.ID}} {{.CreatedAt}}']);
  return r.stdout.split('\n').filter(Boolean).sort();
}

async function kindClusters(): Promise<string[]> {
  const r = await run(await findKind(), ['get', 'clusters']);
  return r.stdout.split('\n').map((l) => l.trim()).filter(Boolean);
}

describe('svclab cluster', { concurrency: false }, () => {
  let hostSysctlsBefore: Awaited<ReturnType<typeof sysctls>>;
  let otherKindClusters: string[] = [];

  before(async () => {
    await svclab(['cluster', 'down', '--name', NAME]);
    hostSysctlsBefore = await sysctls();
    otherKindClusters = (await kindClusters()).filter((n) => n !== NAME);
  });

  after(async () => {
    await svclab(['cluster', 'down', '--name', NAME]);
  });

  test('up creates a 3-node cluster with every node Ready and prints the kubeconfig', async () => {
    const r = await svclab(['cluster', 'up', '--name', NAME]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`kubeconfig: ${kubeconfigPath(NAME).replace(/[.]/g, '\\.')}`));
    const nodes = (await kubeConfigFor(NAME).makeApiClient(CoreV1Api).listNode()).items;
    assert.deepEqual(nodes.map((n) => n.metadata?.name).sort(), [`${NAME}-control-plane`, `${NAME}-worker`, `${NAME}-worker2`]);
    for (const n of nodes) {
      assert.ok(n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'), `${n.metadata?.name} is not Ready`);
      assert.ok(n.spec?.podCIDR, `${n.metadata?.name} has no podCIDR`);
    }
  });

  test('a pod on every node gets an IP from its node\'s podCIDR and reaches pods on the other nodes directly', async () => {
    const kc = kubeConfigFor(NAME);
    const core = kc.makeApiClient(CoreV1Api);
    const nodes = (await core.listNode()).items;
    const cidrOf = new Map(nodes.map((n) => [n.metadata!.name!, n.spec!.podCIDR!]));
    const rec = JSON.parse(await readFile(join(kubeconfigPath(NAME), '..', 'cluster.json'), 'utf8')) as { components: Record<string, string> };
    await core.createNamespace({ body: { metadata: { name: NS } } });
    await kc.makeApiClient(AppsV1Api).createNamespacedDaemonSet({
      namespace: NS,
      body: {
        metadata: { name: 'echo' },
        spec: {
          selector: { matchLabels: { app: 'echo' } },
          template: {
            metadata: { labels: { app: 'echo' } },
            spec: {
              tolerations: [{ operator: 'Exists' }],
              containers: [
                {
                  name: 'echo',
                  image: rec.components.echo!,
                  imagePullPolicy: 'Never',
                  env: [
                    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                    { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
                    { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
                  ],
                  readinessProbe: { httpGet: { path: '/', port: 8080 }, periodSeconds: 1 },
                },
              ],
            },
          },
        },
      },
    });
    const pods = await waitForPods(kc, NS, 'app=echo', 3);
    assert.equal(new Set(pods.map((p) => p.spec?.nodeName)).size, 3, 'one echo pod per node');
    for (const p of pods) {
      const [net, bits] = cidrOf.get(p.spec!.nodeName!)!.split('/');
      assert.equal(bits, '24');
      assert.ok(p.status!.podIP!.startsWith(net!.split('.').slice(0, 3).join('.') + '.'), `${p.metadata?.name} on ${p.spec?.nodeName} has ${p.status?.podIP}, outside ${cidrOf.get(p.spec!.nodeName!)}`);
    }
    for (const from of pods) {
      for (const to of pods) {
        if (from === to) continue;
        const out = await execInPod(NAME, NS, from.metadata!.name!, ['curl', '-sS', '--max-time', '5', `http://${to.status!.podIP}:8080/`]);
        assert.match(out, new RegExp(`^pod: ${to.metadata!.name}$`, 'm'), `${from.metadata?.name} -> ${to.metadata?.name}`);
        assert.match(out, new RegExp(`^node: ${to.spec!.nodeName}$`, 'm'));
        // Routed, not NATed: the server sees the client pod's own address.
        assert.match(out, new RegExp(`^client: ${from.status!.podIP!.replace(/\./g, '\\.')}:\\d+$`, 'm'));
      }
    }
  });

  test('up on an existing cluster changes nothing', async () => {
    const before = await nodeContainers();
    const r = await svclab(['cluster', 'up', '--name', NAME]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /Creating kind cluster/);
    assert.deepEqual(await nodeContainers(), before);
  });

  test('bad input gets one clear line and a non-zero exit', async () => {
    const cases: [string[], RegExp, NodeJS.ProcessEnv?][] = [
      [['cluster', 'up', '--name', NAME, '--workers', 'two'], /invalid --workers "two": give a whole number/],
      [['cluster', 'up', '--name', NAME, '--workers', '99'], /at most 10 workers/],
      [['cluster', 'up', '--name', 'Bad_Name'], /invalid cluster name "Bad_Name"/],
      [['cluster', 'up', '--name', NAME, '--workers', '1'], /exists with 2 workers, not 1/],
      [['cluster', 'up', '--name', 'other'], /Docker engine at unix:\/\/\/tmp\/svclab-no-docker.sock is not running/, { DOCKER_HOST: 'unix:///tmp/svclab-no-docker.sock' }],
      [['cluster', 'status', '--name', 'never-made'], /no svclab cluster named "never-made": run 'svclab cluster up --name never-made'/],
    ];
    for (const [args, msg, env] of cases) {
      const r = await svclab(args, { env });
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, msg);
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line for ${args.join(' ')}: ${r.stderr}`);
    }
  });

  test('a kind cluster svclab did not create is refused, and left alone', async () => {
    const before = await nodeContainers();
    const foreignState = await mkdtemp(join(tmpdir(), 'svclab-state-'));
    const r = await svclab(['cluster', 'up', '--name', NAME], { env: { SVCLAB_STATE_DIR: foreignState } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`a kind cluster named "${NAME}" already exists and was not created by svclab`));
    assert.deepEqual(await nodeContainers(), before);
  });

  test('down leaves no container, network, kubeconfig or changed kernel setting behind', async () => {
    const r = await svclab(['cluster', 'down', '--name', NAME]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await kindLeftovers(NAME), []);
    assert.equal(existsSync(kubeconfigPath(NAME)), false);
    assert.ok(!(await kindClusters()).includes(NAME));
    assert.ok(!(await svclab(['cluster', 'list'])).stdout.split('\n').includes(NAME));
    // Only when this was the last cluster: the other cluster tests (faults.test.ts) run at the
    // same time and make clusters of their own on this engine.
    if (otherKindClusters.length === 0 && (await kindClusters()).length === 0) {
      const nets = await run('docker', ['network', 'ls', '--format', '{{.Name}}']);
      assert.ok(!nets.stdout.split('\n').includes('kind'), 'the kind network is removed with the last cluster');
      assert.deepEqual(await sysctls(), hostSysctlsBefore);
    }
  });
});

// Classroom placement on two real Docker engines on this machine: the default one and a
// second dockerd started for this test (tests/support/second-docker.ts). A learner's
// cluster goes to the engine with more room by the real policy and the engines' own
// `docker info`, the node image is shipped there, the cluster is made there by the code
// of `svclab cluster up`, it works (nodes Ready, the runner reaches its API server, a
// learner shell runs in it), and deleting it removes it from that engine only.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type Docker from 'dockerode';
import { Status } from '../../../runner/cli/status.ts';
import { perClusterMemory } from '../../../runner/cli/commands/serve.ts';
import { clusterDir, kubeconfigPath, readRecord } from '../../../runner/cluster/state.ts';
import { dockerClient, imageExists } from '../../../runner/docker.ts';
import { run } from '../../../runner/exec.ts';
import { findKubectl } from '../../../runner/kube/kubectl.ts';
import { room } from '../../../runner/server/classroom/capacity.ts';
import { enginesFrom, Provisioner } from '../../../runner/server/classroom/provisioner.ts';
import { Shell } from '../../../runner/server/terminal/shell.ts';
import { kubeConfigFor } from '../../support/cluster.ts';
import { SECOND_DOCKER_HOST, secondDockerUnavailable, startSecondDocker, type SecondDocker } from '../../support/second-docker.ts';

const GiB = 2 ** 30;
const NAME = 'svclab-engine2';
const LOCAL = 'unix:///var/run/docker.sock';
const KIND_LABEL = 'io.x-k8s.kind.cluster';

/** A Status that keeps its lines (each finished step ends with its time, e.g. "(12s)"). */
function recordingStatus(): { status: Status; lines: string[] } {
  const lines: string[] = [];
  const out = { isTTY: false, write: (s: string) => (lines.push(...s.split('\n').filter(Boolean)), true) } as unknown as NodeJS.WriteStream;
  return { status: new Status(out), lines };
}

const stepSeconds = (lines: string[], prefix: string) => {
  const l = lines.find((x) => x.startsWith(` ✓ ${prefix}`));
  const m = l && /\((\d+(?:\.\d)?)s\)$/.exec(l);
  return m ? Number(m[1]) : l ? 0 : undefined;
};

async function kindContainers(docker: Docker, cluster: string): Promise<string[]> {
  const list = await docker.listContainers({ all: true, filters: { label: [`${KIND_LABEL}=${cluster}`] } });
  return list.map((c) => `${c.Names[0]!.replace(/^\//, '')} ${c.State}`).sort();
}

const unavailable = await secondDockerUnavailable();

describe('learner clusters on two Docker engines', { concurrency: false, skip: unavailable }, () => {
  const local = dockerClient();
  let d2: SecondDocker;
  let prov: Provisioner;
  let made = false;

  before(async () => {
    d2 = await startSecondDocker();
    prov = new Provisioner(enginesFrom([LOCAL, SECOND_DOCKER_HOST]), { perCluster: perClusterMemory(0), reserve: 3 * GiB, maxLearners: 30 }, local, 0);
  });
  after(async () => {
    if (made) await prov.destroy(NAME).catch(() => {});
    await local.getContainer(`${NAME}-decoy`).remove({ force: true }).catch(() => {});
    await d2?.stop();
  });

  test('the second engine is a separate engine; the first keeps its default bridge', async () => {
    const [a, b] = (await Promise.all([local.info(), d2.docker.info()])) as { ID: string; DockerRootDir: string; DefaultRuntime: string }[];
    assert.notEqual(a!.ID, b!.ID);
    assert.notEqual(a!.DockerRootDir, b!.DockerRootDir);
    assert.equal(b!.DefaultRuntime, a!.DefaultRuntime, 'the same default runtime (the runc-bounded wrapper here)');
    await local.getNetwork('bridge').inspect();
    assert.equal((await run('ip', ['link', 'show', 'docker0'], { allowFailure: true })).code, 0, "the first engine's docker0 is still there");
  });

  test('a new learner cluster is placed on the engine with more room', async () => {
    const states = await prov.engineStates();
    const [first, second] = states;
    const infos = (await Promise.all([local.info(), d2.docker.info()])) as { MemTotal: number }[];
    assert.equal(first!.memTotal, infos[0]!.MemTotal);
    assert.equal(second!.memTotal, infos[1]!.MemTotal);
    // The local engine is also limited by this machine's MemAvailable; the other one only by its MemTotal.
    assert.ok(first!.memAvailable !== undefined && first!.memAvailable < first!.memTotal);
    assert.equal(second!.memAvailable, undefined);
    assert.ok(room(first!, prov.policy) < room(second!, prov.policy), JSON.stringify(states));
    assert.deepEqual(await prov.admit(0), { ok: true, host: SECOND_DOCKER_HOST });
  });

  test('the cluster is made on the second engine: node image shipped, nodes there and not on the first', { timeout: 12 * 60_000 }, async (t) => {
    const { status, lines } = recordingStatus();
    prov.reserve(NAME, SECOND_DOCKER_HOST);
    const before = await prov.engineStates();
    assert.equal(before[1]!.clusters, 1, 'a reserved cluster counts on its engine while it is made');
    made = true;
    const started = Date.now();
    const rec = await prov.create(NAME, status).catch((err: Error) => {
      throw new Error(`${err.message}\n${lines.join('\n')}`);
    });
    const total = (Date.now() - started) / 1000;
    t.diagnostic(lines.filter((l) => l.startsWith(' ✓')).join('\n'));
    t.diagnostic(`total ${total.toFixed(0)} s`);
    assert.equal(rec.dockerHost, SECOND_DOCKER_HOST);
    assert.equal((await readRecord(NAME))?.dockerHost, SECOND_DOCKER_HOST);
    assert.ok(await imageExists(d2.docker, rec.nodeImage), 'the node image is on the second engine');
    assert.ok(stepSeconds(lines, 'Shipping the node image') !== undefined, lines.join('\n'));
    assert.deepEqual(await kindContainers(d2.docker, NAME), [`${NAME}-control-plane running`]);
    assert.deepEqual(await kindContainers(local, NAME), [], 'nothing of it on the first engine');
    // Its LoadBalancer pool is a block of the second engine's kind network (10.210.0.0/16 there).
    const claim = JSON.parse(await readFile(join(clusterDir(NAME), 'lb-pool.json'), 'utf8')) as { subnet: string; pool: string };
    assert.match(claim.subnet, /^10\.210\./);
    assert.equal((await prov.engineStates())[1]!.clusters, 1, 'counted on the second engine once made');
  });

  test('it works: the runner reaches its API server, its node is Ready, a learner shell runs in it', { timeout: 3 * 60_000 }, async () => {
    const kc = kubeConfigFor(NAME);
    const server = new URL(kc.getCurrentCluster()!.server);
    const ports = (await d2.docker.getContainer(`${NAME}-control-plane`).inspect()).NetworkSettings.Ports['6443/tcp'] ?? [];
    assert.ok(ports.some((p) => p.HostPort === server.port), `the API server ${server.href} is the port the second engine publishes (${JSON.stringify(ports)})`);
    const kubectl = await findKubectl();
    assert.ok(kubectl, 'kubectl');
    const nodes = await run(kubectl, ['--kubeconfig', kubeconfigPath(NAME), 'get', 'nodes', '--no-headers']);
    assert.match(nodes.stdout, new RegExp(`^${NAME}-control-plane\\s+Ready\\s`));

    // What a worker node would do: reach the control plane across the second engine's kind bridge
    // (bridged traffic goes through the host's FORWARD chain, policy DROP here).
    const cp = (await d2.docker.getContainer(`${NAME}-control-plane`).inspect()).NetworkSettings.Networks.kind!.IPAddress;
    const probe = await d2.docker.createContainer({
      Image: (await readRecord(NAME))!.nodeImage,
      Entrypoint: ['bash', '-c', `timeout 5 bash -c 'exec 3<>/dev/tcp/${cp}/6443' && echo reached`],
      HostConfig: { NetworkMode: 'kind' },
    });
    try {
      await probe.start();
      const { StatusCode } = (await probe.wait()) as { StatusCode: number };
      const logs = (await probe.logs({ stdout: true, stderr: true })).toString();
      assert.equal(StatusCode, 0, `a container on the kind network reaches ${cp}:6443: ${logs}`);
    } finally {
      await probe.remove({ force: true });
    }

    // The learner's shell as the runner opens it: bash in the toolbox pod through the API server's exec.
    const shell = new Shell(kc);
    let screen = '';
    shell.attach({ output: (b) => (screen += b.toString()), exited: () => {} });
    try {
      await shell.ensureStarted();
      // Through the kubernetes Service (svclab's kube-proxy on that node) and svclab's DNS.
      // The markers are computed by the shell, so the echoed command line never matches them.
      await shell.input('kubectl get nodes --no-headers | sed "s/^/N$((1+1)): /"; getent hosts kubernetes.default.svc.cluster.local | sed "s/^/D$((1+1)): /"\r');
      for (let i = 0; i < 300 && !(/N2: \S+/.test(screen) && /D2: \S+/.test(screen)); i++) await new Promise((r) => setTimeout(r, 100));
      assert.match(screen, new RegExp(`N2: ${NAME}-control-plane\\s+Ready`), screen.slice(-600));
      assert.match(screen, /D2: 10\.96\.0\.1\s/, screen.slice(-600));
    } finally {
      shell.close();
    }
  });

  test('deleting it removes it from the second engine and nothing from the first', { timeout: 5 * 60_000 }, async () => {
    // A container on the first engine that kind would take for a node of this cluster: deleting on the wrong engine removes it.
    await local.createContainer({ name: `${NAME}-decoy`, Image: (await readRecord(NAME))!.nodeImage, Labels: { [KIND_LABEL]: NAME }, Entrypoint: ['true'] });
    const localBefore = await kindContainers(local, NAME);
    await prov.destroy(NAME);
    made = false;
    assert.deepEqual(await kindContainers(d2.docker, NAME), [], 'no node container left on the second engine');
    assert.equal((await d2.docker.listVolumes()).Volumes?.length ?? 0, 0, 'no volume left on the second engine');
    const networks = (await d2.docker.listNetworks()).map((n) => n.Name).sort();
    assert.deepEqual(networks, ['bridge', 'host', 'none'], 'no kind network left on the second engine');
    assert.deepEqual(await kindContainers(local, NAME), localBefore, 'the first engine keeps its containers');
    assert.equal(await readRecord(NAME), undefined);
  });
});

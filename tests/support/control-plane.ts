// A real Kubernetes control plane on loopback — etcd and kube-apiserver built by svclab
// from the Go module proxy — for tests and benchmarks that need a real API server but
// not a whole kind cluster (running upstream kube-proxy or CoreDNS side by side with
// svclab's, feeding the proxy's and DNS server's informers). No controllers run: what a
// test creates (Services, EndpointSlices, Nodes) is exactly what the API serves.
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../runner/exec.ts';
import { goBinary } from '../../runner/images/go-binaries.ts';
import type { KubeObject } from '../../runner/kube/state-file.ts';

export interface ControlPlane {
  /** A kubeconfig file with cluster-admin rights (static token). */
  kubeconfig: string;
  /** https://127.0.0.1:PORT */
  server: string;
  port: number;
  token: string;
  /** Creates the objects (namespaces first) and sets their status (Node addresses, LoadBalancer ingress). */
  apply(objects: KubeObject[]): Promise<void>;
  kubectl(args: string[], input?: string): Promise<string>;
  stop(): Promise<void>;
}

export function controlPlaneBinaries(): { etcd: string; apiserver: string; kubectl: string } {
  return { etcd: goBinary('etcd'), apiserver: goBinary('kubernetes', 'kube-apiserver'), kubectl: goBinary('kubernetes', 'kubectl') };
}

/** An upstream Kubernetes binary built by svclab (kube-proxy, kubectl, …). */
export const upstreamBinary = (name: string) => goBinary('kubernetes', name);

/** Why a control plane (plus the given upstream binaries) cannot start here, or undefined if it can. */
export function controlPlaneUnavailable(extra: string[] = []): string | undefined {
  const b = controlPlaneBinaries();
  const missing = [...Object.values(b), ...extra.map(upstreamBinary)].filter((p) => !existsSync(p));
  return missing.length ? `not built yet: ${missing.join(', ')} (run 'svclab images build-offline')` : undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startControlPlane(opts: { serviceCIDR?: string } = {}): Promise<ControlPlane> {
  const why = controlPlaneUnavailable();
  if (why) throw new Error(`cannot start a local control plane: ${why}`);
  const bins = controlPlaneBinaries();
  const dir = await mkdtemp(join(tmpdir(), 'svclab-cp-'));
  const [clientPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  const procs: ChildProcess[] = [];
  const logs: string[] = [];
  const start = (bin: string, args: string[]) => {
    const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (c: Buffer) => {
      logs.push(c.toString());
      if (logs.length > 200) logs.shift();
    };
    p.stdout!.on('data', keep);
    p.stderr!.on('data', keep);
    procs.push(p);
    return p;
  };

  const stop = async () => {
    for (const p of procs.reverse()) {
      if (p.exitCode === null) {
        p.kill('SIGTERM');
        await Promise.race([new Promise((r) => p.once('exit', r)), sleep(5000)]);
        if (p.exitCode === null) p.kill('SIGKILL');
      }
    }
    await rm(dir, { recursive: true, force: true });
  };

  try {
    start(bins.etcd, [
      '--name=default',
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${clientPort}`,
      `--advertise-client-urls=http://127.0.0.1:${clientPort}`,
      `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-cluster=default=http://127.0.0.1:${peerPort}`,
      '--log-level=warn',
      '--quota-backend-bytes=4294967296',
    ]);
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await writeFile(join(dir, 'sa.key'), privateKey.export({ type: 'pkcs1', format: 'pem' }));
    await writeFile(join(dir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
    const token = 'svclab-test-admin';
    await writeFile(join(dir, 'tokens.csv'), `${token},admin,admin,system:masters\n`);
    start(bins.apiserver, [
      `--etcd-servers=http://127.0.0.1:${clientPort}`,
      `--secure-port=${apiPort}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--cert-dir=${join(dir, 'certs')}`,
      `--token-auth-file=${join(dir, 'tokens.csv')}`,
      '--authorization-mode=RBAC',
      `--service-account-key-file=${join(dir, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-cluster-ip-range=${opts.serviceCIDR ?? '10.96.0.0/16'}`,
      '--service-node-port-range=30000-32767',
      // Nothing runs the controllers that make service accounts; tests create pods directly.
      '--disable-admission-plugins=ServiceAccount',
      '--endpoint-reconciler-type=none',
      '--v=0',
    ]);
    const server = `https://127.0.0.1:${apiPort}`;
    const kubeconfig = join(dir, 'kubeconfig');
    await writeFile(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- name: local',
        '  cluster:',
        `    server: ${server}`,
        '    insecure-skip-tls-verify: true',
        'users:',
        '- name: admin',
        '  user:',
        `    token: ${token}`,
        'contexts:',
        '- name: local',
        '  context: {cluster: local, user: admin}',
        'current-context: local',
        '',
      ].join('\n'),
    );
    const kubectl = async (args: string[], input?: string) => (await run(bins.kubectl, ['--kubeconfig', kubeconfig, ...args], { input, timeoutMs: 120_000 })).stdout;
    const deadline = Date.now() + 90_000;
    for (;;) {
      const r = await run(bins.kubectl, ['--kubeconfig', kubeconfig, 'get', '--raw', '/readyz'], { allowFailure: true });
      if (r.code === 0) break;
      if (procs.some((p) => p.exitCode !== null) || Date.now() > deadline) {
        throw new Error(`the local control plane did not become ready: ${logs.join('').split('\n').slice(-5).join(' | ')}`);
      }
      await sleep(500);
    }
    return {
      kubeconfig,
      server,
      port: apiPort,
      token,
      kubectl,
      stop,
      async apply(objects) {
        const clean = objects.map(sanitize);
        const namespaces = new Set(clean.map((o) => o.metadata.namespace).filter((n): n is string => !!n && n !== 'default'));
        const existing = new Set(clean.filter((o) => o.kind === 'Namespace').map((o) => o.metadata.name));
        const docs: (KubeObject & { status?: unknown })[] = [...[...namespaces].filter((n) => !existing.has(n)).map((n) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: n } })), ...clean];
        const ordered = [...docs.filter((o) => o.kind === 'Namespace'), ...docs.filter((o) => o.kind !== 'Namespace')];
        const withoutStatus = ordered.map(({ status: _s, ...rest }) => rest);
        await kubectl(['apply', '--server-side', '--force-conflicts', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: withoutStatus }));
        const withStatus = ordered.filter((o) => o.status && (o.kind === 'Node' || o.kind === 'Service' || o.kind === 'Pod'));
        if (withStatus.length) await kubectl(['replace', '--subresource=status', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: withStatus }));
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Drops what the API server owns, so that objects read from a live cluster can be created again. */
function sanitize(o: KubeObject): KubeObject & { status?: unknown } {
  const { uid: _u, resourceVersion: _r, creationTimestamp: _c, managedFields: _m, generation: _g, selfLink: _s, ...metadata } = o.metadata as Record<string, unknown>;
  return { ...o, metadata: metadata as KubeObject['metadata'] };
}

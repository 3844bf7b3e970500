// Health check node ports for real: `svclab proxy run` runs inside the node's network
// namespace against a real API server (its whole sync loop, its own sockets), and a client
// on the node's network curls the Service's healthCheckNodePort as a cloud load balancer
// would. Upstream kube-proxy, in a namespace of its own on the same API server, must answer
// the same bytes.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { EndpointSlice, Service } from '../../../runner/core/proxy/types.ts';
import type { KubeObject } from '../../../runner/kube/state-file.ts';
import { canUseNetns, NetnsLab, waitForLine, type Netns } from '../../support/netns.ts';
import { controlPlaneUnavailable, startControlPlane, type ControlPlane } from '../../support/control-plane.ts';
import { buildTopology, CLUSTER_CIDR, endpoints, NODE_IP, PODS, svc, tally, type Topology } from './topology.ts';
import { loadState, startUpstreamProxy, type UpstreamProxy } from './upstream.ts';

const missing = controlPlaneUnavailable(['kube-proxy']);
const skip = missing ? `needs the Kubernetes binaries: ${missing}` : (await canUseNetns()) ? false : 'needs root and ip netns';
if (skip) console.log(`# skipping: ${skip}`);

const root = new URL('../../..', import.meta.url).pathname;
const HCNP = 32100;
const NODEPORT = 30100;

let cp: ControlPlane;
let lab: NetnsLab;
let top: Topology;
let ours: ChildProcess;
let upstreamNs: Netns;
let upstream: UpstreamProxy;
let ourLog = '';

const lb = (name: string, hcnp: number, nodePort: number): Service =>
  svc(name, '', (s) => {
    s.spec!.type = 'LoadBalancer';
    delete s.spec!.clusterIP;
    s.spec!.externalTrafficPolicy = 'Local';
    s.spec!.healthCheckNodePort = hcnp;
    s.spec!.ports![0]!.nodePort = nodePort;
  });

/** The slice of `service` with these endpoints: [pod, node, ready]. */
function slice(service: string, eps: [number, string, boolean?][]): EndpointSlice {
  const s = endpoints(service, []);
  s.endpoints = eps.map(([i, node, ready = true]) => ({ addresses: [PODS[i]!.ip], nodeName: node, conditions: { ready, serving: ready, terminating: !ready } }));
  return s;
}

/** Starts `svclab proxy run` inside the node's namespace; resolves once it is running. */
async function startOurs(flags: string[] = []): Promise<ChildProcess> {
  const child = top.node.spawn([
    process.execPath, join(root, 'bin/svclab.js'), 'proxy', 'run', `--kubeconfig=${cp.kubeconfig}`, '--hostname-override=node-a', `--cluster-cidr=${CLUSTER_CIDR}`,
    '--healthz-bind-address=127.0.0.1:10256', '--metrics-bind-address=127.0.0.1:10249', ...flags,
  ]);
  child.stderr!.on('data', (d: Buffer) => (ourLog = (ourLog + d.toString()).slice(-4000)));
  // It logs to stderr; waitForLine reads stdout, so watch stderr by hand.
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`svclab proxy run did not start: ${ourLog}`)), 30_000);
    const onData = () => {
      if (/using iptables-/.test(ourLog)) {
        clearTimeout(timer);
        child.stderr!.off('data', onData);
        resolve();
      }
    };
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`svclab proxy run exited (${code}): ${ourLog}`)));
  });
  return child;
}

async function stopOurs(): Promise<void> {
  if (ours.exitCode !== null) return;
  ours.kill('SIGTERM');
  await new Promise((r) => ours.once('exit', r));
}

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** curl from `from`; 'refused' when nothing listens there. */
async function curl(from: Netns, host: string, port: number): Promise<Answer | 'refused'> {
  const r = await from.exec(['curl', '-sS', '-i', '--max-time', '3', `http://${host}:${port}/`], { allowFail: true });
  if (r.code === 7) return 'refused';
  if (r.code !== 0) throw new Error(`curl ${host}:${port} exited ${r.code}: ${r.stderr.trim()}`);
  const [head, ...rest] = r.stdout.split('\r\n\r\n');
  const lines = head!.split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) headers[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim();
  return { status: Number(lines[0]!.split(' ')[1]), headers, body: rest.join('\r\n\r\n') };
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (${String(last ?? '')}); svclab log: ${ourLog.slice(-1500)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const withCount = (from: Netns, host: string, port: number, status: number, count: number) =>
  until(`${host}:${port} to answer ${status} with ${count} local endpoints`, async () => {
    const a = await curl(from, host, port);
    return a !== 'refused' && a.status === status && JSON.parse(a.body).localEndpoints === count ? a : undefined;
  });

/** The parts of an answer a load balancer reads (Date and connection headers differ between Go and Node.js). */
const essentials = (a: Answer) => ({ status: a.status, body: a.body, type: a.headers['content-type'], nosniff: a.headers['x-content-type-options'], weight: a.headers['x-load-balancing-endpoint-weight'] });

before(async () => {
  if (skip) return;
  cp = await startControlPlane();
  lab = new NetnsLab('kph');
  top = await buildTopology(lab);
  await lab.forwardLoopbackPort(top.node, cp.port);
  await loadState(cp, [
    { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a' }, status: { addresses: [{ type: 'InternalIP', address: NODE_IP }] } },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'lab' } },
    lb('lb', HCNP, NODEPORT),
    slice('lb', [[0, 'node-a'], [1, 'node-b'], [2, 'node-b']]),
  ] as unknown as KubeObject[]);
  ours = await startOurs();
  upstreamNs = await lab.netns('up');
  upstream = await startUpstreamProxy(lab, upstreamNs, cp, ['--hostname-override=node-a', `--cluster-cidr=${CLUSTER_CIDR}`]);
});

after(async () => {
  await upstream?.stop();
  await lab?.dispose();
  await cp?.stop();
});

test('the health check node port answers 200 with the node\'s ready endpoint count, like upstream', { skip }, async () => {
  const a = await withCount(top.client, NODE_IP, HCNP, 200, 1);
  assert.equal(a.headers['content-type'], 'application/json');
  assert.equal(a.headers['x-content-type-options'], 'nosniff');
  assert.equal(a.headers['x-load-balancing-endpoint-weight'], '1');
  assert.deepEqual(JSON.parse(a.body), { service: { namespace: 'lab', name: 'lb' }, localEndpoints: 1, serviceProxyHealthy: true });
  // Without --nodeport-addresses it listens on every address of the node.
  assert.notEqual(await curl(top.podClient, '10.244.9.1', HCNP), 'refused');
  const theirs = await withCount(upstreamNs, '127.0.0.1', HCNP, 200, 1);
  const mine = await curl(top.node, '127.0.0.1', HCNP);
  assert.ok(mine !== 'refused');
  assert.deepEqual(essentials(mine), essentials(theirs));
});

test('the count follows the EndpointSlice; 503 once no local endpoint is ready, like upstream', { skip }, async () => {
  await cp.kubectl(['replace', '-f', '-'], JSON.stringify(slice('lb', [[0, 'node-a'], [1, 'node-a'], [2, 'node-b']])));
  const two = await withCount(top.client, NODE_IP, HCNP, 200, 2);
  assert.equal(two.headers['x-load-balancing-endpoint-weight'], '2');
  // The local pod is terminating (not ready), the others are elsewhere.
  await cp.kubectl(['replace', '-f', '-'], JSON.stringify(slice('lb', [[0, 'node-a', false], [1, 'node-b'], [2, 'node-b']])));
  const none = await withCount(top.client, NODE_IP, HCNP, 503, 0);
  assert.equal(none.headers['x-load-balancing-endpoint-weight'], '0');
  assert.equal(JSON.parse(none.body).serviceProxyHealthy, true);
  const theirs = await withCount(upstreamNs, '127.0.0.1', HCNP, 503, 0);
  const mine = await curl(top.node, '127.0.0.1', HCNP);
  assert.ok(mine !== 'refused');
  assert.deepEqual(essentials(mine), essentials(theirs));
});

test('the port closes when the Service is deleted', { skip }, async () => {
  await cp.kubectl(['delete', 'service', 'lb', '-n', 'lab']);
  await until('the port to close', async () => ((await curl(top.client, NODE_IP, HCNP)) === 'refused' ? true : undefined));
  await until('upstream\'s port to close', async () => ((await curl(upstreamNs, '127.0.0.1', HCNP)) === 'refused' ? true : undefined));
});

test('--nodeport-addresses: the port listens on the selected node IPs only, and NodePorts work there', { skip }, async () => {
  const stopping = Date.now();
  await stopOurs();
  // It used to linger for the rest of its 30 s wait for the Node object.
  assert.ok(Date.now() - stopping < 5000, `svclab proxy run took ${Date.now() - stopping} ms to exit after SIGTERM`);
  ours = await startOurs(['--nodeport-addresses=192.168.8.0/24']);
  await cp.kubectl(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [lb('lb2', HCNP + 1, NODEPORT + 1), slice('lb2', [[0, 'node-a'], [1, 'node-b']])] }));
  await withCount(top.client, NODE_IP, HCNP + 1, 200, 1);
  assert.equal(await curl(top.podClient, '10.244.9.1', HCNP + 1), 'refused', 'not on the pod network\'s gateway address');
  // The NodePort rule for 192.168.8.2 is there: svclab read the node's addresses to find it.
  const t = tally(await top.tcp(top.client, NODE_IP, NODEPORT + 1, 4));
  assert.deepEqual(t.byPod, { pod1: 4 }, `errors: ${t.errors.join(', ')}`);
});

test('a port already in use: a FailedToStartServiceHealthcheck event on the Service, as upstream records', { skip }, async () => {
  const blocker = top.node.spawn([process.execPath, '--input-type=module', '-e', `import net from 'node:net'; net.createServer().listen(${HCNP + 2}, '0.0.0.0', () => console.log('ready'));`]);
  await waitForLine(blocker, /ready/, 10_000);
  await cp.kubectl(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [lb('lb3', HCNP + 2, NODEPORT + 2), slice('lb3', [[0, 'node-a']])] }));
  const event = await until('the event', async () => {
    const list = JSON.parse(await cp.kubectl(['get', 'events.events.k8s.io', '-n', 'lab', '-o', 'json'])) as { items: { reason: string; regarding: { name: string; kind: string }; note: string; type: string; reportingController: string }[] };
    return list.items.find((e) => e.reason === 'FailedToStartServiceHealthcheck' && e.regarding.name === 'lb3');
  });
  assert.equal(event.type, 'Warning');
  assert.equal(event.regarding.kind, 'Service');
  assert.equal(event.reportingController, 'kube-proxy');
  assert.match(event.note, new RegExp(`^node node-a failed to start healthcheck "lab/lb3" on port ${HCNP + 2}: .*EADDRINUSE`));
  blocker.kill();
});

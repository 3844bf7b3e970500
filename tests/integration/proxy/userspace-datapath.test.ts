// The userspace mode with real packets: `svclab proxy run --proxy-mode userspace` runs
// inside the node's network namespace (its sockets must be there; --netns only moves
// commands), against a real kube-apiserver, with pods in their own namespaces (see
// topology.ts). The portal rules send service traffic to the proxy's sockets; the proxy
// opens a second connection to an endpoint, so the endpoint sees the node, not the client.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, test } from 'node:test';
import type { KubeObject } from '../../../runner/kube/state-file.ts';
import { prefixedExec } from '../../../runner/proxy/exec.ts';
import { userspaceMode } from '../../../runner/proxy/userspace/mode.ts';
import { svclab, repoRoot } from '../../support/cli.ts';
import { controlPlaneUnavailable, startControlPlane, type ControlPlane } from '../../support/control-plane.ts';
import { canUseNetns, KUBELET_RULES, NetnsLab } from '../../support/netns.ts';
import { buildTopology, CLIENT_IP, CLUSTER_CIDR, endpoints, NODE_IP, PODS, POD_CLIENT_IP, svc, tally, type Topology } from './topology.ts';
import { loadState, readState } from './upstream.ts';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const missing = controlPlaneUnavailable();
const skip = missing ? `needs the Kubernetes binaries: ${missing}` : (await canUseNetns()) ? false : 'needs root and ip netns';
if (skip) console.log(`# skipping: ${skip}`);

const UDP_TIMEOUT_MS = 1000;
const GW = Object.fromEntries(PODS.map((p) => [p.name, p.gw]));

let cp: ControlPlane;
let lab: NetnsLab;
let top: Topology;
let proxy: ChildProcess;
const logs: string[] = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; proxy log: ${logs.slice(-8).join(' | ')}`);
    await sleep(200);
  }
}

const services = [
  svc('web', '10.96.0.10'),
  svc('np', '10.96.0.20', (s) => {
    s.spec!.type = 'NodePort';
    s.spec!.ports![0]!.nodePort = 30080;
  }),
  svc('sticky', '10.96.0.40', (s) => {
    s.spec!.sessionAffinity = 'ClientIP';
    s.spec!.sessionAffinityConfig = { clientIP: { timeoutSeconds: 60 } };
  }),
  svc('empty', '10.96.0.50'),
  svc('dns', '10.96.0.60', (s) => (s.spec!.ports = [{ name: 'dns', port: 53, protocol: 'UDP' }])),
];
const slices = [
  endpoints('web', PODS),
  endpoints('np', PODS),
  endpoints('sticky', PODS),
  endpoints('dns', PODS.slice(0, 2), { port: 5353, portName: 'dns', protocol: 'UDP' }),
];

const nodeSave = async () => (await top.node.exec(['iptables-nft-save'])).stdout;
/** The rules of a save, without comments and counters, in order. */
const ruleLines = (save: string) => save.split('\n').filter((l) => l.startsWith('-A ') || l.startsWith(':')).map((l) => l.replace(/ \[\d+:\d+\]$/, ''));

before(async () => {
  if (skip) return;
  cp = await startControlPlane();
  lab = new NetnsLab('kpus');
  top = await buildTopology(lab);
  // What kubelet leaves on a node: the mode's cleanup must not touch it.
  await top.node.exec(['iptables-nft-restore', '--noflush'], { input: KUBELET_RULES });
  await lab.forwardLoopbackPort(top.node, cp.port);
  const node = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a' }, status: { addresses: [{ type: 'InternalIP', address: NODE_IP }] } };
  await loadState(cp, [node, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'lab' } }, ...services, ...slices] as unknown as KubeObject[]);
  proxy = top.node.spawn([
    process.execPath, `${repoRoot}/bin/svclab.js`, 'proxy', 'run', '--proxy-mode', 'userspace',
    '--kubeconfig', cp.kubeconfig, '--hostname-override', 'node-a', `--cluster-cidr=${CLUSTER_CIDR}`,
    '--iptables-sync-period=5s', '--iptables-min-sync-period=200ms', `--udp-timeout=${UDP_TIMEOUT_MS}ms`,
    '--healthz-bind-address=127.0.0.1:10256', '--metrics-bind-address=127.0.0.1:10249',
  ]);
  let buf = '';
  proxy.stderr!.on('data', (d: Buffer) => {
    buf += d.toString();
    const lines = buf.split('\n');
    buf = lines.pop()!;
    logs.push(...lines);
  });
  await until('the web service to answer through the proxy', async () => {
    const a = await top.tcp(top.podClient, '10.96.0.10', 80, 3);
    return tally(a).errors.length === 0 && !a.includes('') ? a : undefined;
  }, 60_000);
});

after(async () => {
  await lab?.dispose();
  await cp?.stop();
});

/** The pod of each answer ("pod1 10.244.1.1" → "pod1"). */
const podsOf = (answers: string[]) => answers.map((a) => a.split(' ')[0]!);

function assertRoundRobin(pods: string[], expected: string[], what: string): void {
  const cycle = pods.slice(0, expected.length);
  assert.deepEqual([...cycle].sort(), [...expected].sort(), `${what}: the first round visits each endpoint once: ${pods.join(' ')}`);
  pods.forEach((p, i) => assert.equal(p, cycle[i % cycle.length], `${what}: connection ${i} breaks the turn: ${pods.join(' ')}`));
}

test('ClusterIP TCP from a pod goes round-robin over the endpoints, and each pod sees the node as the client', { skip }, async () => {
  const answers = await top.tcp(top.podClient, '10.96.0.10', 80, 30);
  assert.deepEqual(tally(answers).errors, []);
  assertRoundRobin(podsOf(answers), ['pod1', 'pod2', 'pod3'], 'web');
  // The extra hop: the proxy opened the connection to the pod, from the node's address on that pod's link.
  for (const a of answers) {
    const [pod, peer] = a.split(' ');
    assert.equal(peer, GW[pod!], a);
  }
  assert.ok(!tally(answers).peers.has(POD_CLIENT_IP));
});

test('the node\'s own connections to a ClusterIP are DNATed to the proxy too (KUBE-PORTALS-HOST)', { skip }, async () => {
  const answers = await top.tcp(top.node, '10.96.0.10', 80, 9);
  assert.deepEqual(tally(answers).errors, []);
  assertRoundRobin(podsOf(answers), ['pod1', 'pod2', 'pod3'], 'from the node');
});

test('UDP: one client address is one connection to one endpoint until it idles out; the next one takes the next endpoint', { skip }, async () => {
  const first = await top.udp(top.podClient, '10.96.0.60', 53, 3, 40000);
  const [pod] = podsOf(first);
  assert.ok(pod === 'pod1' || pod === 'pod2', JSON.stringify(first));
  assert.deepEqual(first, [`${pod} ${GW[pod!]}`, `${pod} ${GW[pod!]}`, `${pod} ${GW[pod!]}`], 'the endpoint sees the node\'s address');
  const other = await top.udp(top.podClient, '10.96.0.60', 53, 2, 40001);
  const otherPod = pod === 'pod1' ? 'pod2' : 'pod1';
  assert.deepEqual(podsOf(other), [otherPod, otherPod], 'a second client address is a second connection: the next endpoint in turn');
  // Within the timeout the first client still has its connection; after it, a new one (the turn goes on: back to the first endpoint).
  assert.deepEqual(podsOf(await top.udp(top.podClient, '10.96.0.60', 53, 1, 40001)), [otherPod]);
  await sleep(UDP_TIMEOUT_MS + 500);
  assert.deepEqual(podsOf(await top.udp(top.podClient, '10.96.0.60', 53, 1, 40001)), [pod]);
  // Many client addresses: spread over the endpoints in turn.
  const spread: string[] = [];
  for (let sport = 40010; sport < 40016; sport++) spread.push(...podsOf(await top.udp(top.podClient, '10.96.0.60', 53, 1, sport)));
  assertRoundRobin(spread, ['pod1', 'pod2'], 'UDP clients');
});

test('NodePort: traffic from outside reaches every endpoint in turn, from the node\'s address; the node port is held open by the proxy', { skip }, async () => {
  const answers = await top.tcp(top.client, NODE_IP, 30080, 12);
  assert.deepEqual(tally(answers).errors, []);
  assertRoundRobin(podsOf(answers), ['pod1', 'pod2', 'pod3'], 'node port');
  assert.ok(!tally(answers).peers.has(CLIENT_IP));
  // From the node itself, on loopback as well (KUBE-NODEPORT-HOST matches any local address).
  assert.deepEqual(tally(await top.tcp(top.node, '127.0.0.1', 30080, 3)).errors, []);
  const listening = (await top.node.exec(['ss', '-Hltnp', 'sport', '=', ':30080'])).stdout;
  assert.match(listening, /0\.0\.0\.0:30080 .*"node"/, listening);
});

test('ClientIP affinity: each client keeps its endpoint, and two clients get different ones', { skip }, async () => {
  const fromPod = podsOf(await top.tcp(top.podClient, '10.96.0.40', 80, 10));
  const fromOutside = podsOf(await top.tcp(top.client, '10.96.0.40', 80, 10));
  assert.equal(new Set(fromPod).size, 1, fromPod.join(' '));
  assert.equal(new Set(fromOutside).size, 1, fromOutside.join(' '));
  assert.notEqual(fromPod[0], fromOutside[0], 'the second client took the next endpoint in turn');
  assert.deepEqual(podsOf(await top.tcp(top.podClient, '10.96.0.40', 80, 3)), [fromPod[0], fromPod[0], fromPod[0]]);
});

test('a service without endpoints: the proxy accepts the connection and closes it at once, with no data', { skip }, async () => {
  const started = Date.now();
  const answers = await top.tcp(top.podClient, '10.96.0.50', 80, 3);
  // Upstream's userspace proxy closed the connection it had accepted (there is no REJECT rule in this mode):
  // the client sees an empty answer (or a reset), never an endpoint, and never waits.
  for (const a of answers) assert.ok(a === '' || a === 'ERR ECONNRESET', JSON.stringify(answers));
  assert.ok(Date.now() - started < 1500, `took ${Date.now() - started} ms`);
  assert.ok(logs.some((l) => l.includes("couldn't find an endpoint for lab/empty:http")), logs.slice(-5).join('\n'));
});

test('every portal rule redirects to a port the proxy process listens on', { skip }, async () => {
  const save = await nodeSave();
  const ports = [...save.matchAll(/-A KUBE-PORTALS-CONTAINER -d (\S+) -p (tcp|udp) .*--to-ports (\d+)/g)].map((m) => ({ ip: m[1]!, proto: m[2]!, port: m[3]! }));
  // default/kubernetes is there too: the API server's own Service, whose endpoints nobody publishes here.
  assert.deepEqual(ports.map((p) => p.ip).sort(), ['10.96.0.1/32', '10.96.0.10/32', '10.96.0.20/32', '10.96.0.40/32', '10.96.0.50/32', '10.96.0.60/32']);
  for (const p of ports) {
    const ss = (await top.node.exec(['ss', '-Hn', p.proto === 'tcp' ? '-ltp' : '-lup', 'sport', '=', `:${p.port}`])).stdout;
    assert.match(ss, new RegExp(`0\\.0\\.0\\.0:${p.port} .*"node",pid=${proxy.pid ? '\\d+' : ''}`), `${p.ip} ${p.proto} → ${p.port}: ${ss}`);
  }
  // The node's own traffic is DNATed to the node's IP at the same port.
  for (const p of ports) assert.ok(save.includes(`-A KUBE-PORTALS-HOST -d ${p.ip} -p ${p.proto} `) && save.includes(`--to-destination ${NODE_IP}:${p.port}`), p.ip);
});

test('svclab proxy render --proxy-mode userspace predicts the live rules, up to the proxy port numbers', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'svclab-us-'));
  const state = join(dir, 'state.json');
  writeFileSync(state, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: await readState(cp) }));
  const r = await svclab(['proxy', 'render', '--proxy-mode', 'userspace', '--state', state, '--hostname-override', 'node-a'], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  const normalize = (lines: string[]) => lines.map((l) => l.replace(/--to-ports \d+/, '--to-ports P').replace(/(--to-destination [\d.]+):\d+/, '$1:P').replace(/(KUBE-NODEPORT-NON-LOCAL .*--dport) \d+/, '$1 P')).sort();
  const ours = (l: string) => /^(-A )?:?KUBE-(PORTALS|NODEPORT)-/.test(l.replace(/^:/, ''));
  const live = normalize(ruleLines(await nodeSave()).filter(ours));
  // default/kubernetes has no endpoints here: it is proxied (and rendered) all the same.
  assert.deepEqual(live, normalize(ruleLines(r.stdout).filter(ours)));
  assert.ok(live.some((l) => l.includes('"default/kubernetes:https"')));
});

test('removing an endpoint through the API is reflected at once, and the rules stay exactly as they were', { skip }, async () => {
  const rulesBefore = ruleLines(await nodeSave());
  await cp.kubectl(['apply', '-f', '-'], JSON.stringify(endpoints('web', PODS.slice(0, 2))));
  const changed = Date.now();
  await until('pod3 to leave the turn', async () => {
    const pods = podsOf(await top.tcp(top.podClient, '10.96.0.10', 80, 6));
    return pods.includes('pod3') ? undefined : pods;
  });
  assert.ok(Date.now() - changed < 5000, `took ${Date.now() - changed} ms`);
  assertRoundRobin(podsOf(await top.tcp(top.podClient, '10.96.0.10', 80, 10)), ['pod1', 'pod2'], 'web after the change');
  // The kernel's rules name the proxy's ports, never an endpoint.
  assert.deepEqual(ruleLines(await nodeSave()), rulesBefore);
  assert.ok(logs.some((l) => /endpoints of lab\/web:http: 10\.244\.1\.2:8080, 10\.244\.2\.2:8080$/.test(l)), logs.slice(-5).join('\n'));
});

test('a deleted service closes its proxy socket', { skip }, async () => {
  const save = await nodeSave();
  const port = /-A KUBE-PORTALS-CONTAINER -d 10\.96\.0\.40\/32 .*--to-ports (\d+)/.exec(save)![1]!;
  await cp.kubectl(['delete', 'service', 'sticky', '-n', 'lab']);
  await until('the sticky socket to close', async () => ((await top.node.exec(['ss', '-Hltn', 'sport', '=', `:${port}`])).stdout.trim() === '' ? true : undefined));
  await until('its portal rules to go', async () => (!(await nodeSave()).includes('10.96.0.40/32') ? true : undefined));
  assert.ok(logs.some((l) => l.includes(`stopped proxying lab/sticky:http (10.96.0.40:80/TCP); port ${port} closed`)), logs.slice(-5).join('\n'));
});

test('cleanup removes every rule and chain of the mode and nothing else', { skip }, async () => {
  proxy.kill('SIGTERM');
  await new Promise((r) => (proxy.exitCode !== null || proxy.signalCode !== null ? r(null) : proxy.once('exit', r)));
  // Like upstream, a stopped userspace proxy leaves its rules (pointing at closed ports).
  assert.match(await nodeSave(), /:KUBE-PORTALS-CONTAINER/);
  const removed = await userspaceMode.cleanup(prefixedExec(top.node.prefix));
  for (const chain of ['KUBE-PORTALS-CONTAINER', 'KUBE-PORTALS-HOST', 'KUBE-NODEPORT-CONTAINER', 'KUBE-NODEPORT-HOST']) assert.ok(removed.includes(`nat: chain ${chain}`), removed.join('\n'));
  assert.ok(removed.includes('filter: chain KUBE-NODEPORT-NON-LOCAL'), removed.join('\n'));
  assert.equal(removed.filter((l) => / -j KUBE-/.test(l)).length, 5, removed.join('\n'));
  const after = await nodeSave();
  assert.doesNotMatch(after, /KUBE-PORTALS|KUBE-NODEPORT-/);
  // kubelet's rules are still there.
  for (const kept of [':KUBE-IPTABLES-HINT', ':KUBE-FIREWALL', '-A INPUT -j KUBE-FIREWALL', '-A OUTPUT -j KUBE-FIREWALL']) assert.ok(after.includes(kept), kept);
  assert.deepEqual(await userspaceMode.cleanup(prefixedExec(top.node.prefix)), [], 'nothing left the second time');
});

// The nftables tracer agrees with real packets. `svclab proxy render --proxy-mode nftables`
// for a small cluster is loaded with `nft -f` into a node network namespace wired to pod
// namespaces running servers (topology.ts); for each flow the tracer reads the node's live
// table the way `svclab proxy trace --node` does (auto mode finds `nft list table ip
// kube-proxy`), then real connections are made: every endpoint reached must be one the
// tracer predicted, with about the predicted share, every predicted endpoint must be
// reached, a predicted REJECT must be refused and a DROP must time out, and the masquerade
// decision of the path to each endpoint must match the client address that endpoint saw.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { summarize } from '../../../runner/core/proxy/trace.ts';
import type { Service } from '../../../runner/core/proxy/types.ts';
import { prefixedExec } from '../../../runner/proxy/exec.ts';
import { execRulesSource, traceFromSource, type AnyTraceResult } from '../../../runner/proxy/trace-source.ts';
import { canUseNetns, NetnsLab, type Netns } from '../../support/netns.ts';
import { nftUnavailable } from '../../support/nft.ts';
import { buildTopology, CLIENT_IP, CLUSTER_CIDR, endpoints, fitsShare, NODE_IP, PODS, POD_CLIENT_IP, svc, tally, type Topology } from './topology.ts';

const root = new URL('../../..', import.meta.url).pathname;
const skip = !(await canUseNetns()) ? 'needs root and ip netns' : await nftUnavailable();
if (skip) console.log(`# skipping the nftables tracer's real-packet test: ${skip}`);

const LB_IP = '203.0.113.10';

const services: Service[] = [
  svc('web', '10.96.0.10'),
  svc('np', '10.96.0.20', (s) => {
    s.spec!.type = 'NodePort';
    s.spec!.ports![0]!.nodePort = 30080;
  }),
  svc('np-local', '10.96.0.30', (s) => {
    s.spec!.type = 'NodePort';
    s.spec!.externalTrafficPolicy = 'Local';
    s.spec!.ports![0]!.nodePort = 30090;
  }),
  svc('sticky', '10.96.0.40', (s) => {
    s.spec!.sessionAffinity = 'ClientIP';
    s.spec!.sessionAffinityConfig = { clientIP: { timeoutSeconds: 60 } };
  }),
  svc('empty', '10.96.0.50'),
  svc('dns', '10.96.0.60', (s) => {
    s.spec!.ports = [{ name: 'dns', port: 53, protocol: 'UDP' }];
  }),
  svc('lb', '10.96.0.70', (s) => {
    s.spec!.type = 'LoadBalancer';
    s.spec!.ports![0]!.nodePort = 30070;
    s.spec!.loadBalancerSourceRanges = ['192.168.8.0/24'];
    (s as { status?: unknown }).status = { loadBalancer: { ingress: [{ ip: LB_IP }] } };
  }),
];
const slices = [
  endpoints('web', PODS),
  endpoints('np', PODS),
  endpoints('np-local', PODS),
  endpoints('sticky', PODS),
  endpoints('dns', PODS.slice(0, 2), { port: 5353, portName: 'dns', protocol: 'UDP' }),
  endpoints('lb', PODS.slice(1)),
];
const objects = [
  ...services,
  ...slices,
  { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a' }, status: { addresses: [{ type: 'InternalIP', address: NODE_IP }] } },
  { apiVersion: 'networking.k8s.io/v1', kind: 'ServiceCIDR', metadata: { name: 'kubernetes' }, spec: { cidrs: ['10.96.0.0/16'] } },
];

let lab: NetnsLab;
let top: Topology;
const tmp = mkdtempSync(join(tmpdir(), 'svclab-nfttrace-'));

before(async () => {
  if (skip) return;
  const state = join(tmp, 'state.json');
  writeFileSync(state, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
  const r = spawnSync(process.execPath, [join(root, 'bin/svclab.js'), 'proxy', 'render', '--proxy-mode', 'nftables', '--state', state, '--hostname-override=node-a', `--cluster-cidr=${CLUSTER_CIDR}`, `--node-ip=${NODE_IP}`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^add table ip kube-proxy/);
  lab = new NetnsLab('kpt');
  top = await buildTopology(lab);
  await top.node.exec(['nft', '-f', '-'], { input: r.stdout });
});

after(async () => {
  await lab?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

const podOf = (dnat: string | null) => PODS.find((p) => dnat?.startsWith(`${p.ip}:`))?.name ?? `not a pod: ${dnat}`;

async function traceLive(src: string, dst: string, port: number, proto: 'tcp' | 'udp' = 'tcp'): Promise<AnyTraceResult> {
  const r = await traceFromSource(execRulesSource(prefixedExec(top.node.prefix), 'the test node'), { src, dst: `${dst}:${port}`, proto });
  assert.equal(r.mode, 'nftables', 'auto mode finds the node\'s nftables table');
  return r;
}

interface Flow {
  name: string;
  from: () => Netns;
  src: string;
  dst: string;
  port: number;
}

/** Real connections against the prediction: endpoints, shares, refusals and the client address each endpoint saw. */
async function checkFlow(f: Flow, n = 90): Promise<void> {
  const predicted = summarize(await traceLive(f.src, f.dst, f.port));
  const verdicts = new Set(predicted.map((o) => o.verdict));
  const what = (seen: unknown) => `${f.name} (${f.src} -> ${f.dst}:${f.port}): predicted ${JSON.stringify(predicted)}, saw ${JSON.stringify(seen, (_k, v: unknown) => (v instanceof Set ? [...v] : v))}`;
  if (!verdicts.has('ACCEPT')) {
    assert.equal(verdicts.size, 1, what('-'));
    // A refusal is immediate; ICMP errors are rate-limited, so a few tries are enough. A drop times out.
    const answers = await top.tcp(f.from(), f.dst, f.port, 3);
    assert.deepEqual(answers, Array(3).fill(verdicts.has('REJECT') ? 'ERR ECONNREFUSED' : 'ERR timeout'), what(answers));
    return;
  }
  assert.ok(predicted.every((o) => o.verdict === 'ACCEPT' && o.dnat !== null), what('-'));
  const answers = await top.tcp(f.from(), f.dst, f.port, n);
  const t = tally(answers);
  assert.deepEqual(t.errors, [], what(t));
  for (const a of answers) {
    const [pod, peer] = a.split(' ');
    const path = predicted.find((o) => podOf(o.dnat) === pod);
    assert.ok(path, `${pod} was reached but not predicted: ${what(t)}`);
    assert.equal(path.masquerade, peer !== f.src, `${pod} saw the client as ${peer}: ${what(t)}`);
  }
  for (const o of predicted) {
    const hits = t.byPod[podOf(o.dnat)] ?? 0;
    assert.ok(fitsShare(hits, n, o.probability), `${hits} of ${n} to ${podOf(o.dnat)}, predicted ${o.probability}: ${what(t)}`);
  }
}

test('ClusterIP: a pod\'s, an outside client\'s and the node\'s own connections spread as the numgen branches say, masqueraded as predicted', { skip: skip ?? false, timeout: 120_000 }, async () => {
  const r = await traceLive(POD_CLIENT_IP, '10.96.0.10', 80);
  assert.deepEqual(r.outcomes.map((o) => o.probability.toFixed(4)), ['0.3333', '0.3333', '0.3333']);
  await checkFlow({ name: 'pod → ClusterIP', from: () => top.podClient, src: POD_CLIENT_IP, dst: '10.96.0.10', port: 80 });
  await checkFlow({ name: 'outside client → ClusterIP', from: () => top.client, src: CLIENT_IP, dst: '10.96.0.10', port: 80 });
  await checkFlow({ name: 'the node itself → ClusterIP', from: () => top.node, src: NODE_IP, dst: '10.96.0.10', port: 80 });
  // Hairpin: only the path that lands on the client pod itself is masqueraded.
  const hairpin = summarize(await traceLive(PODS[0]!.ip, '10.96.0.10', 80));
  assert.deepEqual(hairpin.map((o) => [podOf(o.dnat), o.masquerade]).sort(), [['pod1', true], ['pod2', false], ['pod3', false]]);
  await checkFlow({ name: 'pod1 → its own service (hairpin)', from: () => top.pods[0]!, src: PODS[0]!.ip, dst: '10.96.0.10', port: 80 });
});

test('NodePort with externalTrafficPolicy Cluster and Local, and a LoadBalancer IP with source ranges', { skip: skip ?? false, timeout: 120_000 }, async () => {
  await checkFlow({ name: 'NodePort, eTP Cluster', from: () => top.client, src: CLIENT_IP, dst: NODE_IP, port: 30080 });
  const local = summarize(await traceLive(CLIENT_IP, NODE_IP, 30090));
  assert.deepEqual(local.map((o) => [podOf(o.dnat), o.probability, o.masquerade]), [['pod1', 1, false]]);
  await checkFlow({ name: 'NodePort, eTP Local', from: () => top.client, src: CLIENT_IP, dst: NODE_IP, port: 30090 }, 20);
  await checkFlow({ name: 'LB IP from an allowed range', from: () => top.client, src: CLIENT_IP, dst: LB_IP, port: 80 });
  const outside = summarize(await traceLive(POD_CLIENT_IP, LB_IP, 80));
  assert.deepEqual(outside.map((o) => o.verdict), ['DROP']);
  await checkFlow({ name: 'LB IP from outside the ranges', from: () => top.podClient, src: POD_CLIENT_IP, dst: LB_IP, port: 80 });
});

test('no endpoints and a port the ClusterIP does not serve: predicted REJECT, refused for real', { skip: skip ?? false, timeout: 60_000 }, async () => {
  assert.deepEqual(summarize(await traceLive(POD_CLIENT_IP, '10.96.0.50', 80)).map((o) => o.verdict), ['REJECT']);
  await checkFlow({ name: 'service without endpoints', from: () => top.podClient, src: POD_CLIENT_IP, dst: '10.96.0.50', port: 80 });
  await checkFlow({ name: 'wrong port of a ClusterIP', from: () => top.podClient, src: POD_CLIENT_IP, dst: '10.96.0.10', port: 81 });
});

test('UDP: each new flow goes to a predicted endpoint, unmasqueraded from a pod', { skip: skip ?? false, timeout: 60_000 }, async () => {
  const predicted = summarize(await traceLive(POD_CLIENT_IP, '10.96.0.60', 53, 'udp'));
  assert.deepEqual(predicted.map((o) => [o.dnat, o.probability, o.masquerade]), [['10.244.1.2:5353', 0.5, false], ['10.244.2.2:5353', 0.5, false]]);
  const seen = new Set<string>();
  for (let i = 0; i < 16; i++) {
    const [answer] = await top.udp(top.podClient, '10.96.0.60', 53, 1, 41000 + i);
    const [pod, peer] = answer!.split(' ');
    assert.ok(predicted.some((o) => podOf(o.dnat) === pod), `${answer}: ${JSON.stringify(predicted)}`);
    assert.equal(peer, POD_CLIENT_IP);
    seen.add(pod!);
  }
  assert.equal(seen.size, 2, [...seen].join(','));
});

test('session affinity: a new client may go anywhere; once the kernel has put it in an affinity set, the tracer reads that set and predicts the one endpoint it sticks to', { skip: skip ?? false, timeout: 60_000 }, async () => {
  const fresh = summarize(await traceLive(POD_CLIENT_IP, '10.96.0.40', 80));
  assert.equal(fresh.length, 3);
  const t = tally(await top.tcp(top.podClient, '10.96.0.40', 80, 20));
  assert.deepEqual(t.errors, []);
  const pods = Object.keys(t.byPod);
  assert.equal(pods.length, 1, JSON.stringify(t.byPod));
  assert.ok(fresh.some((o) => podOf(o.dnat) === pods[0]));
  const back = await traceLive(POD_CLIENT_IP, '10.96.0.40', 80);
  assert.deepEqual(summarize(back).map((o) => [podOf(o.dnat), o.probability]), [[pods[0], 1]]);
  assert.ok(back.outcomes[0]!.steps.some((s) => /^ip saddr @affinity-\S+ goto endpoint-/.test(s.raw) && s.action.startsWith('goto endpoint-')), JSON.stringify(back.outcomes[0]!.steps.map((s) => s.raw)));
  // Another client is still new.
  assert.equal(summarize(await traceLive('10.244.9.99', '10.96.0.40', 80)).length, 3);
});

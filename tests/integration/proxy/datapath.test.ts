// Real packets through rules that svclab's sync loop wrote with the real iptables, in
// network namespaces (see topology.ts). The proxier is driven through its event handlers.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { EndpointSlice, Service } from '../../../runner/core/proxy/types.ts';
import { prefixedExec } from '../../../runner/proxy/exec.ts';
import { newIptables } from '../../../runner/proxy/iptables.ts';
import { newNfacct } from '../../../runner/proxy/nfacct.ts';
import { execRulesSource } from '../../../runner/proxy/trace-source.ts';
import { traceFromSource } from '../../../runner/proxy/trace-source.ts';
import { summarize } from '../../../runner/core/proxy/trace.ts';
import { Proxier } from '../../../runner/proxy/proxier.ts';
import { DEFAULT_SETTINGS } from '../../../runner/core/proxy/options.ts';
import { canUseNetns, NetnsLab } from '../../support/netns.ts';
import { buildTopology, CLIENT_IP, CLUSTER_CIDR, endpoints, fitsShare, NODE_IP, PODS, POD_CLIENT_IP, svc, tally, type Topology } from './topology.ts';

const MIN_SYNC_MS = 1000;
const SYNC_PERIOD_MS = 2000;
const skip = (await canUseNetns()) ? false : 'needs root and ip netns';

let lab: NetnsLab;
let top: Topology;
let proxier: Proxier;
let syncs = 0;
const logs: string[] = [];
/** logs.length when each successful sync finished: which log lines came before it. */
const syncMarks: number[] = [];

/** Resolves once a log line after index `from` contains `text` and a successful sync has finished after it. */
function syncAfterLog(from: number, text: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + timeoutMs;
    const poll = () => {
      const at = logs.findIndex((l, i) => i >= from && l.includes(text));
      if (at >= 0 && syncMarks.some((m) => m > at)) resolve();
      else if (Date.now() > deadline) reject(new Error(`no "${text}" followed by a sync within ${timeoutMs} ms; log: ${logs.slice(-5).join(' | ')}`));
      else setTimeout(poll, 20);
    };
    poll();
  });
}

/** Resolves after the next successful sync that starts after this call. */
function nextSync(timeoutMs = 10_000): Promise<void> {
  const start = syncs;
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + timeoutMs;
    const poll = () => {
      if (syncs > start) resolve();
      else if (Date.now() > deadline) reject(new Error(`no sync within ${timeoutMs} ms; log: ${logs.slice(-5).join(' | ')}`));
      else setTimeout(poll, 20);
    };
    poll();
  });
}

const services: Service[] = [
  svc('web', '10.96.0.10'),
  svc('np', '10.96.0.20', (s) => { s.spec!.type = 'NodePort'; s.spec!.ports![0]!.nodePort = 30080; }),
  svc('np-local', '10.96.0.30', (s) => { s.spec!.type = 'NodePort'; s.spec!.externalTrafficPolicy = 'Local'; s.spec!.ports![0]!.nodePort = 30090; }),
  svc('sticky', '10.96.0.40', (s) => { s.spec!.sessionAffinity = 'ClientIP'; s.spec!.sessionAffinityConfig = { clientIP: { timeoutSeconds: 60 } }; }),
  svc('empty', '10.96.0.50'),
  svc('dns', '10.96.0.60', (s) => { s.spec!.ports = [{ name: 'dns', port: 53, protocol: 'UDP' }]; }),
];
const slices: EndpointSlice[] = [
  endpoints('web', PODS),
  endpoints('np', PODS),
  endpoints('np-local', PODS),
  endpoints('sticky', PODS),
  endpoints('dns', PODS.slice(0, 2), { port: 5353, portName: 'dns', protocol: 'UDP' }),
];

before(async () => {
  if (skip) return;
  lab = new NetnsLab('kpd');
  top = await buildTopology(lab);
  const exec = prefixedExec(top.node.prefix);
  proxier = new Proxier({
    settings: { ...DEFAULT_SETTINGS, nodeName: 'node-a', clusterCIDRs: [CLUSTER_CIDR], localAddresses: [NODE_IP] },
    node: { metadata: { name: 'node-a' }, status: { addresses: [{ type: 'InternalIP', address: NODE_IP }] } },
    iptables: newIptables(exec, 'nft'),
    exec,
    nfacct: newNfacct(exec),
    syncPeriodMs: SYNC_PERIOD_MS,
    minSyncPeriodMs: MIN_SYNC_MS,
    log: (l) => logs.push(l),
    onSynced: ({ ok }) => {
      if (!ok) return;
      syncs++;
      syncMarks.push(logs.length);
    },
  });
  for (const s of services) proxier.onServiceUpdate(null, s);
  for (const s of slices) proxier.onEndpointSliceUpdate(s, false);
  proxier.start();
  await proxier.onServicesSynced();
  await proxier.onEndpointSlicesSynced();
  assert.equal(syncs, 1, logs.join('\n'));
});

after(async () => {
  proxier?.stop();
  await lab?.dispose();
});

test('ClusterIP traffic from a pod reaches every endpoint with an even spread, unmasqueraded', { skip }, async () => {
  const t = tally(await top.tcp(top.podClient, '10.96.0.10', 80, 300));
  assert.deepEqual(t.errors, []);
  // Binomial(300, 1/3): mean 100, sd 8.2; 60-140 is about ±5 sd.
  for (const p of PODS) assert.ok((t.byPod[p.name] ?? 0) >= 60 && (t.byPod[p.name] ?? 0) <= 140, JSON.stringify(t.byPod));
  assert.deepEqual([...t.peers], [POD_CLIENT_IP]);
});

test('ClusterIP traffic from outside the cluster CIDR is masqueraded', { skip }, async () => {
  const t = tally(await top.tcp(top.client, '10.96.0.10', 80, 30));
  assert.deepEqual(t.errors, []);
  assert.ok(!t.peers.has(CLIENT_IP), [...t.peers].join(','));
  // The source becomes the node's address on the link towards each pod.
  for (const peer of t.peers) assert.ok(PODS.some((p) => p.gw === peer), peer);
});

test('NodePort (externalTrafficPolicy Cluster) reaches all endpoints, masqueraded', { skip }, async () => {
  const t = tally(await top.tcp(top.client, NODE_IP, 30080, 60));
  assert.deepEqual(t.errors, []);
  assert.equal(Object.keys(t.byPod).length, 3);
  assert.ok(!t.peers.has(CLIENT_IP));
});

test('NodePort with externalTrafficPolicy Local keeps the client IP and uses local endpoints only', { skip }, async () => {
  const t = tally(await top.tcp(top.client, NODE_IP, 30090, 30));
  assert.deepEqual(t.errors, []);
  assert.deepEqual(t.byPod, { pod1: 30 });
  assert.deepEqual([...t.peers], [CLIENT_IP]);
});

test('ClientIP session affinity sticks to one endpoint', { skip }, async () => {
  const t = tally(await top.tcp(top.podClient, '10.96.0.40', 80, 25));
  assert.deepEqual(t.errors, []);
  assert.equal(Object.keys(t.byPod).length, 1, JSON.stringify(t.byPod));
});

test('a service without endpoints is rejected at once', { skip }, async () => {
  const started = Date.now();
  const answers = await top.tcp(top.podClient, '10.96.0.50', 80, 3);
  assert.deepEqual(answers, ['ERR ECONNREFUSED', 'ERR ECONNREFUSED', 'ERR ECONNREFUSED']);
  assert.ok(Date.now() - started < 1500, 'REJECT answers immediately; a DROP would time out');
});

test('the tracer, reading the node\'s live rules, predicts where real packets go', { skip }, async () => {
  const source = execRulesSource(prefixedExec(top.node.prefix), 'the test node');
  const podOf = (dnat: string | null) => PODS.find((p) => dnat?.startsWith(`${p.ip}:`))?.name ?? dnat;
  const flows = [
    { from: top.podClient, src: POD_CLIENT_IP, dst: '10.96.0.10', port: 80 },
    { from: top.client, src: CLIENT_IP, dst: '10.96.0.10', port: 80 },
    { from: top.client, src: CLIENT_IP, dst: NODE_IP, port: 30080 },
    { from: top.client, src: CLIENT_IP, dst: NODE_IP, port: 30090 },
    { from: top.podClient, src: POD_CLIENT_IP, dst: '10.96.0.50', port: 80 },
    { from: top.podClient, src: POD_CLIENT_IP, dst: '10.96.0.40', port: 80 },
  ];
  for (const f of flows) {
    const predicted = summarize(await traceFromSource(source, { src: f.src, dst: `${f.dst}:${f.port}`, proto: 'tcp' }));
    // ICMP errors are rate-limited by the kernel: a few rejected connections are enough.
    const rejected = predicted.every((o) => o.verdict === 'REJECT');
    const n = rejected ? 3 : 90;
    const answers = await top.tcp(f.from, f.dst, f.port, n);
    const t = tally(answers);
    const what = `${f.src} -> ${f.dst}:${f.port}: predicted ${JSON.stringify(predicted)}, saw ${JSON.stringify({ ...t, peers: [...t.peers] })}`;
    if (rejected) {
      assert.ok(answers.every((a) => a === 'ERR ECONNREFUSED'), what);
      continue;
    }
    assert.ok(predicted.every((o) => o.verdict === 'ACCEPT'), what);
    assert.deepEqual(t.errors, [], what);
    const expectedPods = predicted.map((o) => podOf(o.dnat)).sort();
    if (f.dst === '10.96.0.40') {
      // Affinity: the first connection is balanced over all of them, then it sticks to one.
      assert.equal(Object.keys(t.byPod).length, 1, what);
      assert.ok(expectedPods.includes(Object.keys(t.byPod)[0]!), what);
    } else {
      assert.deepEqual(Object.keys(t.byPod).sort(), expectedPods, what);
      for (const o of predicted) {
        assert.ok(fitsShare(t.byPod[podOf(o.dnat)!] ?? 0, n, o.probability), what);
      }
    }
    const masqueraded = !t.peers.has(f.src);
    assert.ok(predicted.every((o) => o.masquerade === masqueraded), what);
  }
});

test('removing an endpoint is reflected within minSyncPeriod', { skip }, async () => {
  const before = tally(await top.tcp(top.podClient, '10.96.0.10', 80, 60));
  assert.ok((before.byPod.pod3 ?? 0) > 0);
  await new Promise((r) => setTimeout(r, MIN_SYNC_MS)); // let the rate limiter open
  const changed = Date.now();
  const synced = nextSync();
  proxier.onEndpointSliceUpdate(endpoints('web', PODS.slice(0, 2)), false);
  await synced;
  const elapsed = Date.now() - changed;
  assert.ok(elapsed <= MIN_SYNC_MS + 500, `took ${elapsed} ms`);
  const t = tally(await top.tcp(top.podClient, '10.96.0.10', 80, 60));
  assert.deepEqual(t.errors, []);
  assert.equal(t.byPod.pod3, undefined, JSON.stringify(t.byPod));
  assert.ok((t.byPod.pod1 ?? 0) > 0 && (t.byPod.pod2 ?? 0) > 0);
});

test('removing a UDP endpoint clears its conntrack entries, so the flow moves on', { skip }, async () => {
  // One source port: every datagram belongs to the same conntrack entry.
  const first = await top.udp(top.podClient, '10.96.0.60', 53, 3, 40000);
  const pod = first[0]!.split(' ')[0]!;
  assert.deepEqual(first.map((a) => a.split(' ')[0]), [pod, pod, pod]);
  const left = PODS.slice(0, 2).filter((p) => p.name !== pod);
  const synced = nextSync();
  proxier.onEndpointSliceUpdate(endpoints('dns', left, { port: 5353, portName: 'dns', protocol: 'UDP' }), false);
  await synced;
  const entries = await top.node.exec(['conntrack', '-L', '-p', 'udp', '--orig-port-src', '40000'], { allowFail: true });
  assert.ok(!entries.stdout.includes(`src=${PODS.find((p) => p.name === pod)!.ip}`), entries.stdout);
  const next = await top.udp(top.podClient, '10.96.0.60', 53, 2, 40000);
  assert.deepEqual(next.map((a) => a.split(' ')[0]), [left[0]!.name, left[0]!.name]);
});

test('flushed rules are detected through the canary and repaired', { skip }, async () => {
  // Watched from before the flush: on a loaded machine the canary can notice and the resync
  // finish while the probe below is still starting its client process. The resync after
  // detection is a full one; on a loaded 2-core machine it has taken over 10 s.
  const flushed = Date.now();
  const repaired = syncAfterLog(logs.length, 'canary deleted', SYNC_PERIOD_MS * 3 + 20_000).then(() => undefined, (err: unknown) => err);
  for (const table of ['nat', 'filter', 'mangle']) {
    await top.node.exec(['iptables-nft', '-t', table, '-F']);
    await top.node.exec(['iptables-nft', '-t', table, '-X']);
  }
  const broken = await top.tcp(top.podClient, '10.96.0.50', 80, 1);
  if (broken[0] === 'ERR ECONNREFUSED') {
    // The canary may already have noticed and its resync put the rules back before the probe.
    const filter = (await top.node.exec(['iptables-nft-save', '-t', 'filter'])).stdout;
    assert.match(filter, /has no endpoints" .*-j REJECT/, 'refused after the flush only if the proxy already wrote its REJECT rule again');
  }
  const failed = await repaired;
  if (failed) throw failed;
  assert.ok(Date.now() - flushed < SYNC_PERIOD_MS * 2 + 20_000, 'detected within a canary period and repaired');
  const t = tally(await top.tcp(top.podClient, '10.96.0.10', 80, 20));
  assert.deepEqual(t.errors, []);
  assert.deepEqual(await top.tcp(top.podClient, '10.96.0.50', 80, 1), ['ERR ECONNREFUSED']);
  // The jump rules from the built-in chains are back too.
  const nat = (await top.node.exec(['iptables-nft-save', '-t', 'nat'])).stdout;
  assert.match(nat, /-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES/);
});

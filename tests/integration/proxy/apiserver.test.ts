// svclab's proxy as it really runs (runProxy: informers, sync loop, health and metrics
// servers) against a real kube-apiserver, programming a network namespace node.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, test } from 'node:test';
import { DEFAULT_SETTINGS } from '../../../runner/core/proxy/options.ts';
import { loadKubeConfig } from '../../../runner/kube/client.ts';
import { prefixedExec } from '../../../runner/proxy/exec.ts';
import { runProxy, type RunningProxy } from '../../../runner/proxy/run.ts';
import { canUseNetns, NetnsLab } from '../../support/netns.ts';
import { controlPlaneUnavailable, startControlPlane, type ControlPlane } from '../../support/control-plane.ts';
import { buildTopology, CLUSTER_CIDR, endpoints, NODE_IP, PODS, POD_CLIENT_IP, svc, tally, type Topology } from './topology.ts';
import { loadState } from './upstream.ts';
import type { KubeObject } from '../../../runner/kube/state-file.ts';

const missing = controlPlaneUnavailable();
const skip = missing ? `needs the Kubernetes binaries: ${missing}` : (await canUseNetns()) ? false : 'needs root and ip netns';
if (skip) console.log(`# skipping: ${skip}`);

let cp: ControlPlane;
let lab: NetnsLab;
let top: Topology;
let proxy: RunningProxy;
let healthPort = 0;
let metricsPort = 0;
const logs: string[] = [];

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; proxy log: ${logs.slice(-5).join(' | ')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

before(async () => {
  if (skip) return;
  cp = await startControlPlane();
  lab = new NetnsLab('kpa');
  top = await buildTopology(lab);
  const node = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a' }, status: { addresses: [{ type: 'InternalIP', address: NODE_IP }] } };
  await loadState(cp, [
    node,
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'lab' } },
    svc('web', '10.96.0.10'),
    endpoints('web', PODS),
  ] as unknown as KubeObject[]);
  [healthPort, metricsPort] = [await freePort(), await freePort()];
  proxy = await runProxy({
    kubeconfig: loadKubeConfig(cp.kubeconfig),
    settings: { ...DEFAULT_SETTINGS, nodeName: 'node-a', clusterCIDRs: [CLUSTER_CIDR], localAddresses: [NODE_IP] },
    syncPeriodMs: 2000,
    minSyncPeriodMs: 500,
    healthzBindAddress: `127.0.0.1:${healthPort}`,
    metricsBindAddress: `127.0.0.1:${metricsPort}`,
    exec: prefixedExec(top.node.prefix),
    backend: 'nft',
    nodeWaitMs: 10_000,
    log: (l) => logs.push(l),
  });
});

after(async () => {
  await proxy?.stop();
  await lab?.dispose();
  await cp?.stop();
});

test('the API server\'s Services and EndpointSlices become working rules', { skip }, async () => {
  const answers = await until('the web service to answer', async () => {
    const a = await top.tcp(top.podClient, '10.96.0.10', 80, 30);
    return tally(a).errors.length === 0 ? a : undefined;
  });
  assert.equal(Object.keys(tally(answers).byPod).length, 3);
  assert.deepEqual([...tally(answers).peers], [POD_CLIENT_IP]);
});

test('changes made through the API reach the data path', { skip }, async () => {
  await cp.kubectl(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [svc('late', '10.96.0.70'), endpoints('late', PODS.slice(1, 2))] }));
  const t = await until('the new service', async () => {
    const r = tally(await top.tcp(top.podClient, '10.96.0.70', 80, 10));
    return r.errors.length === 0 ? r : undefined;
  });
  assert.deepEqual(t.byPod, { pod2: 10 });
  await cp.kubectl(['delete', 'endpointslice', 'late-1', '-n', 'lab']);
  await until('the emptied service to be rejected', async () => {
    const a = await top.tcp(top.podClient, '10.96.0.70', 80, 1);
    return a[0] === 'ERR ECONNREFUSED' ? a : undefined;
  });
});

test('/healthz and /livez report a healthy proxy on its node; /metrics uses upstream names', { skip }, async () => {
  const h = await fetch(`http://127.0.0.1:${healthPort}/healthz`);
  assert.equal(h.status, 200);
  const body = (await h.json()) as { healthy: boolean; nodeEligible: boolean; status: Record<string, { healthy: boolean }> };
  assert.equal(body.healthy, true);
  assert.equal(body.nodeEligible, true);
  assert.equal(body.status.IPv4?.healthy, true);
  assert.equal((await fetch(`http://127.0.0.1:${healthPort}/livez`)).status, 200);
  const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const nat = /^kubeproxy_sync_proxy_rules_iptables_total\{table="nat",ip_family="IPv4"\} (\d+)$/m.exec(metrics);
  assert.ok(nat && Number(nat[1]) > 10, metrics.slice(0, 500));
  for (const name of ['kubeproxy_sync_proxy_rules_duration_seconds_bucket', 'kubeproxy_sync_full_proxy_rules_duration_seconds_count', 'kubeproxy_sync_proxy_rules_last_timestamp_seconds', 'kubeproxy_sync_proxy_rules_endpoint_changes_total', 'kubeproxy_sync_proxy_rules_service_changes_total', 'kubeproxy_proxy_healthz_total{code="200"}']) {
    assert.ok(metrics.includes(name), `missing ${name}`);
  }
  // The node goes away: not eligible any more (load balancers should stop sending here).
  await cp.kubectl(['delete', 'node', 'node-a']);
  await until('healthz to turn 503', async () => ((await fetch(`http://127.0.0.1:${healthPort}/healthz`)).status === 503 ? true : undefined));
  assert.equal((await fetch(`http://127.0.0.1:${healthPort}/livez`)).status, 200, 'livez does not care about the node');
});

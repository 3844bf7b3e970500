// Health check node ports: what they count (core/proxy/service-health.ts), how the server
// answers and follows the Services it is given (proxy/service-health.ts, on 127.0.0.1), and
// how the sync loop drives it. The real thing in a network namespace, next to upstream's,
// is tests/integration/proxy/service-health.test.ts.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { healthCheckNodePorts, localReadyEndpoints, serviceHealthBody } from '../../../runner/core/proxy/service-health.ts';
import { ProxyState } from '../../../runner/core/proxy/tracker.ts';
import type { Service } from '../../../runner/core/proxy/types.ts';
import type { Iptables } from '../../../runner/proxy/iptables.ts';
import { Proxier } from '../../../runner/proxy/proxier.ts';
import { ServiceHealthServer } from '../../../runner/proxy/service-health.ts';
import { noWarn, service, settings, slice } from './fixtures.ts';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function get(port: number): Promise<{ status: number; headers: Headers; body: string } | 'refused'> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/any/path`);
    return { status: r.status, headers: r.headers, body: await r.text() };
  } catch {
    return 'refused';
  }
}

const local = (hcnp: number) => (s: Service) => {
  s.spec!.type = 'LoadBalancer';
  s.spec!.externalTrafficPolicy = 'Local';
  s.spec!.healthCheckNodePort = hcnp;
  s.spec!.ports![0]!.nodePort = 30080;
};

test('the body is upstream\'s dedented template, byte for byte', () => {
  assert.equal(
    serviceHealthBody('lab/web', 2, true),
    '{\n\t"service": {\n\t\t"namespace": "lab",\n\t\t"name": "web"\n\t},\n\t"localEndpoints": 2,\n\t"serviceProxyHealthy": true\n}',
  );
  assert.deepEqual(JSON.parse(serviceHealthBody('kube-system/dns', 0, false)), { service: { namespace: 'kube-system', name: 'dns' }, localEndpoints: 0, serviceProxyHealthy: false });
});

test('only Local LoadBalancer services have a health check port; local ready endpoints count once per IP', () => {
  const st = new ProxyState('IPv4', 'node-a', noWarn);
  st.onService(null, service('a', 'lb', '10.96.0.1', (s) => {
    local(31000)(s);
    s.spec!.ports = [{ name: 'http', port: 80, protocol: 'TCP', nodePort: 30080 }, { name: 'https', port: 443, protocol: 'TCP', nodePort: 30443 }];
  }));
  st.onService(null, service('a', 'cluster-lb', '10.96.0.2', (s) => { s.spec!.type = 'LoadBalancer'; s.spec!.healthCheckNodePort = 31001; }));
  st.onService(null, service('a', 'plain', '10.96.0.3'));
  st.onEndpointSlice(slice('a', 'lb', [['10.244.0.5', 'node-a'], ['10.244.0.6', 'node-a'], ['10.244.1.5', 'node-b']], 8080, 'lb-http'), false);
  st.onEndpointSlice(slice('a', 'lb', [['10.244.0.5', 'node-a']], 8443, 'lb-https', 'https'), false);
  st.onEndpointSlice(slice('a', 'lb', [{ addresses: ['10.244.0.7'], nodeName: 'node-a', conditions: { ready: false, serving: true, terminating: true } }], 8080, 'lb-old'), false);
  st.onEndpointSlice(slice('a', 'plain', [['10.244.0.8', 'node-a']]), false);
  st.update();
  assert.deepEqual(healthCheckNodePorts(st.servicePorts()), new Map([['a/lb', 31000]]));
  // 10.244.0.5 serves both ports: one endpoint; the terminating one does not count.
  assert.deepEqual(localReadyEndpoints(st.allEndpoints()), new Map([['a/lb', 2], ['a/plain', 1]]));
});

test('the server answers 200 with local endpoints, 503 without them or when the proxy is unhealthy, with upstream\'s headers', async (t) => {
  let healthy = true;
  const logs: string[] = [];
  const hs = new ServiceHealthServer({ nodeName: 'node-a', nodeIPs: ['127.0.0.1'], proxyHealthy: () => healthy, log: (l) => logs.push(l) });
  t.after(() => hs.close());
  const port = await freePort();
  await hs.syncServices(new Map([['lab/web', port]]));
  hs.syncEndpoints(new Map([['lab/web', 3], ['lab/other', 1]]));
  const ok = await get(port);
  assert.ok(ok !== 'refused');
  assert.equal(ok.status, 200);
  assert.equal(ok.headers.get('content-type'), 'application/json');
  assert.equal(ok.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(ok.headers.get('x-load-balancing-endpoint-weight'), '3');
  assert.equal(ok.body, serviceHealthBody('lab/web', 3, true));

  healthy = false;
  const sick = await get(port);
  assert.ok(sick !== 'refused' && sick.status === 503 && JSON.parse(sick.body).serviceProxyHealthy === false);
  healthy = true;
  hs.syncEndpoints(new Map());
  const none = await get(port);
  assert.ok(none !== 'refused');
  assert.equal(none.status, 503);
  assert.equal(none.headers.get('x-load-balancing-endpoint-weight'), '0');
  assert.equal(JSON.parse(none.body).localEndpoints, 0);
});

test('servers follow the services: a moved port closes the old one, a removed service closes its port', async (t) => {
  const hs = new ServiceHealthServer({ nodeName: 'node-a', nodeIPs: ['127.0.0.1'], proxyHealthy: () => true, log: () => {} });
  t.after(() => hs.close());
  const [p1, p2, p3] = [await freePort(), await freePort(), await freePort()];
  await hs.syncServices(new Map([['lab/a', p1], ['lab/b', p2]]));
  assert.notEqual(await get(p1), 'refused');
  await hs.syncServices(new Map([['lab/a', p3], ['lab/b', p2]]));
  assert.equal(await get(p1), 'refused');
  assert.notEqual(await get(p3), 'refused');
  await hs.syncServices(new Map([['lab/a', p3]]));
  assert.equal(await get(p2), 'refused');
  assert.deepEqual(hs.serving(), new Map([['lab/a', p3]]));
});

test('a port that cannot be opened is reported and tried again on the next sync', async (t) => {
  const failures: string[] = [];
  const hs = new ServiceHealthServer({ nodeName: 'node-a', nodeIPs: ['127.0.0.1'], proxyHealthy: () => true, log: () => {}, onListenFailure: (_s, _p, m) => failures.push(m) });
  t.after(() => hs.close());
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
  const port = (blocker.address() as { port: number }).port;
  await hs.syncServices(new Map([['lab/web', port]]));
  assert.equal(failures.length, 1);
  assert.match(failures[0]!, new RegExp(`^node node-a failed to start healthcheck "lab/web" on port ${port}: .*EADDRINUSE`));
  assert.deepEqual(hs.serving(), new Map());
  await new Promise((r) => blocker.close(r));
  await hs.syncServices(new Map([['lab/web', port]]));
  assert.deepEqual(hs.serving(), new Map([['lab/web', port]]));
});

test('the sync loop opens the port, keeps the count current, and closes it with the service', async (t) => {
  const hs = new ServiceHealthServer({ nodeName: 'node-a', nodeIPs: ['127.0.0.1'], proxyHealthy: () => true, log: () => {} });
  t.after(() => hs.close());
  const hcnp = await freePort();
  let refuse = false;
  const ipt: Iptables = {
    backend: 'nft',
    hasRandomFully: true,
    ensureChain: async () => true,
    chainExists: async () => true,
    deleteChain: async () => {},
    ensureRule: async () => true,
    deleteRule: async () => {},
    save: async () => '',
    restoreAll: async () => {
      if (refuse) throw new Error('refused');
    },
  };
  const p = new Proxier({ settings: settings(), node: null, iptables: ipt, exec: async () => ({ code: 0, stdout: '', stderr: '' }), nfacct: null, serviceHealth: hs, syncPeriodMs: 60_000, minSyncPeriodMs: 0, log: () => {} });
  const svc = service('lab', 'web', '10.96.0.1', local(hcnp));
  p.onServiceUpdate(null, svc);
  p.onEndpointSliceUpdate(slice('lab', 'web', [['10.244.0.5', 'node-a'], ['10.244.1.5', 'node-b']]), false);
  await p.onServicesSynced();
  await p.onEndpointSlicesSynced();
  const first = await get(hcnp);
  assert.ok(first !== 'refused' && first.status === 200 && JSON.parse(first.body).localEndpoints === 1);

  // A failed sync changes nothing: the count is the one of the rules in place.
  refuse = true;
  p.onEndpointSliceUpdate(slice('lab', 'web', [['10.244.1.5', 'node-b']]), false);
  assert.equal(await p.syncProxyRules(), false);
  const kept = await get(hcnp);
  assert.ok(kept !== 'refused' && kept.status === 200);
  refuse = false;
  assert.equal(await p.syncProxyRules(), true);
  const gone = await get(hcnp);
  assert.ok(gone !== 'refused' && gone.status === 503 && JSON.parse(gone.body).localEndpoints === 0);

  p.onServiceUpdate(svc, null);
  await p.syncProxyRules();
  assert.equal(await get(hcnp), 'refused');
});

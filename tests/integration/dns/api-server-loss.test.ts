// Losing the API server (issue 5, "Bad input and faults"): a real etcd + kube-apiserver on
// loopback, svclab's DNS server on informers through a TCP proxy this test controls.
// The server starts with the proxy cut: before its informers have synced, cluster names get
// SERVFAIL (CoreDNS's startup behaviour), not NXDOMAIN. Cutting the proxy later (open
// connections reset, new ones refused) keeps the names answered from the last known state,
// /ready turns non-200 within a bounded time while /health stays 200; restoring it brings
// /ready back and a Service created meanwhile appears.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startDns, type RunningDns } from '../../../runner/dns/run.ts';
import { loadKubeConfig } from '../../../runner/kube/client.ts';
import { controlPlaneUnavailable, startControlPlane, type ControlPlane } from '../../support/control-plane.ts';
import { dig } from '../../support/dig.ts';
import { ns, slice, svc } from '../../unit/dns/fixtures.ts';

const H = '127.0.0.1';
const http = [{ name: 'http', protocol: 'TCP', port: 80 }];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A TCP proxy to the API server that can be cut (connections reset, new ones refused) and restored. */
async function cuttableProxy(target: number) {
  const conns = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const open = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer((c) => {
        const up = connect(target, H);
        conns.add(c);
        conns.add(up);
        c.pipe(up).pipe(c);
        const drop = () => {
          c.destroy();
          up.destroy();
          conns.delete(c);
          conns.delete(up);
        };
        c.on('error', drop).on('close', drop);
        up.on('error', drop).on('close', drop);
      });
      s.once('error', reject);
      s.listen(port, H, () => {
        port = (s.address() as { port: number }).port;
        server = s;
        resolve();
      });
    });
  await open();
  return {
    get port() {
      return port;
    },
    async cut() {
      await new Promise<void>((r) => {
        server!.close(() => r());
        for (const c of conns) c.resetAndDestroy();
        conns.clear();
      });
    },
    restore: open,
    async close() {
      for (const c of conns) c.destroy();
      await new Promise<void>((r) => (server?.listening ? server.close(() => r()) : r()));
    },
  };
}

/** The headless service's slice, as the endpoints controller writes it after a change at `changedAt`. */
const hdlsSlice = (changedAt: Date) => {
  const o = slice('lossns', 'hdls', 'hdls-1', 'IPv4', http, [{ addresses: ['10.244.7.1'], conditions: { ready: true } }, { addresses: ['10.244.7.2'], conditions: { ready: true } }]);
  return { ...o, metadata: { ...o.metadata, annotations: { 'endpoints.kubernetes.io/last-change-trigger-time': changedAt.toISOString() } } };
};

const freePort = () =>
  new Promise<number>((res) => {
    const s = createServer().listen(0, H, () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });

describe('losing the API server', { skip: controlPlaneUnavailable(), concurrency: false }, () => {
  let cp: ControlPlane;
  let proxy: Awaited<ReturnType<typeof cuttableProxy>>;
  let dns: RunningDns;
  let health: number;
  let ready: number;
  let metrics: number;
  const log: string[] = [];

  before(async () => {
    cp = await startControlPlane();
    await cp.apply([
      ns('lossns') as never,
      svc('lossns', 'web', { clusterIP: '10.96.7.7', clusterIPs: ['10.96.7.7'], ports: http }) as never,
      svc('lossns', 'hdls', { clusterIP: 'None', clusterIPs: ['None'], ports: http }) as never,
      hdlsSlice(new Date()) as never,
    ]);
    proxy = await cuttableProxy(cp.port);
    const dir = await mkdtemp(join(tmpdir(), 'svclab-dns-loss-'));
    const kubeconfig = join(dir, 'kubeconfig');
    await writeFile(kubeconfig, (await readFile(cp.kubeconfig, 'utf8')).replace(cp.server, `https://${H}:${proxy.port}`));
    [health, ready, metrics] = [await freePort(), await freePort(), await freePort()];
    await proxy.cut();
    dns = await startDns({ zones: ['cluster.local', 'in-addr.arpa', 'ip6.arpa'], ttl: 30, pods: 'insecure', endpointPodNames: false, listen: { host: H, port: 0 }, source: { kind: 'live', kubeconfig: loadKubeConfig(kubeconfig) }, upstreams: [], health: { host: H, port: health }, ready: { host: H, port: ready }, metrics: { host: H, port: metrics }, log: (m) => log.push(m) });
  });
  after(async () => {
    await dns?.close();
    await proxy?.close();
    await cp?.stop();
  });

  const status = async (port: number, path: string) => {
    try {
      return (await fetch(`http://${H}:${port}${path}`, { signal: AbortSignal.timeout(3000) })).status;
    } catch {
      return 0;
    }
  };
  const waitFor = async (what: string, ok: () => Promise<boolean>, ms: number) => {
    const t0 = Date.now();
    while (!(await ok())) {
      if (Date.now() - t0 > ms) throw new Error(`${what} did not happen within ${ms} ms; log: ${log.slice(-5).join(' | ')}`);
      await sleep(200);
    }
    return Date.now() - t0;
  };
  const a = (name: string, ...extra: string[]) => dig(H, dns.port, [name, 'A', ...extra]);

  test('before the first sync (the proxy cut from the start): SERVFAIL with the SOA for cluster names over UDP and TCP, /ready 503; once reachable: synced, names answer, /ready and /health 200', async () => {
    for (const t of ['+notcp', '+tcp']) {
      for (const name of ['web.lossns.svc.cluster.local', 'nosuch.lossns.svc.cluster.local']) {
        const r = await a(name, t);
        assert.equal(r.status, 'SERVFAIL', `${name} ${t}: not NXDOMAIN while the state is unknown`);
        assert.match(r.authority[0] ?? '', /^cluster\.local\. 30 IN SOA ns\.dns\.cluster\.local\. /, `${name} ${t}`);
      }
    }
    assert.equal(await status(ready, '/ready'), 503);
    assert.equal(await status(health, '/health'), 200);

    await proxy.restore();
    // The watchers retry with a backoff of at most 30 s.
    await waitFor('/ready 200', async () => (await status(ready, '/ready')) === 200, 45_000);
    assert.deepEqual((await a('web.lossns.svc.cluster.local')).answer, ['web.lossns.svc.cluster.local. 30 IN A 10.96.7.7']);
    assert.equal((await a('hdls.lossns.svc.cluster.local')).answer.length, 2);
    assert.equal((await a('nosuch.lossns.svc.cluster.local')).status, 'NXDOMAIN');
    assert.equal(await status(health, '/health'), 200);
  });

  test('a change to the headless service\'s EndpointSlice is observed as CoreDNS\'s DNS programming latency', async () => {
    // An update after the sync: the Service is surely known when the slice event arrives.
    await cp.apply([hdlsSlice(new Date()) as never]);
    const programmed = /^coredns_kubernetes_dns_programming_duration_seconds_count\{service_kind="headless_with_selector"\} [1-9]/m;
    const scrape = async () => (await fetch(`http://${H}:${metrics}/metrics`)).text();
    await waitFor('the programming latency to be observed', async () => programmed.test(await scrape()), 10_000);
    const sum = Number(/^coredns_kubernetes_dns_programming_duration_seconds_sum\{service_kind="headless_with_selector"\} (\S+)$/m.exec(await scrape())?.[1]);
    assert.ok(sum >= 0 && sum < 60, `seconds from the change to this server having it: ${sum}`);
  });

  test('cut: the last known state is still served, /ready goes non-200 within 10 s, /health stays 200; restored: /ready 200 again and a Service made meanwhile appears', async () => {
    await proxy.cut();
    const took = await waitFor('/ready non-200', async () => (await status(ready, '/ready')) !== 200, 10_000);
    assert.ok(took <= 10_000, `not ready after ${took} ms`);
    assert.equal(await status(health, '/health'), 200, '/health stays ok: the process is alive');
    for (const t of ['+notcp', '+tcp']) {
      assert.deepEqual((await a('web.lossns.svc.cluster.local', t)).answer, ['web.lossns.svc.cluster.local. 30 IN A 10.96.7.7'], `from the last known state (${t})`);
      assert.deepEqual((await a('hdls.lossns.svc.cluster.local', t)).answer.sort(), ['hdls.lossns.svc.cluster.local. 30 IN A 10.244.7.1', 'hdls.lossns.svc.cluster.local. 30 IN A 10.244.7.2']);
    }
    const nx = await a('nosuch.lossns.svc.cluster.local');
    assert.equal(nx.status, 'NXDOMAIN', 'negative answers too come from the last known state (it was synced once), not SERVFAIL');

    // While it is cut, the cluster changes.
    await cp.apply([svc('lossns', 'later', { clusterIP: '10.96.7.8', clusterIPs: ['10.96.7.8'], ports: http }) as never]);
    await sleep(1000);
    assert.equal((await a('later.lossns.svc.cluster.local')).status, 'NXDOMAIN', 'not seen while the API server is out of reach');
    assert.notEqual(await status(ready, '/ready'), 200, 'still not ready');

    await proxy.restore();
    // The watchers retry with a backoff of at most 30 s.
    await waitFor('/ready 200 again', async () => (await status(ready, '/ready')) === 200, 45_000);
    await waitFor('the new Service', async () => (await a('later.lossns.svc.cluster.local')).status === 'NOERROR', 10_000);
    assert.deepEqual((await a('later.lossns.svc.cluster.local')).answer, ['later.lossns.svc.cluster.local. 30 IN A 10.96.7.8']);
    assert.deepEqual((await a('web.lossns.svc.cluster.local')).answer, ['web.lossns.svc.cluster.local. 30 IN A 10.96.7.7']);
  });
});

describe('an API server out of reach from the start (no control plane needed)', () => {
  test('cluster names get SERVFAIL with the SOA over UDP and TCP, never NXDOMAIN, and /ready stays 503', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'svclab-dns-unsynced-'));
    const kubeconfig = join(dir, 'kubeconfig');
    // Nothing listens on this port: every list is refused, so the informers never sync.
    const apiServer = `https://${H}:${await freePort()}`;
    await writeFile(kubeconfig, JSON.stringify({ apiVersion: 'v1', kind: 'Config', clusters: [{ name: 'c', cluster: { server: apiServer, 'insecure-skip-tls-verify': true } }], users: [{ name: 'u', user: { token: 't' } }], contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }], 'current-context': 'c' }));
    const ready = await freePort();
    const log: string[] = [];
    const d = await startDns({ zones: ['cluster.local', 'in-addr.arpa', 'ip6.arpa'], ttl: 30, pods: 'insecure', endpointPodNames: false, listen: { host: H, port: 0 }, source: { kind: 'live', kubeconfig: loadKubeConfig(kubeconfig) }, upstreams: [], ready: { host: H, port: ready }, log: (m) => log.push(m) });
    try {
      for (let i = 0; i < 50 && !log.some((m) => m.includes('watch:')); i++) await sleep(100);
      assert.ok(log.some((m) => m.includes('watch:')), `the informers tried and were refused; log: ${log.join(' | ')}`);
      for (const t of ['+notcp', '+tcp']) {
        for (const name of ['kubernetes.default.svc.cluster.local', 'nosuch.default.svc.cluster.local', '10-244-1-5.default.pod.cluster.local']) {
          const r = await dig(H, d.port, [name, 'A', t]);
          assert.equal(r.status, 'SERVFAIL', `${name} ${t}`);
          assert.deepEqual(r.answer, [], `${name} ${t}`);
          assert.match(r.authority[0] ?? '', /^cluster\.local\. 30 IN SOA ns\.dns\.cluster\.local\. /, `${name} ${t}`);
        }
      }
      assert.equal((await fetch(`http://${H}:${ready}/ready`)).status, 503);
    } finally {
      await d.close();
    }
  });
});

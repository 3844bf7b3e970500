// svclab's LoadBalancer controller in the real lab cluster: a Service of type LoadBalancer
// gets an address of the kind Docker network, the host (outside the cluster) reaches the
// echo pods through it, deleting the Service frees the address, other classes are left
// alone, and a restarted controller keeps what it handed out.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api, type V1Service } from '@kubernetes/client-node';
import { parsePool, parseSubnet, poolInSubnet, ipv4ToInt, type Pool } from '../../../runner/core/lb/pool.ts';
import { run } from '../../../runner/exec.ts';
import { kubeconfigPath } from '../../../runner/cluster/state.ts';
import { findKubectl } from '../../../runner/kube/kubectl.ts';
import { deployEcho, kubeConfigFor } from '../../support/cluster.ts';
import { TEST_CLUSTER, testCluster } from '../../support/test-cluster.ts';

const NS = 'lb-e2e';
const NODES = [`${TEST_CLUSTER}-control-plane`, `${TEST_CLUSTER}-worker`, `${TEST_CLUSTER}-worker2`];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the LoadBalancer controller in the lab cluster', { concurrency: false }, () => {
  const core = () => kubeConfigFor(TEST_CLUSTER).makeApiClient(CoreV1Api);
  let subnet = '';
  let pool: Pool;
  let firstIP = '';
  let pods: string[] = [];

  const lbService = (name: string, spec: Partial<NonNullable<V1Service['spec']>> = {}): V1Service => ({
    metadata: { name },
    spec: { type: 'LoadBalancer', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }], ...spec },
  });
  const ingressIP = async (name: string) => (await core().readNamespacedService({ name, namespace: NS })).status?.loadBalancer?.ingress?.[0]?.ip;
  async function waitForIngress(name: string, timeoutMs = 10_000): Promise<{ ip: string; ms: number }> {
    const t0 = Date.now();
    while (Date.now() - t0 < timeoutMs) {
      const ip = await ingressIP(name);
      if (ip) return { ip, ms: Date.now() - t0 };
      await sleep(200);
    }
    throw new Error(`Service ${NS}/${name} got no status.loadBalancer.ingress within ${timeoutMs / 1000} s`);
  }
  /** The nodes that carry ip as a /32 on eth0 (the ones answering ARP for it). */
  async function announcers(ip: string): Promise<string[]> {
    const out: string[] = [];
    for (const n of NODES) {
      const r = await run('docker', ['exec', n, 'ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
      if (r.stdout.includes(` ${ip}/32 `)) out.push(n);
    }
    return out;
  }
  async function waitForAnnouncers(ip: string, count: number, timeoutMs = 15_000): Promise<string[]> {
    const t0 = Date.now();
    let last: string[] = [];
    while (Date.now() - t0 < timeoutMs) {
      last = await announcers(ip);
      if (last.length === count) return last;
      await sleep(300);
    }
    throw new Error(`expected ${count} node(s) with ${ip}/32 on eth0, found: ${last.join(', ') || 'none'}`);
  }
  /** curl from this host, outside the cluster, retried while the rules and ARP settle. */
  async function curlFromHost(ip: string, timeoutMs = 20_000): Promise<string> {
    const t0 = Date.now();
    let last = '';
    while (Date.now() - t0 < timeoutMs) {
      const r = await run('curl', ['-sS', '--max-time', '2', `http://${ip}:80/`], { allowFailure: true });
      if (r.code === 0 && r.stdout.includes('pod: ')) return r.stdout;
      last = (r.stderr || r.stdout).trim();
      await sleep(500);
    }
    throw new Error(`curl http://${ip}:80/ from the host got no echo answer within ${timeoutMs / 1000} s: ${last}`);
  }

  before(async () => {
    const rec = await testCluster();
    const net = JSON.parse((await run('docker', ['network', 'inspect', 'kind'])).stdout)[0].IPAM.Config as { Subnet?: string }[];
    subnet = net.map((c) => c.Subnet ?? '').find((s) => parseSubnet(s))!;
    const ds = JSON.parse((await run((await findKubectl())!, ['--kubeconfig', kubeconfigPath(TEST_CLUSTER), '-n', 'kube-system', 'get', 'daemonset', 'svclab-lb-controller', '-o', 'json'])).stdout);
    const env = ds.spec.template.spec.containers[0].env as { name: string; value?: string }[];
    pool = parsePool(env.find((e) => e.name === 'SVCLAB_LB_POOL')!.value!) as Pool;
    await core().deleteNamespace({ name: NS }).catch(() => {});
    for (let i = 0; i < 60 && (await core().readNamespace({ name: NS }).then(() => true, () => false)); i++) await sleep(1000);
    await core().createNamespace({ body: { metadata: { name: NS } } });
    pods = (await deployEcho(TEST_CLUSTER, NS, 'web', 2, rec.components.echo!)).map((p) => p.metadata!.name!);
  });
  after(async () => {
    await core().deleteNamespace({ name: NS }).catch(() => {});
  });

  test('the controller\'s pool lies at the top of the kind network', () => {
    assert.ok(!('error' in pool), 'SVCLAB_LB_POOL is a pool');
    assert.ok(poolInSubnet(pool, parseSubnet(subnet)!), `pool inside ${subnet}`);
    assert.ok(pool.first - parseSubnet(subnet)!.base >= 2 ** (32 - parseSubnet(subnet)!.prefix) / 2, 'in the upper half, away from the containers');
  });

  test('a LoadBalancer Service over echo pods gets an ingress IP of the kind network within seconds', async () => {
    await core().createNamespacedService({ namespace: NS, body: lbService('web-lb') });
    const { ip, ms } = await waitForIngress('web-lb');
    assert.ok(ms < 5000, `took ${ms} ms`);
    const n = ipv4ToInt(ip)!;
    assert.ok(n >= pool.first && n <= pool.last, `${ip} in the pool`);
    const svc = await core().readNamespacedService({ name: 'web-lb', namespace: NS });
    assert.deepEqual(JSON.parse(JSON.stringify(svc.status?.loadBalancer?.ingress)), [{ ip, ipMode: 'VIP' }]);
    firstIP = ip;
    // The controller records the event after it writes the status: give it a moment.
    let allocated = false;
    for (let i = 0; i < 50 && !allocated; i++) {
      const events = await core().listNamespacedEvent({ namespace: NS, fieldSelector: 'involvedObject.name=web-lb' });
      allocated = events.items.some((e) => e.reason === 'IPAllocated' && e.message === `Assigned IP ["${ip}"]`);
      if (!allocated) await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(allocated, 'an IPAllocated event for kubectl describe');
  });

  test('exactly one node answers for the address, and curl from the host gets an echo answer', async () => {
    const nodes = await waitForAnnouncers(firstIP, 1);
    const out = await curlFromHost(firstIP);
    assert.ok(pods.includes(/^pod: (.*)$/m.exec(out)?.[1] ?? ''), `answered by one of ${pods.join(', ')}: ${out}`);
    // kube-proxy's rule for the address, on every node.
    for (const node of NODES) {
      const nat = (await run('docker', ['exec', node, 'iptables-save', '-t', 'nat'])).stdout;
      assert.match(nat, new RegExp(`-A KUBE-SERVICES -d ${firstIP.replace(/\./g, '\\.')}/32 -p tcp -m comment --comment "${NS}/web-lb:http loadbalancer IP" -m tcp --dport 80 -j KUBE-EXT-`), node);
    }
    assert.equal(nodes.length, 1);
  });

  test('a restarted controller keeps the address it handed out, and the address keeps answering', async () => {
    const kubectl = (await findKubectl())!;
    const k = (...args: string[]) => run(kubectl, ['--kubeconfig', kubeconfigPath(TEST_CLUSTER), ...args], { timeoutMs: 120_000 });
    await k('-n', 'kube-system', 'rollout', 'restart', 'daemonset/svclab-lb-controller');
    await k('-n', 'kube-system', 'rollout', 'status', 'daemonset/svclab-lb-controller', '--timeout=110s');
    assert.equal(await ingressIP('web-lb'), firstIP);
    await waitForAnnouncers(firstIP, 1);
    assert.match(await curlFromHost(firstIP), /^pod: web-/m);
  });

  test('deleting the Service releases the address: no node answers for it, and the next Service can get it', async () => {
    await core().deleteNamespacedService({ name: 'web-lb', namespace: NS });
    await waitForAnnouncers(firstIP, 0);
    await core().createNamespacedService({ namespace: NS, body: lbService('web-lb2', { loadBalancerIP: firstIP }) });
    const { ip } = await waitForIngress('web-lb2');
    assert.equal(ip, firstIP);
    await waitForAnnouncers(firstIP, 1);
    assert.match(await curlFromHost(firstIP), /^pod: web-/m);
  });

  test('changing the type away from LoadBalancer clears the status and frees the address', async () => {
    await core().patchNamespacedService({ name: 'web-lb2', namespace: NS, body: [{ op: 'replace', path: '/spec/type', value: 'ClusterIP' }, { op: 'remove', path: '/spec/loadBalancerIP' }] });
    for (let i = 0; i < 50 && (await ingressIP('web-lb2')); i++) await sleep(200);
    assert.equal(await ingressIP('web-lb2'), undefined);
    await waitForAnnouncers(firstIP, 0);
  });

  test('a Service with loadBalancerClass: other is left alone, while one created after it is served', async () => {
    await core().createNamespacedService({ namespace: NS, body: lbService('other-lb', { loadBalancerClass: 'other' }) });
    await core().createNamespacedService({ namespace: NS, body: lbService('mine-lb', { loadBalancerClass: 'svclab.io/lb' }) });
    await waitForIngress('mine-lb');
    await sleep(2000);
    const other = await core().readNamespacedService({ name: 'other-lb', namespace: NS });
    assert.deepEqual(JSON.parse(JSON.stringify(other.status?.loadBalancer ?? {})), {});
  });

  test('a loadBalancerIP outside the pool gets no address and a Warning event saying why', async () => {
    await core().createNamespacedService({ namespace: NS, body: lbService('outside-lb', { loadBalancerIP: '10.9.9.9' }) });
    let warning = '';
    for (let i = 0; i < 50 && !warning; i++) {
      const events = await core().listNamespacedEvent({ namespace: NS, fieldSelector: 'involvedObject.name=outside-lb' });
      warning = events.items.find((e) => e.type === 'Warning' && e.reason === 'AllocationFailed')?.message ?? '';
      if (!warning) await sleep(200);
    }
    assert.match(warning, /^spec\.loadBalancerIP 10\.9\.9\.9 is outside svclab's address pool \d+\.\d+\.\d+\.\d+-\d+\.\d+\.\d+\.\d+: choose an address inside it, or remove the field$/);
    assert.equal(await ingressIP('outside-lb'), undefined);
  });
});

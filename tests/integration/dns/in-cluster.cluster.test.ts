// The Kubernetes e2e DNS scenarios (test/e2e/network/dns.go) run in the lab cluster
// against svclab's DNS server at 10.96.0.10, from a pod resolving with ndots:5, like the
// e2e probes: `dig +search`, over UDP and TCP, and `dig +short` for exact answers. Rows
// 1, 3, 5, 6, 8, 9 and 12–15 of dns-spec.md §4.2 (the others are kubelet-only or need the
// internet); and `svclab dns explain` against the same live cluster.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import { kubeconfigPath } from '../../../runner/cluster/state.ts';
import { svclab } from '../../support/cli.ts';
import { execInPod, kubeConfigFor, waitForPods } from '../../support/cluster.ts';
import { TEST_CLUSTER, testCluster } from '../../support/test-cluster.ts';

const NS = 'dns-e2e';

describe('cluster DNS in the lab cluster', { concurrency: false }, () => {
  const core = () => kubeConfigFor(TEST_CLUSTER).makeApiClient(CoreV1Api);
  let podIP = '';
  let hostnamePodIP = '';
  let clusterIP2 = '';
  let toolboxImage = '';
  const digIn = (pod: string, args: string) => execInPod(TEST_CLUSTER, NS, pod, ['sh', '-c', `dig ${args}`]);
  /** The e2e probe: a non-empty answer section over both UDP and TCP with the search path. */
  const probe = async (name: string, type = 'A') => {
    const out: string[] = [];
    for (const t of ['+notcp', '+tcp']) out.push((await digIn('dns-querier-1', `${t} +noall +answer +search ${name} ${type}`)).trim());
    return out;
  };

  before(async () => {
    const rec = await testCluster();
    toolboxImage = rec.components.toolbox!;
    const pod = (name: string, labels: Record<string, string>, hostname: string, subdomain: string) => ({
      metadata: { name, labels },
      spec: { hostname, subdomain, terminationGracePeriodSeconds: 1, containers: [{ name: 'querier', image: rec.components.toolbox!, imagePullPolicy: 'Never', readinessProbe: { exec: { command: ['true'] }, periodSeconds: 1 } }] },
    });
    await core().createNamespace({ body: { metadata: { name: NS } } });
    await core().createNamespacedService({ namespace: NS, body: { metadata: { name: 'dns-test-service' }, spec: { clusterIP: 'None', selector: { 'dns-test': 'true' }, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } } });
    const s2 = await core().createNamespacedService({ namespace: NS, body: { metadata: { name: 'test-service-2' }, spec: { selector: { 'dns-test': 'true' }, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } } });
    clusterIP2 = s2.spec!.clusterIP!;
    await core().createNamespacedService({ namespace: NS, body: { metadata: { name: 'dns-test-service-2' }, spec: { clusterIP: 'None', selector: { 'dns-test-hostname-attribute': 'true' }, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } } });
    await core().createNamespacedPod({ namespace: NS, body: pod('dns-querier-1', { 'dns-test': 'true' }, 'dns-querier-1', 'dns-test-service') });
    await core().createNamespacedPod({ namespace: NS, body: pod('dns-querier-2', { 'dns-test-hostname-attribute': 'true' }, 'dns-querier-2', 'dns-test-service-2') });
    podIP = (await waitForPods(kubeConfigFor(TEST_CLUSTER), NS, 'dns-test=true', 1))[0]!.status!.podIP!;
    hostnamePodIP = (await waitForPods(kubeConfigFor(TEST_CLUSTER), NS, 'dns-test-hostname-attribute=true', 1))[0]!.status!.podIP!;
  });
  after(async () => {
    await core().deleteNamespace({ name: NS }).catch(() => {});
  });

  test('pods use 10.96.0.10 with the cluster search path and ndots:5', async () => {
    const conf = await execInPod(TEST_CLUSTER, NS, 'dns-querier-1', ['cat', '/etc/resolv.conf']);
    assert.match(conf, /^nameserver 10\.96\.0\.10$/m);
    assert.match(conf, new RegExp(`^search ${NS}\\.svc\\.cluster\\.local svc\\.cluster\\.local cluster\\.local`, 'm'));
    assert.match(conf, /options ndots:5/);
  });

  test('DNS for the cluster: kubernetes.default, full and partial names', async () => {
    for (const name of ['kubernetes.default.svc.cluster.local', 'kubernetes.default', 'kubernetes.default.svc']) {
      for (const out of await probe(name)) assert.match(out, /IN\s+A\s+10\.96\.0\.1$/m, name);
    }
  });

  test('DNS for services: headless A, SRV for both services, PTR of the ClusterIP, partial names', async () => {
    for (const name of [`dns-test-service.${NS}.svc.cluster.local`, 'dns-test-service', `dns-test-service.${NS}`, `dns-test-service.${NS}.svc`]) {
      for (const out of await probe(name)) assert.match(out, new RegExp(`IN\\s+A\\s+${podIP.replace(/\./g, '\\.')}$`, 'm'), name);
    }
    for (const out of await probe(`_http._tcp.dns-test-service.${NS}.svc`, 'SRV')) assert.match(out, new RegExp(`SRV\\s+0 100 80 dns-querier-1\\.dns-test-service\\.${NS}\\.svc\\.cluster\\.local\\.`));
    for (const out of await probe(`_http._tcp.test-service-2.${NS}.svc`, 'SRV')) assert.match(out, new RegExp(`SRV\\s+0 100 80 test-service-2\\.${NS}\\.svc\\.cluster\\.local\\.`));
    const rev = clusterIP2.split('.').reverse().join('.');
    for (const out of await probe(`${rev}.in-addr.arpa.`, 'PTR')) assert.match(out, new RegExp(`PTR\\s+test-service-2\\.${NS}\\.svc\\.cluster\\.local\\.`));
  });

  test('DNS for pods by hostname and subdomain', async () => {
    const out = await digIn('dns-querier-1', `+short dns-querier-2.dns-test-service-2.${NS}.svc.cluster.local A`);
    assert.equal(out.trim(), hostnamePodIP);
    assert.equal((await digIn('dns-querier-1', `+short dns-test-service-2.${NS}.svc.cluster.local A`)).trim(), hostnamePodIP);
  });

  test('ExternalName: CNAME, updates picked up, then a change to ClusterIP', async () => {
    const name = `dns-test-service-3.${NS}.svc.cluster.local`;
    await core().createNamespacedService({ namespace: NS, body: { metadata: { name: 'dns-test-service-3' }, spec: { type: 'ExternalName', externalName: 'foo.example.com' } } });
    const until = async (args: string, want: string | RegExp) => {
      let last = '';
      for (let i = 0; i < 60; i++) {
        last = (await digIn('dns-querier-1', args)).trim();
        if (typeof want === 'string' ? last === want : want.test(last)) return last;
        await new Promise((r) => setTimeout(r, 500));
      }
      assert.fail(`dig ${args}: got ${JSON.stringify(last)}`);
    };
    await until(`+short ${name} CNAME`, 'foo.example.com.');
    await core().patchNamespacedService({ namespace: NS, name: 'dns-test-service-3', body: [{ op: 'replace', path: '/spec/externalName', value: 'bar.example.com' }] });
    await until(`+short ${name} CNAME`, 'bar.example.com.');
    await core().replaceNamespacedService({
      namespace: NS,
      name: 'dns-test-service-3',
      body: { ...(await core().readNamespacedService({ namespace: NS, name: 'dns-test-service-3' })), spec: { type: 'ClusterIP', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } },
    });
    const svc = await core().readNamespacedService({ namespace: NS, name: 'dns-test-service-3' });
    await until(`+short ${name} A`, svc.spec!.clusterIP!);
  });

  /** A querier pod with its own DNS settings, Ready; the probe of the e2e tests run from it. */
  async function querier(name: string, spec: Record<string, unknown>) {
    await core().createNamespacedPod({
      namespace: NS,
      body: { metadata: { name, labels: { querier: name } }, spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'querier', image: toolboxImage, imagePullPolicy: 'Never', readinessProbe: { exec: { command: ['true'] }, periodSeconds: 1 } }], ...spec } },
    });
    await waitForPods(kubeConfigFor(TEST_CLUSTER), NS, `querier=${name}`, 1);
    return async (qname: string, type = 'A') => {
      const out: string[] = [];
      for (const t of ['+notcp', '+tcp']) out.push((await digIn(name, `${t} +noall +answer +search ${qname} ${type}`)).trim());
      return out;
    };
  }

  test('more than 6 search paths and a search list over 256 characters: cluster names still resolve', async () => {
    // Six 48-character paths after the three cluster ones: 9 paths, 366 characters.
    const searches = Array.from({ length: 6 }, (_, i) => `s${i}-${'a'.repeat(33)}.example.com`);
    const probeLong = await querier('dns-querier-long-search', { dnsPolicy: 'ClusterFirst', dnsConfig: { searches } });
    const conf = await execInPod(TEST_CLUSTER, NS, 'dns-querier-long-search', ['cat', '/etc/resolv.conf']);
    const search = /^search (.+)$/m.exec(conf)?.[1]?.split(' ') ?? [];
    assert.equal(search.length, 9, conf);
    assert.ok(search.join(' ').length > 256, conf);
    for (const name of ['kubernetes.default', 'kubernetes.default.svc']) {
      for (const out of await probeLong(name)) assert.match(out, /IN\s+A\s+10\.96\.0\.1$/m, name);
    }
  });

  test('a search path with an underscore and one that is a single dot: cluster names still resolve', async () => {
    const probeOdd = await querier('dns-querier-odd-search', { dnsPolicy: 'ClusterFirst', dnsConfig: { searches: ['.', '_sip._tcp.abc_d.example.com'] } });
    const conf = await execInPod(TEST_CLUSTER, NS, 'dns-querier-odd-search', ['cat', '/etc/resolv.conf']);
    assert.match(conf, /^search .* _sip\._tcp\.abc_d\.example\.com$/m);
    for (const name of ['kubernetes.default', 'kubernetes.default.svc']) {
      for (const out of await probeOdd(name)) assert.match(out, /IN\s+A\s+10\.96\.0\.1$/m, name);
    }
  });

  test('a service whose name starts with a digit resolves', async () => {
    const s = await core().createNamespacedService({ namespace: NS, body: { metadata: { name: '1kubernetes' }, spec: { ports: [{ name: 'https', port: 443, protocol: 'TCP' }] } } });
    const ip = s.spec!.clusterIP!.replace(/\./g, '\\.');
    for (const out of await probe(`1kubernetes.${NS}.svc.cluster.local`)) assert.match(out, new RegExp(`^1kubernetes\\.${NS}\\.svc\\.cluster\\.local\\.\\s+\\d+\\s+IN\\s+A\\s+${ip}$`, 'm'));
    for (const out of await probe('1kubernetes')) assert.match(out, new RegExp(`IN\\s+A\\s+${ip}$`, 'm'));
  });

  test('a hostNetwork pod with dnsPolicy ClusterFirstWithHostNet resolves partial names for services', async () => {
    const probeHost = await querier('dns-querier-host', { hostNetwork: true, dnsPolicy: 'ClusterFirstWithHostNet' });
    const conf = await execInPod(TEST_CLUSTER, NS, 'dns-querier-host', ['cat', '/etc/resolv.conf']);
    assert.match(conf, /^nameserver 10\.96\.0\.10$/m);
    for (const name of ['dns-test-service', `dns-test-service.${NS}`, `dns-test-service.${NS}.svc`]) {
      for (const out of await probeHost(name)) assert.match(out, new RegExp(`IN\\s+A\\s+${podIP.replace(/\./g, '\\.')}$`, 'm'), name);
    }
    for (const out of await probeHost(`_http._tcp.dns-test-service.${NS}.svc`, 'SRV')) assert.match(out, new RegExp(`SRV\\s+0 100 80 dns-querier-1\\.dns-test-service\\.${NS}\\.svc\\.cluster\\.local\\.`));
    for (const out of await probeHost(`_http._tcp.test-service-2.${NS}.svc`, 'SRV')) assert.match(out, new RegExp(`SRV\\s+0 100 80 test-service-2\\.${NS}\\.svc\\.cluster\\.local\\.`));
    const rev = clusterIP2.split('.').reverse().join('.');
    for (const out of await probeHost(`${rev}.in-addr.arpa.`, 'PTR')) assert.match(out, new RegExp(`PTR\\s+test-service-2\\.${NS}\\.svc\\.cluster\\.local\\.`));
  });

  test('dns explain --kubeconfig reads the live cluster: the headless service, its slice, and the answer', async () => {
    const r = await svclab(['dns', 'explain', `_http._tcp.dns-test-service.${NS}.svc.cluster.local`, 'SRV', '--kubeconfig', kubeconfigPath(TEST_CLUSTER)]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`Parsed: +kind=service namespace=${NS} service=dns-test-service port=http protocol=tcp`));
    assert.match(r.stdout, new RegExp(`Object: +Service ${NS}/dns-test-service: type ClusterIP, clusterIP None \\(headless\\)`));
    assert.match(r.stdout, new RegExp(`Object: +EndpointSlice ${NS}/dns-test-service-\\S+: ready ${podIP.replace(/\./g, '\\.')} \\(dns-querier-1\\)`));
    assert.match(r.stdout, new RegExp(`SRV\\t0 100 80 dns-querier-1\\.dns-test-service\\.${NS}\\.svc\\.cluster\\.local\\.`));
    const nx = await svclab(['dns', 'explain', `nosuch.${NS}.svc.cluster.local`, '--kubeconfig', kubeconfigPath(TEST_CLUSTER)]);
    assert.match(nx.stdout, /Result: +NXDOMAIN/);
  });
});

// dig against the server on loopback for what loopback.test.ts leaves out: PTR under
// ip6.arpa for IPv6 service and endpoint addresses, and the `pods verified` and `pods
// disabled` modes (dns-spec.md §2.8, §2.9) over a state file that holds Pods.
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { isIPv6 } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { PodMode } from '../../../runner/core/dns/backend.ts';
import { startDns, type RunningDns } from '../../../runner/dns/run.ts';
import { dig } from '../../support/dig.ts';
import { objects, slice, svc } from '../../unit/dns/fixtures.ts';

const H = '127.0.0.1';
const SOA = /^cluster\.local\. 30 IN SOA ns\.dns\.cluster\.local\. hostmaster\.cluster\.local\. \d+ 7200 1800 86400 30$/;

/** The ip6.arpa name of an IPv6 address: 32 nibbles, last first. */
function ip6arpa(ip: string): string {
  assert.ok(isIPv6(ip));
  const [head, tail = ''] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  return `${groups.map((g) => g.padStart(4, '0')).join('').split('').reverse().join('.')}.ip6.arpa`;
}

const pod = (ns: string, name: string, status: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns, ...extra }, spec: { containers: [{ name: 'c', image: 'x' }] }, status });

const http6 = [{ name: 'http', protocol: 'TCP', port: 80 }];
const items = [
  ...objects,
  svc('testns', 'hdls6', { clusterIP: 'None', clusterIPs: ['None'], ipFamilies: ['IPv6'], ports: http6 }),
  slice('testns', 'hdls6', 'hdls6-1', 'IPv6', http6, [
    { addresses: ['fd00::10'], hostname: 'web-0', conditions: { ready: true } },
    { addresses: ['fd00::11'], conditions: { ready: true } },
  ]),
  pod('testns', 'running', { phase: 'Running', podIP: '10.244.1.5', podIPs: [{ ip: '10.244.1.5' }] }),
  pod('testns', 'done', { phase: 'Succeeded', podIP: '10.244.1.6', podIPs: [{ ip: '10.244.1.6' }] }),
  pod('testns', 'going', { phase: 'Running', podIP: '10.244.1.8', podIPs: [{ ip: '10.244.1.8' }] }, { deletionTimestamp: '2026-01-01T00:00:00Z' }),
  pod('testns', 'dual', { phase: 'Running', podIP: '10.244.1.9', podIPs: [{ ip: '10.244.1.9' }, { ip: 'fd00::9' }] }),
  pod('default', 'elsewhere', { phase: 'Running', podIP: '10.244.2.7', podIPs: [{ ip: '10.244.2.7' }] }),
];

describe('ip6.arpa PTR and the verified and disabled pod modes, with dig', { concurrency: false }, () => {
  const servers = new Map<PodMode, RunningDns>();
  before(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'svclab-dns-pods-'));
    await writeFile(join(dir, 'state.json'), JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
    for (const pods of ['insecure', 'verified', 'disabled'] as PodMode[]) {
      servers.set(pods, await startDns({ zones: ['cluster.local', 'in-addr.arpa', 'ip6.arpa'], ttl: 30, pods, endpointPodNames: false, listen: { host: H, port: 0 }, source: { kind: 'file', path: join(dir, 'state.json') }, upstreams: [], log: () => {} }));
    }
  });
  after(async () => {
    for (const s of servers.values()) await s.close();
  });
  const q = (mode: PodMode, name: string, type: string, ...extra: string[]) => dig(H, servers.get(mode)!.port, [name, type, ...extra]);

  test('PTR for IPv6 ClusterIPs and IPv6 endpoints under ip6.arpa, over UDP and TCP', async () => {
    assert.equal(ip6arpa('1234:abcd::1'), '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.4.3.2.1.ip6.arpa');
    for (const t of ['+notcp', '+tcp']) {
      const cases: [string, string][] = [
        ['1234:abcd::1', 'svc6.testns.svc.cluster.local.'],
        ['10::3', 'dual.testns.svc.cluster.local.'],
        ['fd00::10', 'web-0.hdls6.testns.svc.cluster.local.'],
        ['fd00::11', 'fd00--11.hdls6.testns.svc.cluster.local.'],
      ];
      for (const [ip, target] of cases) {
        const r = await q('insecure', ip6arpa(ip), 'PTR', t);
        assert.equal(r.status, 'NOERROR', `${ip} ${t}`);
        assert.ok(r.flags.includes('aa'), `${ip}: authoritative`);
        assert.deepEqual(r.answer, [`${ip6arpa(ip)}. 30 IN PTR ${target}`], `${ip} ${t}`);
      }
    }
    // dig -x builds the same name.
    assert.deepEqual((await q('insecure', '-x', 'fd00::10')).answer, [`${ip6arpa('fd00::10')}. 30 IN PTR web-0.hdls6.testns.svc.cluster.local.`]);
    // The forward names those PTRs point at answer AAAA.
    assert.deepEqual((await q('insecure', 'web-0.hdls6.testns.svc.cluster.local', 'AAAA')).answer, ['web-0.hdls6.testns.svc.cluster.local. 30 IN AAAA fd00::10']);
    assert.deepEqual((await q('insecure', 'fd00--11.hdls6.testns.svc.cluster.local', 'AAAA')).answer, ['fd00--11.hdls6.testns.svc.cluster.local. 30 IN AAAA fd00::11']);
    // An IPv6 address nothing has: NXDOMAIN (no upstream here to fall through to: SERVFAIL is what forward gives without one).
    const none = await q('insecure', ip6arpa('fd00::99'), 'PTR');
    assert.deepEqual(none.answer, []);
    assert.notEqual(none.status, 'NOERROR');
  });

  test('pods verified: an A record only for the IP of a running, not terminating pod in that namespace; NXDOMAIN otherwise', async () => {
    const a = await q('verified', '10-244-1-5.testns.pod.cluster.local', 'A');
    assert.equal(a.status, 'NOERROR');
    assert.deepEqual(a.answer, ['10-244-1-5.testns.pod.cluster.local. 30 IN A 10.244.1.5']);
    assert.deepEqual((await q('verified', '10-244-1-5.testns.pod.cluster.local', 'A', '+tcp')).answer, ['10-244-1-5.testns.pod.cluster.local. 30 IN A 10.244.1.5']);
    assert.deepEqual((await q('verified', '10-244-2-7.default.pod.cluster.local', 'A')).answer, ['10-244-2-7.default.pod.cluster.local. 30 IN A 10.244.2.7']);
    assert.deepEqual((await q('verified', '10-244-1-9.testns.pod.cluster.local', 'A')).answer, ['10-244-1-9.testns.pod.cluster.local. 30 IN A 10.244.1.9'], 'a dual-stack pod by its primary IP');
    const nx: [string, string, string][] = [
      ['10-244-1-99.testns.pod.cluster.local', 'A', 'no pod has this IP'],
      ['10-244-2-7.testns.pod.cluster.local', 'A', 'the pod is in another namespace'],
      ['10-244-1-6.testns.pod.cluster.local', 'A', 'the pod has Succeeded'],
      ['10-244-1-8.testns.pod.cluster.local', 'A', 'the pod is terminating'],
      ['fd00--9.testns.pod.cluster.local', 'AAAA', 'only the primary pod IP is verified'],
      ['10-244-1-5.nosuchns.pod.cluster.local', 'A', 'no such namespace'],
      ['blah.testns.pod.cluster.local', 'A', 'not a dashed IP'],
    ];
    for (const [name, type, why] of nx) {
      const r = await q('verified', name, type);
      assert.equal(r.status, 'NXDOMAIN', `${name} ${type}: ${why}`);
      assert.deepEqual(r.answer, [], why);
      assert.match(r.authority[0] ?? '', SOA, why);
    }
    // NODATA where the name exists: the namespace's pod subdomain, and the other address family.
    for (const [name, type] of [['testns.pod.cluster.local', 'A'], ['10-244-1-5.testns.pod.cluster.local', 'AAAA']] as const) {
      const r = await q('verified', name, type);
      assert.equal(r.status, 'NOERROR', `${name} ${type}`);
      assert.deepEqual(r.answer, [], `${name} ${type}`);
      assert.match(r.authority[0] ?? '', SOA);
    }
    // Where insecure answers from the name alone.
    assert.deepEqual((await q('insecure', '10-244-1-99.testns.pod.cluster.local', 'A')).answer, ['10-244-1-99.testns.pod.cluster.local. 30 IN A 10.244.1.99']);
  });

  test('pods disabled: every pod name is NXDOMAIN with the SOA, even of a running pod; services still answer', async () => {
    for (const [name, type] of [
      ['10-244-1-5.testns.pod.cluster.local', 'A'],
      ['10-244-1-99.testns.pod.cluster.local', 'A'],
      ['fd00--9.testns.pod.cluster.local', 'AAAA'],
      ['testns.pod.cluster.local', 'A'],
    ]) {
      for (const t of ['+notcp', '+tcp']) {
        const r = await q('disabled', name!, type!, t);
        assert.equal(r.status, 'NXDOMAIN', `${name} ${type} ${t}`);
        assert.deepEqual(r.answer, []);
        assert.match(r.authority[0] ?? '', SOA, `${name} ${type}`);
      }
    }
    assert.deepEqual((await q('disabled', 'svc1.testns.svc.cluster.local', 'A')).answer, ['svc1.testns.svc.cluster.local. 30 IN A 10.0.0.1']);
    assert.deepEqual((await q('disabled', ip6arpa('1234:abcd::1'), 'PTR')).answer, [`${ip6arpa('1234:abcd::1')}. 30 IN PTR svc6.testns.svc.cluster.local.`]);
  });
});

// Answers compared with what CoreDNS 1.12's kubernetes plugin gives for the same state
// (derived from plugin/kubernetes and plugin/backend_lookup.go; records in zone-file text).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Answerer, type AnswerResult, type UpstreamAnswers } from '../../../runner/core/dns/answer.ts';
import { Backend, type BackendConfig } from '../../../runner/core/dns/backend.ts';
import { ClusterIndex } from '../../../runner/core/dns/cluster-index.ts';
import type { RR } from '../../../runner/core/dns/records.ts';
import { objects } from './fixtures.ts';

function rrText(rr: RR): string {
  const d = rr.data;
  const v =
    'a' in d ? d.a : 'aaaa' in d ? d.aaaa : 'target' in d ? d.target : 'srv' in d ? `${d.srv.priority} ${d.srv.weight} ${d.srv.port} ${d.srv.target}` : 'txt' in d ? d.txt.map((t) => `"${t}"`).join(' ') : 'soa' in d ? `${d.soa.mname} ${d.soa.rname} SERIAL ${d.soa.refresh} ${d.soa.retry} ${d.soa.expire} ${d.soa.minimum}` : '?';
  return `${rr.name} ${rr.ttl} IN ${rr.type} ${v}`;
}

function server(over: Partial<BackendConfig> = {}, synced = true) {
  const index = new ClusterIndex();
  index.replaceAll(objects);
  index.synced = synced;
  return new Answerer(new Backend(index, { zones: ['cluster.local.', 'in-addr.arpa.', 'ip6.arpa.'], ttl: 30, pods: 'insecure', endpointPodNames: false, localIPs: ['10.244.0.5'], ...over }));
}

interface Asked {
  rcode: string;
  answer: string[];
  authority: string[];
  extra: string[];
  tc: boolean;
}

/** The answer as zone-file lines; for a question that is not answered here, what happens instead. */
function ask(a: Answerer, name: string, type: string, upstream?: UpstreamAnswers): Asked {
  const r: AnswerResult = a.answer({ name, type }, upstream);
  if (r.kind !== 'answer') return r as unknown as Asked;
  return { rcode: r.rcode, answer: r.answer.map(rrText), authority: r.authority.map(rrText), extra: r.additional.map(rrText), tc: r.truncated };
}

const SOA = 'cluster.local. 30 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. SERIAL 7200 1800 86400 30';
const a = server();

test('ClusterIP services: A, AAAA, NODATA for the other family, dual-stack, a service with no endpoints', () => {
  assert.deepEqual(ask(a, 'svc1.testns.svc.cluster.local.', 'A'), { rcode: 'NOERROR', answer: ['svc1.testns.svc.cluster.local. 30 IN A 10.0.0.1'], authority: [], extra: [], tc: false });
  assert.deepEqual(ask(a, 'svc1.testns.svc.cluster.local.', 'AAAA'), { rcode: 'NOERROR', answer: [], authority: [SOA], extra: [], tc: false });
  assert.deepEqual(ask(a, 'svc6.testns.svc.cluster.local.', 'AAAA').answer, ['svc6.testns.svc.cluster.local. 30 IN AAAA 1234:abcd::1']);
  assert.deepEqual(ask(a, 'dual.testns.svc.cluster.local.', 'A').answer, ['dual.testns.svc.cluster.local. 30 IN A 10.0.0.3']);
  assert.deepEqual(ask(a, 'dual.testns.svc.cluster.local.', 'AAAA').answer, ['dual.testns.svc.cluster.local. 30 IN AAAA 10::3']);
  assert.deepEqual(ask(a, 'svcempty.testns.svc.cluster.local.', 'A').answer, ['svcempty.testns.svc.cluster.local. 30 IN A 10.0.0.2']);
});

test('the query\'s letter case is echoed in owner names, SOA and SRV targets', () => {
  assert.deepEqual(ask(a, 'SvC1.TeStNs.SvC.cLuStEr.LoCaL.', 'A').answer, ['SvC1.TeStNs.SvC.cLuStEr.LoCaL. 30 IN A 10.0.0.1']);
  assert.deepEqual(ask(a, 'nope.TeStNs.SvC.cLuStEr.LoCaL.', 'A').authority, ['cLuStEr.LoCaL. 30 IN SOA ns.dns.cLuStEr.LoCaL. hostmaster.cLuStEr.LoCaL. SERIAL 7200 1800 86400 30']);
  assert.deepEqual(ask(a, '_http._tcp.svc1.testns.svc.cLuStEr.LoCaL.', 'SRV').answer, ['_http._tcp.svc1.testns.svc.cLuStEr.LoCaL. 30 IN SRV 0 100 80 svc1.testns.svc.cLuStEr.LoCaL.']);
});

test('headless services: one A per ready endpoint (ready unknown counts), NXDOMAIN with none, A without ports', () => {
  assert.deepEqual(ask(a, 'hdls1.testns.svc.cluster.local.', 'A').answer, [
    'hdls1.testns.svc.cluster.local. 30 IN A 172.0.0.2',
    'hdls1.testns.svc.cluster.local. 30 IN A 172.0.0.3',
    'hdls1.testns.svc.cluster.local. 30 IN A 172.0.0.4',
  ]);
  assert.equal(ask(a, 'hdlsempty.testns.svc.cluster.local.', 'A').rcode, 'NXDOMAIN');
  assert.deepEqual(ask(a, 'hdlsnoport.testns.svc.cluster.local.', 'A').answer, ['hdlsnoport.testns.svc.cluster.local. 30 IN A 172.0.0.20']);
  assert.equal(ask(a, '_http._tcp.hdlsnoport.testns.svc.cluster.local.', 'SRV').rcode, 'NXDOMAIN');
});

test('endpoint names: hostname, else the dashed IP; any service with endpoints has them', () => {
  assert.deepEqual(ask(a, 'dup-name.hdls1.testns.svc.cluster.local.', 'A').answer, ['dup-name.hdls1.testns.svc.cluster.local. 30 IN A 172.0.0.3', 'dup-name.hdls1.testns.svc.cluster.local. 30 IN A 172.0.0.4']);
  assert.deepEqual(ask(a, '172-0-0-2.hdls1.testns.svc.cluster.local.', 'A').answer, ['172-0-0-2.hdls1.testns.svc.cluster.local. 30 IN A 172.0.0.2']);
  assert.deepEqual(ask(a, 'ep1a.svc1.testns.svc.cluster.local.', 'A').answer, ['ep1a.svc1.testns.svc.cluster.local. 30 IN A 172.0.0.1']);
  assert.equal(ask(a, 'not-ready.hdls1.testns.svc.cluster.local.', 'A').rcode, 'NXDOMAIN');
  assert.equal(ask(a, 'bogus.hdls1.testns.svc.cluster.local.', 'A').rcode, 'NXDOMAIN');
  const podNames = server({ endpointPodNames: true });
  assert.deepEqual(ask(podNames, 'hdls1-pod-a.hdls1.testns.svc.cluster.local.', 'A').answer, ['hdls1-pod-a.hdls1.testns.svc.cluster.local. 30 IN A 172.0.0.2']);
});

test('SRV: weight floor(100/n), de-duplicated on (target, port), glue per (target, IP); bare SRV lists every port', () => {
  assert.deepEqual(ask(a, '_http._tcp.hdls1.testns.svc.cluster.local.', 'SRV'), {
    rcode: 'NOERROR',
    answer: [
      '_http._tcp.hdls1.testns.svc.cluster.local. 30 IN SRV 0 33 80 172-0-0-2.hdls1.testns.svc.cluster.local.',
      '_http._tcp.hdls1.testns.svc.cluster.local. 30 IN SRV 0 33 80 dup-name.hdls1.testns.svc.cluster.local.',
    ],
    authority: [],
    extra: ['172-0-0-2.hdls1.testns.svc.cluster.local. 30 IN A 172.0.0.2', 'dup-name.hdls1.testns.svc.cluster.local. 30 IN A 172.0.0.3', 'dup-name.hdls1.testns.svc.cluster.local. 30 IN A 172.0.0.4'],
    tc: false,
  });
  assert.deepEqual(ask(a, 'hdls1.testns.svc.cluster.local.', 'SRV').answer, [
    'hdls1.testns.svc.cluster.local. 30 IN SRV 0 16 80 172-0-0-2.hdls1.testns.svc.cluster.local.',
    'hdls1.testns.svc.cluster.local. 30 IN SRV 0 16 443 172-0-0-2.hdls1.testns.svc.cluster.local.',
    'hdls1.testns.svc.cluster.local. 30 IN SRV 0 16 80 dup-name.hdls1.testns.svc.cluster.local.',
    'hdls1.testns.svc.cluster.local. 30 IN SRV 0 16 443 dup-name.hdls1.testns.svc.cluster.local.',
  ]);
  const dual = ask(a, '_http._tcp.dual.testns.svc.cluster.local.', 'SRV');
  assert.deepEqual(dual.answer, ['_http._tcp.dual.testns.svc.cluster.local. 30 IN SRV 0 50 80 dual.testns.svc.cluster.local.']);
  assert.deepEqual(dual.extra, ['dual.testns.svc.cluster.local. 30 IN A 10.0.0.3', 'dual.testns.svc.cluster.local. 30 IN AAAA 10::3']);
  assert.equal(ask(a, '_nosuch._tcp.svc1.testns.svc.cluster.local.', 'SRV').rcode, 'NXDOMAIN');
  assert.equal(ask(a, '_http._TCP.svc1.testns.svc.cluster.local.', 'SRV').rcode, 'NOERROR', 'protocol matches case-insensitively');
  assert.equal(ask(a, '_tcp.svc1.testns.svc.cluster.local.', 'SRV').rcode, 'NXDOMAIN', 'one extra label is an endpoint name');
});

test('ExternalName: CNAME, then the target resolved upstream (or in-zone); the CNAME alone when upstream has nothing', () => {
  assert.deepEqual(ask(a, 'external.testns.svc.cluster.local.', 'A'), { kind: 'need', name: 'ext.interwebs.test.', type: 'A' });
  const up: UpstreamAnswers = new Map([['ext.interwebs.test. A', { answer: [{ name: 'ext.interwebs.test.', type: 'A', ttl: 77, data: { a: '192.0.2.7' } }], truncated: false }]]);
  assert.deepEqual(ask(a, 'external.testns.svc.cluster.local.', 'A', up).answer, ['external.testns.svc.cluster.local. 30 IN CNAME ext.interwebs.test.', 'ext.interwebs.test. 77 IN A 192.0.2.7']);
  const empty: UpstreamAnswers = new Map([['ext.interwebs.test. A', { answer: [], truncated: false }]]);
  assert.deepEqual(ask(a, 'external.testns.svc.cluster.local.', 'A', empty).answer, ['external.testns.svc.cluster.local. 30 IN CNAME ext.interwebs.test.']);
  const failed: UpstreamAnswers = new Map([['ext.interwebs.test. A', { error: 'timeout' }]]);
  assert.deepEqual(ask(a, 'external.testns.svc.cluster.local.', 'A', failed), { rcode: 'NOERROR', answer: [], authority: [SOA], extra: [], tc: false });
  assert.deepEqual(ask(a, 'external.testns.svc.cluster.local.', 'CNAME').answer, ['external.testns.svc.cluster.local. 30 IN CNAME ext.interwebs.test.']);
  assert.deepEqual(ask(a, 'internal-alias.testns.svc.cluster.local.', 'A').answer, ['internal-alias.testns.svc.cluster.local. 30 IN CNAME svc1.testns.svc.cluster.local.', 'svc1.testns.svc.cluster.local. 30 IN A 10.0.0.1']);
  assert.equal(ask(a, 'external.testns.svc.cluster.local.', 'SRV').rcode, 'NOERROR');
  assert.deepEqual(ask(a, 'external.testns.svc.cluster.local.', 'SRV').answer, []);
  assert.equal(ask(a, '_http._tcp.external.testns.svc.cluster.local.', 'SRV').rcode, 'NXDOMAIN');
  assert.equal(ask(a, 'ip-alias.testns.svc.cluster.local.', 'A').rcode, 'NXDOMAIN', 'an IP literal ExternalName is not served');
  assert.deepEqual(ask(a, 'svc1.testns.svc.cluster.local.', 'CNAME'), { rcode: 'NOERROR', answer: [], authority: [SOA], extra: [], tc: false });
});

test('NXDOMAIN vs NODATA, exactly where CoreDNS gives each', () => {
  const rc = (n: string, t: string) => ask(a, n, t).rcode;
  assert.equal(rc('cluster.local.', 'A'), 'NOERROR');
  assert.deepEqual(ask(a, 'cluster.local.', 'SOA').answer, [SOA]);
  assert.equal(rc('svc.cluster.local.', 'A'), 'NOERROR');
  assert.equal(rc('pod.cluster.local.', 'A'), 'NOERROR');
  assert.equal(rc('testns.svc.cluster.local.', 'A'), 'NOERROR');
  assert.equal(rc('nonexistentns.svc.cluster.local.', 'A'), 'NXDOMAIN');
  assert.equal(rc('foo.cluster.local.', 'A'), 'NXDOMAIN');
  assert.equal(rc('dns-version.cluster.local.', 'A'), 'NXDOMAIN');
  assert.equal(rc('svc1.testns.svc.cluster.local.', 'SOA'), 'NOERROR');
  assert.equal(rc('nonexistent.testns.svc.cluster.local.', 'SOA'), 'NOERROR', 'SOA below the apex: no lookup, NODATA');
  assert.equal(rc('svc1.testns.svc.cluster.local.', 'MX'), 'NOERROR');
  assert.equal(rc('nonexistent.testns.svc.cluster.local.', 'MX'), 'NXDOMAIN');
  assert.equal(rc('svc1.testns.svc.cluster.local.', 'HINFO'), 'NOERROR');
  assert.equal(rc('nonexistent.testns.svc.cluster.local.', 'TYPE65'), 'NXDOMAIN');
  assert.equal(rc('a.b.c.svc1.testns.svc.cluster.local.', 'A'), 'NXDOMAIN');
  assert.equal(rc('kubernetes.default.svc.cluster.local.testns.svc.cluster.local.', 'A'), 'NXDOMAIN', 'a search-path expansion');
  assert.equal(rc('*.testns.svc.cluster.local.', 'A'), 'NXDOMAIN', 'no wildcards since CoreDNS 1.9');
  assert.equal(rc('svc1.testns.svc.cluster.local.', 'AXFR'), 'REFUSED');
  assert.deepEqual(ask(a, 'dns-version.cluster.local.', 'TXT').answer, ['dns-version.cluster.local. 28800 IN TXT "1.1.0"']);
  assert.equal(rc('svc1.testns.svc.cluster.local.', 'TXT'), 'NOERROR');
  assert.equal(rc('testns.svc.cluster.local.', 'TXT'), 'NXDOMAIN', 'CoreDNS: no records under a namespace name');
});

test('SERVFAIL instead of NXDOMAIN until the informers have synced', () => {
  const unsynced = server({}, false);
  assert.equal(ask(unsynced, 'nonexistent.testns.svc.cluster.local.', 'A').rcode, 'SERVFAIL');
  assert.equal(ask(unsynced, 'svc1.testns.svc.cluster.local.', 'A').rcode, 'NOERROR');
});

test('pod records: insecure from the name (namespace must exist), verified against running pods, disabled', () => {
  assert.deepEqual(ask(a, '10-244-1-5.testns.pod.cluster.local.', 'A').answer, ['10-244-1-5.testns.pod.cluster.local. 30 IN A 10.244.1.5']);
  assert.equal(ask(a, '10-244-1-5.nosuchns.pod.cluster.local.', 'A').rcode, 'NXDOMAIN');
  assert.equal(ask(a, 'blah.testns.pod.cluster.local.', 'A').rcode, 'NXDOMAIN');
  assert.equal(ask(a, '10-244-1-5.testns.pod.cluster.local.', 'AAAA').rcode, 'NOERROR');
  assert.deepEqual(ask(a, 'fd00--1.testns.pod.cluster.local.', 'AAAA').answer, ['fd00--1.testns.pod.cluster.local. 30 IN AAAA fd00::1']);
  assert.equal(ask(server({ pods: 'disabled' }), '10-244-1-5.testns.pod.cluster.local.', 'A').rcode, 'NXDOMAIN');
  const verified = server({ pods: 'verified' });
  assert.equal(ask(verified, '10-244-1-5.testns.pod.cluster.local.', 'A').rcode, 'NXDOMAIN');
  verified.backend.index.upsert('Pod', { kind: 'Pod', metadata: { name: 'p', namespace: 'testns' }, status: { phase: 'Running', podIP: '10.244.1.5' } });
  assert.equal(ask(verified, '10-244-1-5.testns.pod.cluster.local.', 'A').rcode, 'NOERROR');
  assert.equal(ask(verified, '10-244-1-5.default.pod.cluster.local.', 'A').rcode, 'NXDOMAIN', 'the pod is in another namespace');
});

test('PTR: a ClusterIP names its service, an endpoint IP names the endpoint; unknown reverse names go upstream', () => {
  assert.deepEqual(ask(a, '1.0.0.10.in-addr.arpa.', 'PTR').answer, ['1.0.0.10.in-addr.arpa. 30 IN PTR svc1.testns.svc.cluster.local.']);
  assert.deepEqual(ask(a, '2.0.0.172.in-addr.arpa.', 'PTR').answer, ['2.0.0.172.in-addr.arpa. 30 IN PTR 172-0-0-2.hdls1.testns.svc.cluster.local.']);
  assert.deepEqual(ask(a, '3.0.0.172.in-addr.arpa.', 'PTR').answer, ['3.0.0.172.in-addr.arpa. 30 IN PTR dup-name.hdls1.testns.svc.cluster.local.']);
  const v6 = '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.4.3.2.1.ip6.arpa.';
  assert.deepEqual(ask(a, v6, 'PTR').answer, [`${v6} 30 IN PTR svc6.testns.svc.cluster.local.`]);
  assert.deepEqual(ask(a, '9.9.9.9.in-addr.arpa.', 'PTR'), { kind: 'forward' });
  assert.deepEqual(ask(a, '0.10.in-addr.arpa.', 'PTR'), { kind: 'forward' });
});

test('the apex NS names the DNS service through its own endpoint; ns.dns.<zone> otherwise; nothing without own addresses', () => {
  assert.deepEqual(ask(a, 'cluster.local.', 'NS'), {
    rcode: 'NOERROR',
    answer: ['cluster.local. 30 IN NS kube-dns.kube-system.svc.cluster.local.'],
    authority: [],
    extra: ['kube-dns.kube-system.svc.cluster.local. 30 IN A 10.96.0.10'],
    tc: false,
  });
  const elsewhere = server({ localIPs: ['192.0.2.53'] });
  assert.deepEqual(ask(elsewhere, 'cluster.local.', 'NS').answer, ['cluster.local. 30 IN NS ns.dns.cluster.local.']);
  assert.deepEqual(ask(elsewhere, 'ns.dns.cluster.local.', 'A').answer, ['ns.dns.cluster.local. 30 IN A 192.0.2.53']);
  assert.equal(ask(server({ localIPs: [] }), 'cluster.local.', 'NS').answer.length, 0, 'no own addresses (loopback only): NODATA');
});

test('names outside the zones are not ours', () => {
  assert.deepEqual(ask(a, 'example.com.', 'A'), { kind: 'forward' });
});

// nftables chain names: upstream's hashAndTruncate cases (Test_servicePortChainNameBase,
// Test_servicePortEndpointChainNameBase in pkg/proxy/nftables/proxier_test.go).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { endpointChainNameBase, endpointNames, isAffinitySetName, isServiceChainName, servicePortChainNameBase, servicePortNames } from '../../../runner/core/proxy/nftables/names.ts';

const LONG_NS = 'very-long-namespace-name-abcdefghijklmnopqrstuvwxyz0123456789xx';
const LONG_SVC = 'very-long-service-name-why-would-you-even-do-this-i-mean-really';
const LONG_PORT = 'port-443-providing-the-hypertext-transmission-protocol-with-tls';

test('service port chain name bases', () => {
  assert.equal(servicePortChainNameBase('ns1/svc1', 'p80', 'tcp'), 'ULMVA6XW-ns1/svc1/tcp/p80');
  assert.equal(servicePortChainNameBase('testing/service', 'http', 'tcp'), 'P4ZYZVCF-testing/service/tcp/http');
  assert.equal(servicePortChainNameBase('testing/service', 'https', 'tcp'), 'LZBRENCP-testing/service/tcp/https');
  assert.equal(servicePortChainNameBase(`${LONG_NS}/${LONG_SVC}`, LONG_PORT, 'sctp'), `KR6NACJP-${LONG_NS}/${LONG_SVC}/sctp/${LONG_PORT}`);
  // An unnamed port leaves the name ending in "/".
  assert.equal(servicePortChainNameBase('shop/dns', '', 'udp'), 'KTWZRKWS-shop/dns/udp/');
});

test('endpoint chain name bases: IPv6 colons become dots, names past 240 characters end in "..."', () => {
  assert.equal(endpointChainNameBase('ns1/svc1', 'p80', 'tcp', '10.180.0.1:80'), '5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80');
  assert.equal(endpointChainNameBase('testing/service', 'http', 'tcp', '10.180.0.1:80'), 'JO2XBXZR-testing/service/tcp/http__10.180.0.1/80');
  assert.equal(endpointChainNameBase('testing/service', 'http', 'tcp', '10.180.0.2:80'), '5S6H3H22-testing/service/tcp/http__10.180.0.2/80');
  assert.equal(endpointChainNameBase('testing/service', 'http', 'tcp', '[fd80:abcd:12::a1b2:c3d4:e5f6:9999]:80'), 'U7E2ET36-testing/service/tcp/http__fd80.abcd.12..a1b2.c3d4.e5f6.9999/80');
  const svc = `${LONG_NS}/${LONG_SVC}`;
  assert.equal(endpointChainNameBase(svc, LONG_PORT, 'sctp', '[1234:5678:9abc:def0::abc:1234]:443'), `5YS7AFEA-${svc}/sctp/${LONG_PORT}__1234.5678.9abc.def0..abc.1234/443`);
  const t1 = endpointChainNameBase(svc, LONG_PORT, 'sctp', '[1234:5678:9abc:def0::abcd:1234:5678]:443');
  const t2 = endpointChainNameBase(svc, LONG_PORT, 'sctp', '[1234:5678:9abc:def0::abcd:1234:8765]:443');
  assert.equal(t1, `CI6C53Q3-${svc}/sctp/${LONG_PORT}__1234.5678.9abc.def0..abcd.1234...`);
  assert.equal(t2, `2FLXFK6X-${svc}/sctp/${LONG_PORT}__1234.5678.9abc.def0..abcd.1234...`);
  assert.equal(t1.length, 240);
});

test('prefixes, and how stale chains and affinity sets are recognised', () => {
  const n = servicePortNames('ns5/svc5', 'p80', 'tcp');
  assert.deepEqual(n, {
    clusterPolicy: 'service-HVFWP5L3-ns5/svc5/tcp/p80',
    localPolicy: 'local-HVFWP5L3-ns5/svc5/tcp/p80',
    external: 'external-HVFWP5L3-ns5/svc5/tcp/p80',
    firewall: 'firewall-HVFWP5L3-ns5/svc5/tcp/p80',
  });
  assert.deepEqual(endpointNames('ns5/svc5', 'p80', 'tcp', '10.180.0.3:80'), {
    chain: 'endpoint-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80',
    affinitySet: 'affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80',
  });
  assert.ok(isServiceChainName(n.external));
  assert.ok(!isServiceChainName('service-endpoints-check'));
  assert.ok(isAffinitySetName('affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80'));
  assert.ok(!isAffinitySetName('cluster-ips'));
});

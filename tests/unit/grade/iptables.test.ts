// The iptables check read against rules rendered by svclab's own kube-proxy renderer for
// the same state: what a learner would find on a node, in each situation a lab asks about.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { evaluateIptables, type ServiceView } from '../../../runner/core/grade/iptables.ts';
import { parseDump } from '../../../runner/core/proxy/iptables-dump.ts';
import { renderSnapshot } from '../../../runner/core/proxy/snapshot.ts';
import type { IptablesCheck } from '../../../runner/core/lab/types.ts';
import type { Service } from '../../../runner/core/proxy/types.ts';
import { NODE, NODE_IP, noWarn, service, settings, slice } from '../proxy/fixtures.ts';

const node = { apiVersion: 'v1', kind: 'Node', metadata: { name: NODE }, status: { addresses: [{ type: 'InternalIP', address: NODE_IP }] } };

function rulesFor(svc: Service, endpoints: [string, string][]) {
  const objs = [node, svc, ...(endpoints.length ? [slice('default', svc.metadata!.name!, endpoints)] : [])];
  return [{ node: NODE, dump: parseDump(renderSnapshot(objs as never, settings(), noWarn).text) }];
}

function view(svc: Service): ServiceView {
  return {
    namespace: 'default',
    name: svc.metadata!.name!,
    clusterIP: svc.spec!.clusterIP!,
    ports: svc.spec!.ports!.map((p) => ({ name: p.name ?? '', port: Number(p.port), protocol: String(p.protocol ?? 'TCP'), ...(p.nodePort ? { nodePort: Number(p.nodePort) } : {}) })),
    ingressIPs: [],
    externalIPs: [],
  };
}

const check = (expect: IptablesCheck['expect']): IptablesCheck => ({ service: 'web', expect });
const three: [string, string][] = [['10.244.0.5', NODE], ['10.244.1.6', 'node-b'], ['10.244.2.7', 'node-c']];

describe('iptables check', () => {
  const web = service('default', 'web', '10.96.0.50');

  test('three endpoints: cluster-IP rule, spread 1/3, 1/2, rest, masquerade off-cluster', () => {
    const v = evaluateIptables(check({ clusterIP: true, endpoints: 3, masqueradeOffCluster: true }), view(web), rulesFor(web, three), 'all');
    assert.deepEqual(v, { pass: true });
  });

  test('the wrong endpoint count names the chain and both counts', () => {
    const v = evaluateIptables(check({ endpoints: 3 }), view(web), rulesFor(web, three.slice(0, 2)), 'all');
    assert.equal(v.pass, false);
    assert.match(v.reason!.en, /KUBE-SVC-\w{16} \(web:80\/TCP\) spreads over 2 endpoints .* not 3/);
    assert.match(v.reason!.zh, /2 个端点/);
  });

  test('no endpoints: the reason says the filter table rejects it', () => {
    const v = evaluateIptables(check({ clusterIP: true }), view(web), rulesFor(web, []), 'all');
    assert.equal(v.pass, false);
    assert.match(v.reason!.en, /REJECTed in the filter table: Service web has no ready endpoints/);
    assert.deepEqual(evaluateIptables(check({ rejected: true }), view(web), rulesFor(web, []), 'all'), { pass: true });
    assert.equal(evaluateIptables(check({ rejected: true }), view(web), rulesFor(web, three), 'all').pass, false);
  });

  test('a missing Service is said plainly', () => {
    const v = evaluateIptables(check({ clusterIP: true }), undefined, rulesFor(web, three), 'all');
    assert.match(v.reason!.en, /There is no Service web yet/);
  });

  test('node port: KUBE-NODEPORTS, and the wrong port is named', () => {
    const np = service('default', 'web', '10.96.0.50', (s) => {
      s.spec!.type = 'NodePort';
      s.spec!.ports![0]!.nodePort = 30080;
    });
    assert.deepEqual(evaluateIptables(check({ nodePort: 30080 }), view(np), rulesFor(np, three), 'all'), { pass: true });
    assert.deepEqual(evaluateIptables(check({ nodePort: true }), view(np), rulesFor(np, three), 'all'), { pass: true });
    assert.match(evaluateIptables(check({ nodePort: 30081 }), view(np), rulesFor(np, three), 'all').reason!.en, /uses node port 30080, not 30081/);
    assert.match(evaluateIptables(check({ nodePort: true }), view(web), rulesFor(web, three), 'all').reason!.en, /has no node port/);
  });

  test('session affinity with its timeout', () => {
    const sticky = service('default', 'web', '10.96.0.50', (s) => {
      s.spec!.sessionAffinity = 'ClientIP';
      s.spec!.sessionAffinityConfig = { clientIP: { timeoutSeconds: 600 } };
    });
    assert.deepEqual(evaluateIptables(check({ affinity: 600, endpoints: 3 }), view(sticky), rulesFor(sticky, three), 'all'), { pass: true });
    assert.match(evaluateIptables(check({ affinity: 10800 }), view(sticky), rulesFor(sticky, three), 'all').reason!.en, /600 s, not 10800 s/);
    assert.match(evaluateIptables(check({ affinity: true }), view(web), rulesFor(web, three), 'all').reason!.en, /session affinity is not on/);
  });

  test('externalTrafficPolicy Local: KUBE-EXT goes to KUBE-SVL', () => {
    const local = service('default', 'web', '10.96.0.50', (s) => {
      s.spec!.type = 'NodePort';
      s.spec!.ports![0]!.nodePort = 30080;
      s.spec!.externalTrafficPolicy = 'Local';
    });
    const cluster = service('default', 'web', '10.96.0.50', (s) => {
      s.spec!.type = 'NodePort';
      s.spec!.ports![0]!.nodePort = 30080;
    });
    assert.deepEqual(evaluateIptables(check({ localOnly: true }), view(local), rulesFor(local, three), 'all'), { pass: true });
    assert.match(evaluateIptables(check({ localOnly: true }), view(cluster), rulesFor(cluster, three), 'all').reason!.en, /externalTrafficPolicy is not Local/);
  });

  test('"all" needs every node, "any" one', () => {
    const good = rulesFor(web, three)[0]!;
    const bad = { node: 'node-b', dump: parseDump('*nat\n:KUBE-SERVICES - [0:0]\nCOMMIT\n') };
    assert.equal(evaluateIptables(check({ clusterIP: true }), view(web), [good, bad], 'all').pass, false);
    assert.match(evaluateIptables(check({ clusterIP: true }), view(web), [good, bad], 'all').reason!.en, /On node-b/);
    assert.equal(evaluateIptables(check({ clusterIP: true }), view(web), [bad, good], 'any').pass, true);
  });
});

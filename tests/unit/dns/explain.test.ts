import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { svclab } from '../../support/cli.ts';
import { objects } from './fixtures.ts';

test('dns explain says how a name is read, which objects answer it, and why a negative answer is negative', async () => {
  const state = join(await mkdtemp(join(tmpdir(), 'svclab-explain-')), 'state.json');
  await writeFile(state, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
  const ok = await svclab(['dns', 'explain', '_http._tcp.hdls1.testns.svc.cluster.local', 'srv', '--state', state]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /Parsed: +kind=service namespace=testns service=hdls1 port=http protocol=tcp/);
  assert.match(ok.stdout, /Object: +Service testns\/hdls1: type ClusterIP, clusterIP None \(headless\)/);
  assert.match(ok.stdout, /Object: +EndpointSlice testns\/hdls1-1: ready 172\.0\.0\.2 \(172-0-0-2\), 172\.0\.0\.3 \(dup-name\)/);
  assert.match(ok.stdout, /Result: +NOERROR\n;; ANSWER\n_http\._tcp\.hdls1\.testns\.svc\.cluster\.local\.\t30\tIN\tSRV\t0 33 80 /);
  const nx = await svclab(['dns', 'explain', 'web-9.hdls1.testns.svc.cluster.local', '--state', state]);
  assert.match(nx.stdout, /Result: +NXDOMAIN — no endpoint "web-9"/);
  const nodata = await svclab(['dns', 'explain', 'svc1.testns.svc.cluster.local', 'AAAA', '--state', state]);
  assert.match(nodata.stdout, /Result: +NOERROR — the name exists, but has no AAAA records \(NODATA\)/);
  const search = await svclab(['dns', 'explain', 'svc1.testns.svc.cluster.local.testns.svc.cluster.local', '--state', state]);
  assert.match(search.stdout, /not a name the cluster serves: the name has 4 labels before the service name/);
  const out = await svclab(['dns', 'explain', 'example.com', '--state', state, '--json']);
  assert.match(JSON.parse(out.stdout).result.reason, /outside the cluster zones/);
  const bad = await svclab(['dns', 'explain', 'x', 'A', '--state', join(state, '..', 'missing.json')]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^svclab: cannot read state file .*missing\.json: no such file\n$/);
});

test('dns explain shows the CNAME an ExternalName answers with, and that the target\'s addresses come from upstream', async () => {
  const state = join(await mkdtemp(join(tmpdir(), 'svclab-explain-')), 'state.json');
  await writeFile(state, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
  for (const type of ['A', 'AAAA']) {
    const r = await svclab(['dns', 'explain', 'external.testns.svc.cluster.local', type, '--state', state]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Object: +Service testns\/external: type ExternalName, externalName ext\.interwebs\.test/);
    assert.match(r.stdout, new RegExp(`Result: +NOERROR — an ExternalName alias: this server answers with the CNAME external\\.testns\\.svc\\.cluster\\.local\\. → ext\\.interwebs\\.test\\. \\(TTL 30\\); the ${type} records of ext\\.interwebs\\.test\\. come from upstream resolution`));
    assert.match(r.stdout, /;; ANSWER\nexternal\.testns\.svc\.cluster\.local\.\t30\tIN\tCNAME\text\.interwebs\.test\.\n$/);
  }
  const json = JSON.parse((await svclab(['dns', 'explain', 'external.testns.svc.cluster.local', '--state', state, '--json'])).stdout);
  assert.deepEqual(json.result.answer, ['external.testns.svc.cluster.local.\t30\tIN\tCNAME\text.interwebs.test.']);
  assert.deepEqual(json.result.upstream, ['ext.interwebs.test. A']);
});

test('dns explain of a reverse name says which Service or endpoint the address belongs to', async () => {
  const state = join(await mkdtemp(join(tmpdir(), 'svclab-explain-')), 'state.json');
  await writeFile(state, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
  const ptr = (name: string) => svclab(['dns', 'explain', name, 'PTR', '--state', state]);
  const clusterIP = await ptr('1.0.0.10.in-addr.arpa');
  assert.match(clusterIP.stdout, /Object: +Service testns\/svc1: clusterIP 10\.0\.0\.1; the PTR names this Service\n/);
  assert.match(clusterIP.stdout, /;; ANSWER\n1\.0\.0\.10\.in-addr\.arpa\.\t30\tIN\tPTR\tsvc1\.testns\.svc\.cluster\.local\.\n/);
  const endpoint = await ptr('3.0.0.172.in-addr.arpa');
  assert.match(endpoint.stdout, /Object: +EndpointSlice testns\/hdls1-1: endpoint 172\.0\.0\.3 \(dup-name\) of Service testns\/hdls1; the PTR names this endpoint\n/);
  const v6 = await ptr('1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.4.3.2.1.ip6.arpa');
  assert.match(v6.stdout, /Object: +Service testns\/svc6: clusterIP 1234:abcd::1; the PTR names this Service\n/);
  const unknown = await ptr('9.9.9.9.in-addr.arpa');
  assert.match(unknown.stdout, /Object: +Address 9\.9\.9\.9: no Service has this ClusterIP and no ready endpoint has this address\nResult: +forwarded — no cluster data for this reverse name/);
});

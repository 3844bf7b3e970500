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

// The server keeps encoded cluster answers and replays them (the benchmark's hot path):
// what a client sees must not change because an answer came from there — its own ID and
// letter case, loadbalance's shuffling of many addresses, SRV targets in the zone case it
// asked with, its EDNS cookie echoed, and new answers as soon as the state changes (from a
// state file, and from a real API server through informers, where answers are kept per namespace).
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import dnsPacket from 'dns-packet';
import { startDns, type RunningDns } from '../../../runner/dns/run.ts';
import { loadKubeConfig } from '../../../runner/kube/client.ts';
import { controlPlaneUnavailable, startControlPlane, type ControlPlane } from '../../support/control-plane.ts';
import { dig } from '../../support/dig.ts';
import { ns, slice, svc } from '../../unit/dns/fixtures.ts';

const H = '127.0.0.1';
const http = [{ name: 'http', protocol: 'TCP', port: 80 }];
const ten = Array.from({ length: 10 }, (_, i) => ({ addresses: [`10.1.0.${i + 1}`], conditions: { ready: true } }));
const state = (extra: object[] = []) =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'List',
    items: [
      ns('testns'),
      svc('testns', 'web', { clusterIP: '10.0.0.1', ports: http }),
      svc('testns', 'hdls', { clusterIP: 'None', ports: http }),
      slice('testns', 'hdls', 'hdls-1', 'IPv4', http, ten),
      ...extra,
    ],
  });

type Packet = ReturnType<typeof dnsPacket.decode>;

/** Sends raw queries from one socket and collects the replies by ID. */
async function exchange(port: number, queries: Buffer[]): Promise<Map<number, Packet>> {
  const s = createSocket('udp4');
  const replies = new Map<number, Packet>();
  await new Promise<void>((r) => s.bind(0, H, () => r()));
  const done = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 3000);
    s.on('message', (m) => {
      const p = dnsPacket.decode(m);
      replies.set(p.id!, p);
      if (replies.size === queries.length) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  for (const q of queries) s.send(q, port, H);
  await done;
  s.close();
  return replies;
}

const query = (id: number, name: string, type: string, additionals: object[] = []) => Buffer.from(dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type: type as 'A' }], additionals: additionals as never }));

describe('DNS answer cache', { concurrency: false }, () => {
  let dns: RunningDns;
  let stateFile: string;
  // dig sends a client cookie by default; answers that echo one are not kept, so leave it out.
  const q = (name: string, type: string, ...extra: string[]) => dig(H, dns.port, ['+nocookie', name, type, ...extra]);

  before(async () => {
    stateFile = join(await mkdtemp(join(tmpdir(), 'svclab-dns-cache-')), 'state.json');
    await writeFile(stateFile, state());
    dns = await startDns({ zones: ['cluster.local', 'in-addr.arpa', 'ip6.arpa'], ttl: 30, pods: 'insecure', endpointPodNames: false, listen: { host: H, port: 0 }, source: { kind: 'file', path: stateFile }, upstreams: [], log: () => {} });
  });
  after(async () => {
    await dns?.close();
  });

  test('the same question asked again gets the same answer, under its own ID', async () => {
    const first = await q('web.testns.svc.cluster.local', 'A');
    for (let i = 0; i < 5; i++) assert.deepEqual((await q('web.testns.svc.cluster.local', 'A')).answer, first.answer);
    const nx = await q('nope.testns.svc.cluster.local', 'A');
    assert.equal(nx.status, 'NXDOMAIN');
    assert.deepEqual((await q('nope.testns.svc.cluster.local', 'A')).authority, nx.authority);
    const replies = await exchange(dns.port, Array.from({ length: 50 }, (_, id) => query(1000 + id, 'web.testns.svc.cluster.local', 'A')));
    assert.equal(replies.size, 50, 'every query answered');
    for (const [id, p] of replies) {
      assert.ok(id >= 1000 && id < 1050);
      assert.deepEqual(p.answers?.map((a) => (a as { data: unknown }).data), ['10.0.0.1']);
    }
  });

  test('letter case: each asker gets its own, in the question, the owner names and the SRV targets', async () => {
    assert.deepEqual((await q('web.testns.svc.cluster.local', 'A')).answer, ['web.testns.svc.cluster.local. 30 IN A 10.0.0.1']);
    assert.deepEqual((await q('WEB.TestNS.svc.CLUSTER.local', 'A')).answer, ['WEB.TestNS.svc.CLUSTER.local. 30 IN A 10.0.0.1']);
    const lower = await q('_http._tcp.web.testns.svc.cluster.local', 'SRV');
    assert.deepEqual(lower.answer, ['_http._tcp.web.testns.svc.cluster.local. 30 IN SRV 0 100 80 web.testns.svc.cluster.local.']);
    const upper = await q('_http._tcp.web.testns.svc.CLUSTER.LOCAL', 'SRV');
    assert.deepEqual(upper.answer, ['_http._tcp.web.testns.svc.CLUSTER.LOCAL. 30 IN SRV 0 100 80 web.testns.svc.CLUSTER.LOCAL.'], 'CoreDNS builds the target in the zone as asked');
    assert.deepEqual(upper.additional, ['web.testns.svc.CLUSTER.LOCAL. 30 IN A 10.0.0.1']);
    assert.deepEqual((await q('_http._tcp.web.testns.svc.cluster.local', 'SRV')).answer, lower.answer);
  });

  test('ten endpoints: always all ten addresses, in a new order from answer to answer (loadbalance)', async () => {
    const all = ten.map((e) => e.addresses[0]).sort();
    const orders = new Set<string>();
    const replies = await exchange(dns.port, Array.from({ length: 40 }, (_, id) => query(id + 1, 'hdls.testns.svc.cluster.local', 'A')));
    assert.equal(replies.size, 40);
    for (const p of replies.values()) {
      const ips = p.answers!.map((a) => `${a.name} ${a.type} ${(a as { data: string }).data}`);
      assert.deepEqual(ips.map((l) => l.split(' ')[2]).sort(), all);
      assert.ok(ips.every((l) => l.startsWith('hdls.testns.svc.cluster.local A ')));
      orders.add(ips.join(','));
    }
    assert.ok(orders.size > 20, `shuffled: ${orders.size} different orders in 40 answers`);
  });

  test('EDNS: the buffer size and DO bit of each query, and its cookie echoed', async () => {
    assert.match((await q('web.testns.svc.cluster.local', 'A', '+bufsize=1232')).raw, /EDNS: version: 0, flags:; udp: 1232/);
    assert.match((await q('web.testns.svc.cluster.local', 'A', '+bufsize=4096', '+dnssec')).raw, /EDNS: version: 0, flags: do; udp: 4096/);
    assert.doesNotMatch((await q('web.testns.svc.cluster.local', 'A', '+noedns')).raw, /EDNS/);
    const cookie = (c: string) => [{ type: 'OPT', name: '.', udpPayloadSize: 1232, options: [{ code: 10, data: Buffer.from(c, 'hex') }] }];
    const replies = await exchange(dns.port, [query(1, 'web.testns.svc.cluster.local', 'A', cookie('0102030405060708')), query(2, 'web.testns.svc.cluster.local', 'A', cookie('1112131415161718'))]);
    const echoed = (id: number) => ((replies.get(id)!.additionals!.find((a) => a.type === 'OPT') as unknown as { options: { code: number; data: Buffer }[] }).options.find((o) => o.code === 10)?.data.toString('hex'));
    assert.equal(echoed(1), '0102030405060708');
    assert.equal(echoed(2), '1112131415161718');
  });

  test('a change to the state is answered at once, not the kept answer', async () => {
    assert.deepEqual((await q('web.testns.svc.cluster.local', 'A')).answer, ['web.testns.svc.cluster.local. 30 IN A 10.0.0.1']);
    assert.equal((await q('added.testns.svc.cluster.local', 'A')).status, 'NXDOMAIN');
    await writeFile(stateFile, state([svc('testns', 'added', { clusterIP: '10.0.0.99', ports: http })]).replace('"10.0.0.1"', '"10.0.0.7"'));
    let r;
    for (let i = 0; i < 50; i++) {
      r = await q('added.testns.svc.cluster.local', 'A');
      if (r.status === 'NOERROR') break;
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.deepEqual(r!.answer, ['added.testns.svc.cluster.local. 30 IN A 10.0.0.99'], 'the NXDOMAIN was not kept');
    assert.deepEqual((await q('web.testns.svc.cluster.local', 'A')).answer, ['web.testns.svc.cluster.local. 30 IN A 10.0.0.7'], 'nor the old address');
  });
});

// Kept answers go per namespace with informers: a change in one namespace must still reach
// every answer that depends on it — in the same namespace, through an ExternalName from
// another, and in the SOA serial of negative answers everywhere.
describe('DNS answer cache with informers', { skip: controlPlaneUnavailable(), concurrency: false }, () => {
  let cp: ControlPlane;
  let dns: RunningDns;
  const q = (name: string, type = 'A') => dig(H, dns.port, ['+nocookie', name, type]);
  const headlessWeb = (ip: string) => [
    svc('team-a', 'web', { clusterIP: 'None', ports: http }),
    slice('team-a', 'web', 'web-1', 'IPv4', http, [{ addresses: [ip], conditions: { ready: true } }]),
  ];
  /** Asks until the answer satisfies `ok` (the informers take a moment), or fails with the last one. */
  const until = async (name: string, type: string, ok: (r: Awaited<ReturnType<typeof q>>) => boolean) => {
    let r = await q(name, type);
    for (let i = 0; i < 100 && !ok(r); i++) {
      await new Promise((res) => setTimeout(res, 100));
      r = await q(name, type);
    }
    return r;
  };
  const serial = (r: Awaited<ReturnType<typeof q>>) => Number(/ SOA \S+ \S+ (\d+) /.exec(r.authority[0] ?? '')?.[1]);

  before(async () => {
    cp = await startControlPlane();
    await cp.apply([ns('team-a'), ns('team-b'), ...headlessWeb('10.1.1.1'), svc('team-b', 'alias', { type: 'ExternalName', externalName: 'web.team-a.svc.cluster.local' }), svc('team-b', 'db', { clusterIP: 'None', ports: http }), slice('team-b', 'db', 'db-1', 'IPv4', http, [{ addresses: ['10.2.2.2'], conditions: { ready: true } }])] as never);
    dns = await startDns({ zones: ['cluster.local', 'in-addr.arpa', 'ip6.arpa'], ttl: 30, pods: 'insecure', endpointPodNames: false, listen: { host: H, port: 0 }, source: { kind: 'live', kubeconfig: loadKubeConfig(cp.kubeconfig) }, upstreams: [], log: () => {} });
  });
  after(async () => {
    await dns?.close();
    await cp?.stop();
  });

  test('a change in one namespace reaches its own names, ExternalNames pointing there, and every SOA serial', async () => {
    assert.deepEqual((await until('web.team-a.svc.cluster.local', 'A', (r) => r.answer.length > 0)).answer, ['web.team-a.svc.cluster.local. 30 IN A 10.1.1.1']);
    assert.deepEqual((await q('alias.team-b.svc.cluster.local')).answer, ['alias.team-b.svc.cluster.local. 30 IN CNAME web.team-a.svc.cluster.local.', 'web.team-a.svc.cluster.local. 30 IN A 10.1.1.1']);
    assert.deepEqual((await q('db.team-b.svc.cluster.local')).answer, ['db.team-b.svc.cluster.local. 30 IN A 10.2.2.2']);
    const nx = await q('nope.team-b.svc.cluster.local');
    assert.equal(nx.status, 'NXDOMAIN');
    assert.equal((await q('web.team-c.svc.cluster.local')).status, 'NXDOMAIN');
    // Ask each again so that every answer is a kept one, then change team-a a second later (a new serial).
    for (const n of ['web.team-a', 'alias.team-b', 'db.team-b', 'nope.team-b']) await q(`${n}.svc.cluster.local`);
    await new Promise((res) => setTimeout(res, 1100));
    await cp.apply(headlessWeb('10.1.1.2') as never);
    assert.deepEqual((await until('web.team-a.svc.cluster.local', 'A', (r) => r.answer.join() !== 'web.team-a.svc.cluster.local. 30 IN A 10.1.1.1')).answer, ['web.team-a.svc.cluster.local. 30 IN A 10.1.1.2']);
    assert.deepEqual((await q('alias.team-b.svc.cluster.local')).answer, ['alias.team-b.svc.cluster.local. 30 IN CNAME web.team-a.svc.cluster.local.', 'web.team-a.svc.cluster.local. 30 IN A 10.1.1.2'], 'through the ExternalName in team-b');
    assert.deepEqual((await q('db.team-b.svc.cluster.local')).answer, ['db.team-b.svc.cluster.local. 30 IN A 10.2.2.2']);
    const nx2 = await q('nope.team-b.svc.cluster.local');
    assert.equal(nx2.status, 'NXDOMAIN');
    assert.ok(serial(nx2) > serial(nx), `the SOA serial of team-b's NXDOMAIN moved on: ${serial(nx)} -> ${serial(nx2)}`);
    // A namespace that appears, with a service in it.
    await cp.apply([ns('team-c'), svc('team-c', 'web', { clusterIP: 'None', ports: http }), slice('team-c', 'web', 'web-1', 'IPv4', http, [{ addresses: ['10.3.3.3'], conditions: { ready: true } }])] as never);
    assert.deepEqual((await until('web.team-c.svc.cluster.local', 'A', (r) => r.status === 'NOERROR')).answer, ['web.team-c.svc.cluster.local. 30 IN A 10.3.3.3']);
  });
});

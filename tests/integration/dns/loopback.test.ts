// svclab's DNS server on loopback, queried with dig over UDP and TCP: every record kind,
// every negative case, truncation with TCP retry, forwarding to a fake upstream, the
// server-level refusals, reloading the state file, and a fuzz round that must not hurt it.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { connect, createServer as createNetServer } from 'node:net';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import dnsPacket from 'dns-packet';
import { startDns, type RunningDns } from '../../../runner/dns/run.ts';
import { dig } from '../../support/dig.ts';
import { objects, slice, svc } from '../../unit/dns/fixtures.ts';

const H = '127.0.0.1';

/** A fake upstream resolver on loopback: ext.interwebs.test A 192.0.2.7, everything else NXDOMAIN, or silence. */
async function fakeUpstream(mode: { silent?: boolean } = {}) {
  const s = createSocket('udp4');
  s.on('message', (m, r) => {
    if (mode.silent) return;
    const q = dnsPacket.decode(m);
    const name = q.questions?.[0]?.name ?? '';
    const answers = name.toLowerCase() === 'ext.interwebs.test' && q.questions?.[0]?.type === 'A' ? [{ type: 'A' as const, name, ttl: 77, data: '192.0.2.7' }] : [];
    const flags = dnsPacket.RECURSION_AVAILABLE | (answers.length ? 0 : 3);
    s.send(dnsPacket.encode({ type: 'response', id: q.id, flags, questions: q.questions, answers }), r.port, r.address);
  });
  await new Promise<void>((res) => s.bind(0, H, () => res()));
  return { port: (s.address() as { port: number }).port, close: () => s.close() };
}

describe('DNS server on loopback', { concurrency: false }, () => {
  let dns: RunningDns;
  let up: Awaited<ReturnType<typeof fakeUpstream>>;
  let stateFile: string;
  const q = (name: string, type: string, ...extra: string[]) => dig(H, dns.port, [name, type, ...extra]);

  before(async () => {
    up = await fakeUpstream();
    stateFile = join(await mkdtemp(join(tmpdir(), 'svclab-dns-')), 'state.json');
    const many = Array.from({ length: 40 }, (_, i) => ({ addresses: [`10.1.0.${i + 1}`], conditions: { ready: true } }));
    await writeFile(stateFile, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [...objects, svc('testns', 'big', { clusterIP: 'None', ports: [{ name: 'http', protocol: 'TCP', port: 80 }] }), slice('testns', 'big', 'big-1', 'IPv4', [{ name: 'http', protocol: 'TCP', port: 80 }], many)] }));
    dns = await startDns({ zones: ['cluster.local', 'in-addr.arpa', 'ip6.arpa'], ttl: 30, pods: 'insecure', endpointPodNames: false, listen: { host: H, port: 0 }, source: { kind: 'file', path: stateFile }, upstreams: [{ host: H, port: up.port }], log: () => {} });
  });
  after(async () => {
    await dns?.close();
    up?.close();
  });

  test('A, AAAA, SRV with glue, PTR, TXT, CNAME: the same answers over UDP and TCP, authoritative, no recursion available', async () => {
    for (const t of ['+notcp', '+tcp']) {
      const a = await q('svc1.testns.svc.cluster.local', 'A', t);
      assert.equal(a.status, 'NOERROR');
      assert.deepEqual(a.answer, ['svc1.testns.svc.cluster.local. 30 IN A 10.0.0.1']);
      assert.ok(a.flags.includes('aa') && !a.flags.includes('ra'), a.flags.join(' '));
      assert.deepEqual((await q('svc6.testns.svc.cluster.local', 'AAAA', t)).answer, ['svc6.testns.svc.cluster.local. 30 IN AAAA 1234:abcd::1']);
      const srv = await q('_http._tcp.hdls1.testns.svc.cluster.local', 'SRV', t);
      assert.deepEqual(srv.answer.sort(), ['_http._tcp.hdls1.testns.svc.cluster.local. 30 IN SRV 0 33 80 172-0-0-2.hdls1.testns.svc.cluster.local.', '_http._tcp.hdls1.testns.svc.cluster.local. 30 IN SRV 0 33 80 dup-name.hdls1.testns.svc.cluster.local.']);
      assert.equal(srv.additional.length, 3);
      assert.deepEqual((await q('1.0.0.10.in-addr.arpa', 'PTR', t)).answer, ['1.0.0.10.in-addr.arpa. 30 IN PTR svc1.testns.svc.cluster.local.']);
      assert.deepEqual((await q('dns-version.cluster.local', 'TXT', t)).answer, ['dns-version.cluster.local. 28800 IN TXT "1.1.0"']);
      assert.deepEqual((await q('external.testns.svc.cluster.local', 'CNAME', t)).answer, ['external.testns.svc.cluster.local. 30 IN CNAME ext.interwebs.test.']);
    }
  });

  test('headless: every ready endpoint, endpoint hostnames, pod records', async () => {
    assert.deepEqual((await q('hdls1.testns.svc.cluster.local', 'A')).answer.sort(), ['hdls1.testns.svc.cluster.local. 30 IN A 172.0.0.2', 'hdls1.testns.svc.cluster.local. 30 IN A 172.0.0.3', 'hdls1.testns.svc.cluster.local. 30 IN A 172.0.0.4']);
    assert.deepEqual((await q('dup-name.hdls1.testns.svc.cluster.local', 'A')).answer.length, 2);
    assert.deepEqual((await q('10-244-1-5.testns.pod.cluster.local', 'A')).answer, ['10-244-1-5.testns.pod.cluster.local. 30 IN A 10.244.1.5']);
  });

  test('negative answers: NXDOMAIN or NODATA with the zone SOA in authority, over UDP and TCP', async () => {
    const cases: [string, string, string][] = [
      ['nonexistent.testns.svc.cluster.local', 'A', 'NXDOMAIN'],
      ['svc1.testns.svc.cluster.local', 'AAAA', 'NOERROR'],
      ['hdlsempty.testns.svc.cluster.local', 'A', 'NXDOMAIN'],
      ['testns.svc.cluster.local', 'A', 'NOERROR'],
      ['nosuchns.svc.cluster.local', 'A', 'NXDOMAIN'],
      ['svc1.testns.svc.cluster.local', 'MX', 'NOERROR'],
      ['svc1.testns.svc.cluster.local', 'HTTPS', 'NOERROR'],
      ['_nosuch._tcp.svc1.testns.svc.cluster.local', 'SRV', 'NXDOMAIN'],
      ['kubernetes.default.svc.cluster.local.testns.svc.cluster.local', 'A', 'NXDOMAIN'],
    ];
    for (const t of ['+notcp', '+tcp']) {
      for (const [name, type, status] of cases) {
        const r = await q(name, type, t);
        assert.equal(r.status, status, `${name} ${type} ${t}`);
        assert.deepEqual(r.answer, [], `${name} ${type} ${t}`);
        assert.ok(r.flags.includes('aa'), `${name} ${type} ${t}: authoritative`);
        assert.match(r.raw, t === '+tcp' ? /;; SERVER: .*\(TCP\)/ : /;; SERVER: .*\(UDP\)/, `${name} ${type}: asked over ${t.slice(1)}`);
        assert.match(r.authority[0] ?? '', /^cluster\.local\. 30 IN SOA ns\.dns\.cluster\.local\. hostmaster\.cluster\.local\. \d+ 7200 1800 86400 30$/, `${name} ${type} ${t}`);
      }
    }
    assert.equal((await q('svc1.testns.svc.cluster.local', 'AXFR', '+tcp')).raw.includes('Transfer failed') || (await q('svc1.testns.svc.cluster.local', 'IXFR=1', '+notcp')).status === 'REFUSED', true);
  });

  test('the query\'s letter case is echoed', async () => {
    assert.deepEqual((await q('SvC1.TeStNs.SvC.cLuStEr.LoCaL', 'A')).answer, ['SvC1.TeStNs.SvC.cLuStEr.LoCaL. 30 IN A 10.0.0.1']);
    assert.deepEqual((await q('sVc1.tEsTnS.sVc.ClUsTeR.lOcAl', 'A')).answer, ['sVc1.tEsTnS.sVc.ClUsTeR.lOcAl. 30 IN A 10.0.0.1'], 'again, from the answer cache');
  });

  test('a 40-endpoint headless service: truncated over UDP at 512 bytes, complete over TCP, and dig retries by itself', async () => {
    const udp = await q('big.testns.svc.cluster.local', 'A', '+noedns', '+ignore');
    assert.ok(udp.flags.includes('tc'), 'TC set');
    assert.ok(udp.answer.length >= 25 && udp.answer.length < 40, `as many records as fit in 512 bytes compressed: ${udp.answer.length}`);
    const tcp = await q('big.testns.svc.cluster.local', 'A', '+tcp');
    assert.equal(tcp.answer.length, 40);
    const retried = await q('big.testns.svc.cluster.local', 'A', '+noedns');
    assert.equal(retried.answer.length, 40);
    assert.match(retried.raw, /Truncated, retrying in TCP mode/);
    const edns = await q('big.testns.svc.cluster.local', 'A', '+bufsize=4096', '+notcp');
    assert.equal(edns.answer.length, 40, 'fits with a 4096-byte EDNS buffer');
  });

  test('names outside the zones are forwarded; ExternalName targets resolved upstream; unknown reverse names too', async () => {
    // The upstream says TTL 77; kubeadm's `cache 30` in front of forward caps it at 30 (the first reply too).
    assert.deepEqual((await q('ext.interwebs.test', 'A')).answer, ['ext.interwebs.test. 30 IN A 192.0.2.7']);
    assert.equal((await q('nope.example.test', 'A')).status, 'NXDOMAIN');
    const chain = (await q('external.testns.svc.cluster.local', 'A')).answer;
    assert.equal(chain[0], 'external.testns.svc.cluster.local. 30 IN CNAME ext.interwebs.test.');
    assert.match(chain[1] ?? '', /^ext\.interwebs\.test\. (30|29) IN A 192\.0\.2\.7$/, 'the target from the cache, aged');
    assert.equal(chain.length, 2);
    assert.equal((await q('9.9.9.9.in-addr.arpa', 'PTR')).status, 'NXDOMAIN', 'fell through to the upstream, which said NXDOMAIN');
  });

  test('EDNS0 is echoed; a newer EDNS version gets BADVERS; other classes are refused; other opcodes NOTIMP', async () => {
    const e = await q('svc1.testns.svc.cluster.local', 'A', '+edns=0', '+bufsize=1232');
    assert.match(e.raw, /EDNS: version: 0, flags:; udp: 1232/);
    assert.equal((await q('svc1.testns.svc.cluster.local', 'A', '+edns=1', '+noednsnegotiation')).status, 'BADVERS');
    assert.equal((await q('svc1.testns.svc.cluster.local', 'A', '-c', 'CH')).status, 'REFUSED');
    assert.equal((await dig(H, dns.port, ['+opcode=2', 'svc1.testns.svc.cluster.local'])).status, 'NOTIMP');
  });

  test('the state file is read again when it changes', async () => {
    const items = [...objects, svc('testns', 'added', { clusterIP: '10.0.0.99', ports: [{ name: 'http', protocol: 'TCP', port: 80 }] })];
    await writeFile(stateFile, JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
    let r;
    for (let i = 0; i < 30; i++) {
      r = await q('added.testns.svc.cluster.local', 'A');
      if (r.status === 'NOERROR') break;
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.deepEqual(r!.answer, ['added.testns.svc.cluster.local. 30 IN A 10.0.0.99']);
    await writeFile(stateFile, '{ not json');
    await new Promise((res) => setTimeout(res, 500));
    assert.equal((await q('added.testns.svc.cluster.local', 'A')).status, 'NOERROR', 'a broken file keeps the last good state');
  });

  test('fuzz: random and mutated packets get no crash and no hang, and the server still answers', async () => {
    const sock = createSocket('udp4');
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const valid = Buffer.from(dnsPacket.encode({ type: 'query', id: 7, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'SRV', name: '_http._tcp.hdls1.testns.svc.cluster.local' }], additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232 } as never] }));
    let replies = 0;
    sock.on('message', () => replies++);
    await new Promise<void>((res) => sock.bind(0, H, () => res()));
    for (let i = 0; i < 3000; i++) {
      let b: Buffer;
      if (i % 3 === 0) b = Buffer.from(Array.from({ length: Math.floor(rand() * 600) }, () => Math.floor(rand() * 256)));
      else {
        b = Buffer.from(valid);
        for (let k = 0; k < 1 + Math.floor(rand() * 6); k++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
        if (i % 7 === 0) b = b.subarray(0, Math.floor(rand() * b.length));
      }
      sock.send(b, dns.port, H);
      if (i % 200 === 0) await new Promise((res) => setTimeout(res, 5));
    }
    await new Promise((res) => setTimeout(res, 1000));
    sock.close();
    assert.ok(replies > 100, `answers or refusals came back (${replies})`);
    for (const t of ['+notcp', '+tcp']) assert.deepEqual((await q('svc1.testns.svc.cluster.local', 'A', t)).answer, ['svc1.testns.svc.cluster.local. 30 IN A 10.0.0.1']);
  });
});

describe('upstreams that do not answer', () => {
  test('SERVFAIL after the timeout, while cluster names are unaffected', async () => {
    const silent = await fakeUpstream({ silent: true });
    const dir = await mkdtemp(join(tmpdir(), 'svclab-dns-'));
    await writeFile(join(dir, 's.json'), JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
    const d = await startDns({ zones: ['cluster.local', 'in-addr.arpa', 'ip6.arpa'], ttl: 30, pods: 'insecure', endpointPodNames: false, listen: { host: H, port: 0 }, source: { kind: 'file', path: join(dir, 's.json') }, upstreams: [{ host: H, port: silent.port }], log: () => {} });
    try {
      const t0 = Date.now();
      const r = await dig(H, d.port, ['+time=5', 'example.test', 'A']);
      assert.equal(r.status, 'SERVFAIL');
      assert.ok(Date.now() - t0 >= 1500, 'after the upstream timeout');
      assert.equal((await dig(H, d.port, ['svc1.testns.svc.cluster.local', 'A'])).status, 'NOERROR');
    } finally {
      await d.close();
      silent.close();
    }
  });
});

describe('wire and operations', () => {
  const freePort = () =>
    new Promise<number>((res) => {
      const s = createNetServer().listen(0, H, () => {
        const { port } = s.address() as { port: number };
        s.close(() => res(port));
      });
    });

  test('several queries on one TCP connection, each answered in its frame; FORMERR for two questions; /health, /ready and CoreDNS\'s metrics', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'svclab-dns-'));
    await writeFile(join(dir, 's.json'), JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
    const [health, ready, metrics] = [await freePort(), await freePort(), await freePort()];
    const d = await startDns({ zones: ['cluster.local', 'in-addr.arpa', 'ip6.arpa'], ttl: 30, pods: 'insecure', endpointPodNames: false, listen: { host: H, port: 0 }, source: { kind: 'file', path: join(dir, 's.json') }, upstreams: [], health: { host: H, port: health }, ready: { host: H, port: ready }, metrics: { host: H, port: metrics }, log: () => {} });
    try {
      // Three queries written at once on one connection.
      const frames = [1, 2, 3].map((id) => dnsPacket.streamEncode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name: 'svc1.testns.svc.cluster.local' }] }));
      const replies = await new Promise<dnsPacket.Packet[]>((resolve, reject) => {
        const sock = connect(d.port, H, () => sock.write(Buffer.concat(frames)));
        let buf = Buffer.alloc(0);
        const got: dnsPacket.Packet[] = [];
        sock.on('data', (chunk) => {
          buf = Buffer.concat([buf, chunk]);
          while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
            got.push(dnsPacket.decode(buf.subarray(2, 2 + buf.readUInt16BE(0))));
            buf = buf.subarray(2 + buf.readUInt16BE(0));
          }
          if (got.length === 3) {
            sock.end();
            resolve(got);
          }
        });
        sock.on('error', reject);
        setTimeout(() => reject(new Error(`only ${got.length} of 3 answers on the connection`)), 5000);
      });
      assert.deepEqual(replies.map((r) => r.id).sort(), [1, 2, 3]);
      for (const r of replies) assert.deepEqual(r.answers?.map((a) => (a as { data?: unknown }).data), ['10.0.0.1']);

      const two = dnsPacket.encode({ type: 'query', id: 9, questions: [{ type: 'A', name: 'svc1.testns.svc.cluster.local' }, { type: 'A', name: 'svc2.testns.svc.cluster.local' }] });
      const sock = createSocket('udp4');
      const reply = await new Promise<Buffer>((res) => {
        sock.once('message', (m) => res(m));
        sock.send(two, d.port, H);
      });
      sock.close();
      assert.equal(reply.readUInt16BE(0), 9, 'the id is kept');
      assert.equal(reply[3]! & 0xf, 1, 'rcode FORMERR');

      const get = async (port: number, path: string) => {
        const r = await fetch(`http://${H}:${port}${path}`);
        return { status: r.status, body: await r.text() };
      };
      assert.deepEqual(await get(health, '/health'), { status: 200, body: 'OK' });
      assert.deepEqual(await get(ready, '/ready'), { status: 200, body: 'OK' });
      const m = await get(metrics, '/metrics');
      assert.match(m.body, /^coredns_dns_requests_total\{[^}]*\} [1-9]/m, 'requests counted under CoreDNS\'s name');
      assert.match(m.body, /^coredns_dns_responses_total\{[^}]*rcode="FORMERR"[^}]*\} 1$/m);
    } finally {
      await d.close();
    }
  });
});

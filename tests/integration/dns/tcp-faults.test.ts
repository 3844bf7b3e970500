// DNS over TCP with bad clients: frames that announce more than they bring, garbage bigger
// than 512 bytes, frames too short to hold a header, a client that half-closes after its
// query, one that never finishes its frame, and a fuzz round of random and mutated frames
// over many connections. Each misbehaving connection is answered (FORMERR) or closed, and
// the server goes on answering everyone else, over TCP and UDP; checked with dig afterwards.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import dnsPacket from 'dns-packet';
import { startDns, type RunningDns } from '../../../runner/dns/run.ts';
import { dig } from '../../support/dig.ts';
import { objects } from '../../unit/dns/fixtures.ts';

const H = '127.0.0.1';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An upstream on loopback (UDP and TCP, as CoreDNS's forward asks in the client's protocol) that answers every A query with 192.0.2.9 after 300 ms. */
async function slowUpstream() {
  const answer = (m: Buffer) => {
    const q = dnsPacket.decode(m);
    const name = q.questions?.[0]?.name ?? '';
    return Buffer.from(dnsPacket.encode({ type: 'response', id: q.id, flags: dnsPacket.RECURSION_AVAILABLE, questions: q.questions, answers: [{ type: 'A', name, ttl: 60, data: '192.0.2.9' }] }));
  };
  const s = createSocket('udp4');
  s.on('message', (m, r) => setTimeout(() => s.send(answer(m), r.port, r.address), 300));
  await new Promise<void>((res) => s.bind(0, H, () => res()));
  const port = (s.address() as { port: number }).port;
  const t = createServer((c) => {
    c.on('error', () => {});
    c.once('data', (d: Buffer) => setTimeout(() => c.end(frame(answer(d.subarray(2)))), 300));
  });
  await new Promise<void>((res) => t.listen(port, H, () => res()));
  return {
    port,
    close: () => {
      s.close();
      t.close();
    },
  };
}

const frame = (msg: Uint8Array) => {
  const head = Buffer.alloc(2);
  head.writeUInt16BE(msg.length);
  return Buffer.concat([head, msg]);
};
const query = (id: number, name = 'svc1.testns.svc.cluster.local') => Buffer.from(dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] }));

/** Writes `bytes` on a new connection (then half-closes unless `keepOpen`) and collects the framed replies until the server closes or `waitMs` passes. */
function exchange(port: number, bytes: Buffer, opts: { keepOpen?: boolean; waitMs?: number } = {}): Promise<{ replies: Buffer[]; closedByServer: boolean; leftover: number; sock: Socket }> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, H);
    let buf = Buffer.alloc(0);
    const replies: Buffer[] = [];
    const finish = (closedByServer: boolean) => {
      clearTimeout(timer);
      resolve({ replies, closedByServer, leftover: buf.length, sock });
    };
    const timer = setTimeout(() => finish(false), opts.waitMs ?? 3000);
    sock.on('connect', () => {
      sock.write(bytes);
      if (!opts.keepOpen) sock.end();
    });
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        replies.push(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
    });
    sock.on('end', () => finish(true));
    sock.on('error', (e) => (replies.length ? finish(true) : reject(e)));
  });
}

const rcode = (b: Buffer) => b[3]! & 0xf;

describe('DNS over TCP with misbehaving clients', { concurrency: false }, () => {
  let dns: RunningDns;
  let up: Awaited<ReturnType<typeof slowUpstream>>;

  const stillServing = async (why: string) => {
    for (const t of ['+tcp', '+notcp']) {
      const r = await dig(H, dns.port, ['svc1.testns.svc.cluster.local', 'A', t]);
      assert.equal(r.status, 'NOERROR', `${why} (${t}): ${r.raw}`);
      assert.deepEqual(r.answer, ['svc1.testns.svc.cluster.local. 30 IN A 10.0.0.1'], `${why} (${t})`);
    }
  };

  before(async () => {
    up = await slowUpstream();
    const dir = await mkdtemp(join(tmpdir(), 'svclab-dns-tcp-'));
    await writeFile(join(dir, 's.json'), JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
    dns = await startDns({ zones: ['cluster.local', 'in-addr.arpa', 'ip6.arpa'], ttl: 30, pods: 'insecure', endpointPodNames: false, listen: { host: H, port: 0 }, source: { kind: 'file', path: join(dir, 's.json') }, upstreams: [{ host: H, port: up.port }], log: () => {} });
  });
  after(async () => {
    await dns?.close();
    up?.close();
  });

  test('a frame announcing 65 535 bytes that brings 1 000 and then closes: no answer, the connection is closed cleanly, others are served', async () => {
    const bytes = Buffer.concat([Buffer.from([0xff, 0xff]), query(1), Buffer.alloc(1000 - query(1).length, 0x41)]);
    const r = await exchange(dns.port, bytes);
    assert.deepEqual(r.replies, []);
    assert.equal(r.closedByServer, true, 'the server closed its side after the client did');
    await stillServing('after a short frame and a close');
  });

  test('a length prefix alone (and half a prefix) then close: closed cleanly', async () => {
    for (const bytes of [Buffer.from([0x00, 0x40]), Buffer.from([0x01])]) {
      const r = await exchange(dns.port, bytes);
      assert.deepEqual(r.replies, [], bytes.toString('hex'));
      assert.equal(r.closedByServer, true, bytes.toString('hex'));
    }
    await stillServing('after bare length prefixes');
  });

  test('a connection that never finishes its frame does not hold anyone else up', async () => {
    const stuck = connect(dns.port, H);
    await new Promise((r) => stuck.once('connect', r));
    stuck.write(Buffer.from([0x10, 0x00, 0x12, 0x34, 0x01]));
    try {
      await stillServing('while another connection sits on half a frame');
    } finally {
      stuck.destroy();
    }
  });

  test('a 600-byte garbage message and a full 65 535-byte one get FORMERR with their id; the same connection then answers a real query', async () => {
    let seed = 99;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 256);
    for (const size of [600, 65535]) {
      const garbage = Buffer.from(Array.from({ length: size }, rand));
      // A query header (QR clear, opcode 0, one question) in front of the garbage.
      Buffer.from([0xbe, 0xef, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]).copy(garbage);
      garbage[12] = 0xc0; // the question name: a compression pointer to itself
      garbage[13] = 0x0c;
      const r = await exchange(dns.port, Buffer.concat([frame(garbage), frame(query(7))]));
      assert.equal(r.replies.length, 2, `${size}: both frames answered`);
      const bad = r.replies.find((b) => b.readUInt16BE(0) === 0xbeef);
      assert.ok(bad, `${size}: id kept`);
      assert.equal(rcode(bad), 1, `${size}: FORMERR`);
      assert.equal(bad.length, 12, `${size}: header only, as miekg answers what it cannot parse`);
      const ok = dnsPacket.decode(r.replies.find((b) => b !== bad)!);
      assert.equal(ok.id, 7);
      assert.deepEqual(ok.answers?.map((a) => (a as { data?: unknown }).data), ['10.0.0.1']);
      assert.equal(r.closedByServer, true);
    }
    await stillServing('after garbage frames');
  });

  test('frames too short for a header (0 to 11 bytes) are ignored like miekg does; the next frame on the connection is answered', async () => {
    const shorts = Array.from({ length: 12 }, (_, n) => frame(Buffer.alloc(n, 0x01)));
    const r = await exchange(dns.port, Buffer.concat([...shorts, frame(query(8))]));
    assert.equal(r.replies.length, 1);
    assert.equal(r.replies[0]!.readUInt16BE(0), 8);
    assert.equal(rcode(r.replies[0]!), 0);
  });

  test('a client that writes a query for an outside name and half-closes at once still gets its (forwarded, 300 ms) answer', async () => {
    const r = await exchange(dns.port, Buffer.concat([frame(query(21, 'slow.interwebs.test')), frame(query(22))]));
    assert.deepEqual(r.replies.map((b) => b.readUInt16BE(0)).sort(), [21, 22]);
    const fwd = dnsPacket.decode(r.replies.find((b) => b.readUInt16BE(0) === 21)!);
    assert.deepEqual(fwd.answers?.map((a) => (a as { data?: unknown }).data), ['192.0.2.9']);
    assert.equal(r.closedByServer, true, 'then the server closes');
  });

  test('fuzz over TCP: random and mutated frames on 300 connections, then correct answers over UDP and TCP', async () => {
    let seed = 4711;
    const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const int = (n: number) => Math.floor(rand() * n);
    const valid = Buffer.from(dnsPacket.encode({ type: 'query', id: 3, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'SRV', name: '_http._tcp.hdls1.testns.svc.cluster.local' }], additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232 } as never] }));
    const mutated = () => {
      const b = Buffer.from(valid);
      for (let k = 0; k < 1 + int(6); k++) b[int(b.length)] = int(256);
      return int(5) === 0 ? b.subarray(0, int(b.length)) : b;
    };
    const randomMsg = () => Buffer.from(Array.from({ length: int(int(4) === 0 ? 3000 : 300) }, () => int(256)));
    let replies = 0;
    let malformedReplies = 0;
    const conns: Promise<unknown>[] = [];
    const missing: string[] = [];
    for (let c = 0; c < 300; c++) {
      const parts: Buffer[] = [];
      // Ids of real queries before the framing goes astray: those must be answered.
      const expected: number[] = [];
      let astray = false;
      for (let f = 0, n = 1 + int(8); f < n; f++) {
        const kind = int(10);
        if (kind === 7 || kind === 9) astray = true;
        if (kind === 8 && !astray) expected.push(1000 + c);
        if (kind < 4) parts.push(frame(mutated()));
        else if (kind < 7) parts.push(frame(randomMsg()));
        else if (kind < 8) parts.push(Buffer.from(Array.from({ length: int(40) }, () => int(256)))); // unframed bytes: the framing goes astray
        else if (kind < 9) parts.push(frame(query(1000 + c)));
        else {
          // A frame that lies about its length (longer than what follows).
          const body = mutated();
          const head = Buffer.alloc(2);
          head.writeUInt16BE(body.length + 1 + int(60000));
          parts.push(head, body);
        }
      }
      const bytes = Buffer.concat(parts);
      const mode = int(3); // half-close, keep open for a moment, or reset mid-way
      conns.push(
        (mode === 2
          ? new Promise<void>((res) => {
              const s = connect(dns.port, H, () => {
                s.write(bytes.subarray(0, int(bytes.length + 1)));
                s.resetAndDestroy();
                res();
              });
              s.on('error', () => res());
            })
          : exchange(dns.port, bytes, { keepOpen: mode === 1, waitMs: 5000 }).then((r) => {
              r.sock.destroy();
              if (expected.length && !r.replies.some((b) => b.readUInt16BE(0) === 1000 + c && rcode(b) === 0)) missing.push(`connection ${c} mode ${mode} closed ${r.closedByServer} replies ${r.replies.map((b) => `${b.readUInt16BE(0)}/${rcode(b)}`).join(",")} leftover ${r.leftover} expected ${expected.join(",")}`);
              for (const b of r.replies) {
                replies++;
                if (b.length < 12 || !(b[2]! & 0x80)) malformedReplies++;
              }
            })
        ).catch(() => {}),
      );
      if (c % 50 === 49) await sleep(20);
    }
    await Promise.all(conns);
    assert.ok(replies > 50, `framed answers came back (${replies})`);
    assert.deepEqual(missing, [], 'every real query in well-framed traffic was answered, whatever came before it');
    assert.equal(malformedReplies, 0, 'every reply is a DNS response with a full header');
    await stillServing('after the TCP fuzz round');
    const srv = await dig(H, dns.port, ['_http._tcp.hdls1.testns.svc.cluster.local', 'SRV', '+tcp']);
    assert.equal(srv.answer.length, 2);
  });
});

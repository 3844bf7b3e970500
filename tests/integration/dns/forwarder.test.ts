// Names outside the cluster zones, as kubeadm's Corefile handles them: `forward .
// /etc/resolv.conf { max_concurrent 1000 }` behind `cache 30`. A fake upstream on loopback
// counts what reaches it: repeated questions are answered from the cache with the TTL
// capped at 30 s (at least 5 s) and counting down until they expire; more than 1 000
// questions in flight get REFUSED at once, never reaching the upstream; an upstream that
// does not answer gives SERVFAIL after the timeout while cluster names answer at once.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import dnsPacket from 'dns-packet';
import { startDns, type RunningDns } from '../../../runner/dns/run.ts';
import { dig } from '../../support/dig.ts';
import { objects } from '../../unit/dns/fixtures.ts';

const H = '127.0.0.1';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * An upstream resolver on UDP and TCP. <x>.up.test answers A 192.0.2.1 with TTL 77
 * (short.up.test: TTL 2); slow-<n>.up.test the same once released; nx*.up.test NXDOMAIN
 * (nxsoa.up.test with an SOA whose minimum is 8); silent.up.test never.
 */
async function fakeUpstream() {
  const seen = new Map<string, number>();
  let held: (() => void)[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const answer = (m: Buffer, send: (b: Buffer) => void) => {
    const q = dnsPacket.decode(m);
    const name = q.questions?.[0]?.name ?? '';
    const lower = name.toLowerCase();
    seen.set(lower, (seen.get(lower) ?? 0) + 1);
    if (lower === 'silent.up.test') return;
    const nx = lower.startsWith('nx');
    const reply = Buffer.from(
      dnsPacket.encode({
        type: 'response',
        id: q.id,
        flags: dnsPacket.RECURSION_AVAILABLE | (nx ? 3 : 0),
        questions: q.questions,
        answers: nx ? [] : [{ type: 'A', name, ttl: lower === 'short.up.test' ? 2 : 77, data: '192.0.2.1' }],
        authorities: lower === 'nxsoa.up.test' ? [{ type: 'SOA', name: 'up.test', ttl: 60, data: { mname: 'ns.up.test', rname: 'h.up.test', serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 8 } }] : [],
      }),
    );
    if (!lower.startsWith('slow-')) return send(reply);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    held.push(() => {
      inFlight--;
      send(reply);
    });
  };
  let closed = false;
  const udp = createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
  udp.on('message', (m, r) => answer(m, (b) => !closed && udp.send(b, r.port, r.address)));
  await new Promise<void>((res) => udp.bind(0, H, () => res()));
  const port = (udp.address() as { port: number }).port;
  const tcp = createServer((c) => {
    c.on('error', () => {});
    c.once('data', (d: Buffer) =>
      answer(d.subarray(2), (b) => {
        const head = Buffer.alloc(2);
        head.writeUInt16BE(b.length);
        c.end(Buffer.concat([head, b]));
      }),
    );
  });
  await new Promise<void>((res) => tcp.listen(port, H, () => res()));
  return {
    port,
    seen,
    get maxInFlight() {
      return maxInFlight;
    },
    get inFlight() {
      return inFlight;
    },
    /** Sends every held answer. */
    release() {
      const h = held;
      held = [];
      for (const f of h) f();
    },
    close() {
      closed = true;
      udp.close();
      tcp.close();
    },
  };
}

async function startOn(upPort: number, forward?: { timeoutMs: number }): Promise<RunningDns> {
  const dir = await mkdtemp(join(tmpdir(), 'svclab-dns-fwd-'));
  await writeFile(join(dir, 's.json'), JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
  return startDns({ zones: ['cluster.local', 'in-addr.arpa', 'ip6.arpa'], ttl: 30, pods: 'insecure', endpointPodNames: false, listen: { host: H, port: 0 }, source: { kind: 'file', path: join(dir, 's.json') }, upstreams: [{ host: H, port: upPort }], ...(forward ? { forward } : {}), log: () => {} });
}

const until = async (what: string, ok: () => boolean, detail: () => string, ms = 20_000) => {
  for (const t0 = Date.now(); !ok(); await sleep(50)) if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}: ${detail()}`);
};

const ttlOf = (line: string | undefined) => Number((line ?? '').split(' ')[1]);

/** One UDP query from a plain socket: its rcode and how long the reply took (no dig process to start). */
async function ask(port: number, name: string): Promise<{ rcode: number; ms: number; answers: string[] }> {
  const s = createSocket('udp4');
  const t0 = Date.now();
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply for ${name}`)), 10_000);
      s.on('message', (m) => {
        clearTimeout(timer);
        const p = dnsPacket.decode(m);
        resolve({ rcode: m[3]! & 0xf, ms: Date.now() - t0, answers: (p.answers ?? []).map((a) => String((a as { data?: unknown }).data)) });
      });
      s.send(dnsPacket.encode({ type: 'query', id: 1, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] }), port, H);
    });
  } finally {
    s.close();
  }
}

describe('the forwarder and its cache', { concurrency: false }, () => {
  let dns: RunningDns;
  let up: Awaited<ReturnType<typeof fakeUpstream>>;
  before(async () => {
    up = await fakeUpstream();
    // A long upstream timeout so that held answers are not given up on (the bound is the default 1 000).
    dns = await startOn(up.port, { timeoutMs: 30_000 });
  });
  after(async () => {
    up?.release();
    await dns?.close();
    up?.close();
  });
  const q = (name: string, ...extra: string[]) => dig(H, dns.port, [name, 'A', ...extra]);
  /** A TTL served from the cache, `sinceFirst` ms after the first query went out (that reply took `firstMs`): cap minus the whole seconds since it was stored. */
  const assertAged = (ttl: number, cap: number, sinceFirst: number, firstMs: number, msg: string) => {
    const lo = cap - Math.ceil((sinceFirst + 50) / 1000);
    const hi = cap - Math.floor(Math.max(0, sinceFirst - firstMs - 50) / 1000);
    assert.ok(ttl >= lo && ttl <= hi, `${msg}: TTL ${ttl}, expected ${lo}..${hi}`);
  };

  test('a repeated question is answered from the cache: the upstream sees it once, the TTL is capped at 30 and counts down', async () => {
    const t0 = Date.now();
    const first = await q('long.up.test');
    const firstMs = Date.now() - t0;
    assert.deepEqual(first.answer, ['long.up.test. 30 IN A 192.0.2.1'], 'TTL 77 from the upstream, capped at 30 like cache 30');
    assert.ok(first.flags.includes('ra'), 'the upstream\'s RA comes through');
    await sleep(2100);
    const again = await q('LoNg.Up.TeSt');
    const since = Date.now() - t0;
    assert.equal(up.seen.get('long.up.test'), 1, 'the second question did not reach the upstream');
    assert.equal(again.answer.length, 1);
    assert.match(again.answer[0]!, /^long\.up\.test\. \d+ IN A 192\.0\.2\.1$/i);
    assertAged(ttlOf(again.answer[0]), 30, since, firstMs, 'aged by the seconds since');
    assert.ok(ttlOf(again.answer[0]) <= 28, 'at least 2 s younger');
    const tcp = await q('long.up.test', '+tcp');
    assert.equal(up.seen.get('long.up.test'), 1, 'over TCP too, the same cache');
    assert.ok(ttlOf(tcp.answer[0]) <= 28);
  });

  test('a short TTL is kept for the 5 s minimum, then the entry expires and the upstream is asked again; NXDOMAIN is cached too', async () => {
    const t0 = Date.now();
    const first = await q('short.up.test');
    // An entry is stored between the question and its answer here: waits for its expiry are
    // counted from the answer (dig itself can take a second to start on a loaded machine),
    // checks that it is still cached from the question.
    const firstDone = Date.now();
    const firstMs = firstDone - t0;
    assert.deepEqual(first.answer, ['short.up.test. 5 IN A 192.0.2.1'], 'TTL 2 raised to the cache\'s minimum of 5');
    const tNx = Date.now();
    assert.equal((await q('nx1.up.test')).status, 'NXDOMAIN');
    const nxDone = Date.now();
    const tSoa = Date.now();
    const soa = await q('nxsoa.up.test');
    assert.equal(soa.status, 'NXDOMAIN');
    assert.match(soa.authority[0] ?? '', /^up\.test\. 8 IN SOA /, 'negative answers: no longer than the SOA minimum');
    await sleep(1100);
    const cached = await q('short.up.test');
    const since = Date.now() - t0;
    if (since < 4500) {
      assert.equal(up.seen.get('short.up.test'), 1, 'from the cache');
      assertAged(ttlOf(cached.answer[0]), 5, since, firstMs, 'counting down from 5');
      assert.ok(ttlOf(cached.answer[0]) < 5);
    }
    if (Date.now() - tNx < 4500) {
      assert.equal((await q('nx1.up.test')).status, 'NXDOMAIN');
      assert.equal(up.seen.get('nx1.up.test'), 1, 'NXDOMAIN from the cache');
    }
    await sleep(Math.max(0, 5200 - (Date.now() - firstDone)));
    assert.deepEqual((await q('short.up.test')).answer, ['short.up.test. 5 IN A 192.0.2.1'], 'fresh from the upstream');
    assert.equal(up.seen.get('short.up.test'), 2, 'expired after 5 s, asked again');
    await sleep(Math.max(0, 5200 - (Date.now() - nxDone)));
    const nxBefore = up.seen.get('nx1.up.test')!;
    assert.equal((await q('nx1.up.test')).status, 'NXDOMAIN');
    assert.equal(up.seen.get('nx1.up.test'), nxBefore + 1, 'an NXDOMAIN without SOA is kept 5 s, not 30');
    if (Date.now() - tSoa < 7500) {
      assert.equal((await q('nxsoa.up.test')).status, 'NXDOMAIN');
      assert.equal(up.seen.get('nxsoa.up.test'), 1, 'the one with SOA minimum 8 is still cached after 5 s');
    }
  });

  test('max_concurrent 1000: of 1 100 simultaneous outside questions 1 000 reach the upstream, 100 get REFUSED at once; cluster names are still answered', async () => {
    const client = createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
    const replies = new Map<number, number>();
    client.on('message', (m) => replies.set(m.readUInt16BE(0), m[3]! & 0xf));
    await new Promise<void>((res) => client.bind(0, H, () => res()));
    try {
      // In batches of 50, each sent again where it got lost (a socket buffer overflows on a busy machine), so all 1 100 are in.
      const arrived = (i: number) => up.seen.has(`slow-${i}.up.test`) || replies.has(i);
      for (let from = 0; from < 1100; from += 50) {
        const batch = Array.from({ length: 50 }, (_, k) => from + k);
        for (let attempt = 0; attempt < 20 && !batch.every(arrived); attempt++) {
          for (const i of batch.filter((i) => !arrived(i))) client.send(dnsPacket.encode({ type: 'query', id: i, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name: `slow-${i}.up.test` }] }), dns.port, H);
          for (let w = 0; w < 20 && !batch.every(arrived); w++) await sleep(25);
        }
      }
      // The upstream holds every answer until released.
      await until('1 000 questions at the upstream and 100 refusals', () => up.inFlight >= 1000 && replies.size >= 100, () => `${up.inFlight} at the upstream, ${replies.size} replies (${JSON.stringify([...new Set(replies.values())])})`);
      await sleep(300);
      assert.equal(up.inFlight, 1000, 'exactly the bound reached the upstream');
      assert.equal(replies.size, 100, 'the rest was answered at once');
      assert.deepEqual([...new Set(replies.values())], [5], 'REFUSED, as CoreDNS\'s forward answers above max_concurrent');
      assert.deepEqual((await ask(dns.port, 'svc1.testns.svc.cluster.local')).answers, ['10.0.0.1'], 'a cluster name is answered while the forwarder is full');
      const over = await q('another.up.test');
      assert.equal(over.status, 'REFUSED', 'dig sees REFUSED for one more outside name');
      assert.equal(up.seen.get('another.up.test'), undefined, 'which never reached the upstream');
      up.release();
      await until('every answer', () => replies.size >= 1100, () => `${replies.size} replies`);
      const counts = { NOERROR: 0, REFUSED: 0, other: 0 };
      for (const r of replies.values()) counts[r === 0 ? 'NOERROR' : r === 5 ? 'REFUSED' : 'other']++;
      assert.deepEqual(counts, { NOERROR: 1000, REFUSED: 100, other: 0 });
      assert.equal(up.maxInFlight, 1000, 'never more than 1 000 at the upstream');
      assert.equal((await q('free-again.up.test')).status, 'NOERROR', 'once the answers are back the forwarder takes questions again');
    } finally {
      client.close();
    }
  });
});

describe('an upstream that does not answer', () => {
  test('SERVFAIL after the 2 s timeout for every waiting question, while cluster names answer at once', async () => {
    const up = await fakeUpstream();
    const dns = await startOn(up.port);
    try {
      const waiting = Array.from({ length: 20 }, () => ask(dns.port, 'silent.up.test'));
      const seen = dig(H, dns.port, ['+time=8', 'silent.up.test', 'A']);
      await sleep(300);
      const cluster = await ask(dns.port, 'svc1.testns.svc.cluster.local');
      assert.deepEqual(cluster.answers, ['10.0.0.1']);
      assert.ok(cluster.ms < 1000, `a cluster name answered in ${cluster.ms} ms with 21 forwards pending`);
      assert.deepEqual((await dig(H, dns.port, ['svc1.testns.svc.cluster.local', 'A', '+tcp'])).answer, ['svc1.testns.svc.cluster.local. 30 IN A 10.0.0.1'], 'over TCP too');
      for (const r of await Promise.all(waiting)) {
        assert.equal(r.rcode, 2, 'SERVFAIL');
        assert.ok(r.ms >= 1900 && r.ms < 4000, `after the 2 s timeout: ${r.ms} ms`);
      }
      assert.equal((await seen).status, 'SERVFAIL', 'dig shows SERVFAIL');
      assert.equal(up.seen.get('silent.up.test'), 21, 'a failed lookup is not cached: each question went upstream');
    } finally {
      await dns.close();
      up.close();
    }
  });
});

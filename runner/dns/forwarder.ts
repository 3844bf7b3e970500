// Names outside the cluster zones go to the resolvers of a resolv.conf, as CoreDNS's
// `forward . /etc/resolv.conf { max_concurrent 1000 }` with `cache 30` in front: bounded
// concurrency (REFUSED beyond it), a timeout per upstream, TCP when the UDP answer is
// truncated, and a cache of upstream answers as CoreDNS's cache plugin keeps them: for the
// smallest TTL in the reply, at least 5 s and at most 30 s, every record of the reply
// (the first one too) carrying that TTL, counting down while it is served from the cache.
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import dnsPacket from 'dns-packet';
import type { UpstreamAnswer } from '../core/dns/answer.ts';
import type { RR } from '../core/dns/records.ts';

export interface Upstream {
  host: string;
  port: number;
}

export interface ForwarderOptions {
  upstreams: Upstream[];
  /** Per upstream try; CoreDNS's forward uses about 2 s before moving on. */
  timeoutMs?: number;
  maxConcurrent?: number;
  /** Cache TTL cap in seconds (cache 30); 0 disables the cache. */
  cacheSeconds?: number;
  cacheCapacity?: number;
}

/** The nameservers of a resolv.conf. */
export function resolvConfUpstreams(path = '/etc/resolv.conf'): Upstream[] {
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .map((l) => l.replace(/[#;].*$/, '').trim().split(/\s+/))
    .filter((f) => f[0] === 'nameserver' && f[1])
    .map((f) => ({ host: f[1]!.replace(/%.*$/, ''), port: 53 }));
}

type Packet = ReturnType<typeof dnsPacket.decode> & { rcode?: string };

/** The cache plugin's minimum TTL for success and denial. */
const MIN_CACHE_TTL = 5;

/** Sets the TTL of every record but OPT in an encoded message, in place; false if it does not parse. */
function setTtls(b: Buffer, ttl: number): boolean {
  const skipName = (off: number) => {
    for (let hops = 0; off < b.length && hops < 128; hops++) {
      const len = b[off]!;
      if (len === 0) return off + 1;
      if ((len & 0xc0) === 0xc0) return off + 2;
      if (len & 0xc0) return -1;
      off += len + 1;
    }
    return -1;
  };
  if (b.length < 12) return false;
  let off = 12;
  for (let i = 0, n = b.readUInt16BE(4); i < n; i++) {
    off = skipName(off);
    if (off < 0 || off + 4 > b.length) return false;
    off += 4;
  }
  const at: number[] = [];
  for (let i = 0, n = b.readUInt16BE(6) + b.readUInt16BE(8) + b.readUInt16BE(10); i < n; i++) {
    off = skipName(off);
    if (off < 0 || off + 10 > b.length) return false;
    if (b.readUInt16BE(off) !== 41) at.push(off + 4);
    off += 10 + b.readUInt16BE(off + 8);
    if (off > b.length) return false;
  }
  for (const o of at) b.writeUInt32BE(ttl, o);
  return true;
}

interface CacheEntry {
  packet: Packet;
  storedAt: number;
  ttl: number;
}

export class Forwarder {
  private inFlight = 0;
  private cache = new Map<string, CacheEntry>();
  readonly timeoutMs: number;
  readonly maxConcurrent: number;
  readonly cacheSeconds: number;
  private readonly cacheCapacity: number;

  constructor(readonly opts: ForwarderOptions) {
    this.timeoutMs = opts.timeoutMs ?? 2000;
    this.maxConcurrent = opts.maxConcurrent ?? 1000;
    this.cacheSeconds = opts.cacheSeconds ?? 30;
    this.cacheCapacity = opts.cacheCapacity ?? 9984;
  }

  /** Forwards a client's query; the reply carries the client's ID and question. undefined: no upstream answered. */
  async forward(query: Buffer, q: { name: string; type: string }, transport: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    let decoded: Packet;
    try {
      decoded = dnsPacket.decode(query);
    } catch {
      return undefined;
    }
    const doBit = !!decoded.additionals?.some((a) => a.type === 'OPT' && (a as { flag_do?: boolean }).flag_do);
    const key = `${q.name.toLowerCase()}|${q.type}|${doBit ? 1 : 0}`;
    const cached = this.fromCache(key, decoded);
    if (cached) return cached;
    if (this.inFlight >= this.maxConcurrent) return refused(decoded);
    this.inFlight++;
    try {
      const reply = await this.exchangeAny(query, transport);
      if (!reply) return undefined;
      const ttl = this.cacheTtl(reply);
      if (ttl !== undefined && setTtls(reply, ttl)) this.store(key, reply, ttl);
      reply.writeUInt16BE(decoded.id ?? 0, 0);
      return reply;
    } finally {
      this.inFlight--;
    }
  }

  /** Looks a name up upstream (for ExternalName targets); errors are reported, not thrown. */
  async lookup(name: string, type: string): Promise<UpstreamAnswer> {
    const query = dnsPacket.encode({ type: 'query', id: (Math.random() * 65536) | 0, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: type as 'A', name: name.replace(/\.$/, '') }] });
    const reply = await this.forward(Buffer.from(query), { name, type }, 'udp');
    if (!reply) return { error: `no upstream answered for ${name}` };
    try {
      const p = dnsPacket.decode(reply) as Packet;
      if (p.rcode === 'REFUSED' || p.rcode === 'SERVFAIL') return { error: `upstream said ${p.rcode}` };
      const answer: RR[] = [];
      for (const a of p.answers ?? []) {
        const n = `${a.name}.`;
        const ttl = (a as { ttl?: number }).ttl ?? 0;
        if (a.type === 'A') answer.push({ name: n, type: 'A', ttl, data: { a: a.data as string } });
        else if (a.type === 'AAAA') answer.push({ name: n, type: 'AAAA', ttl, data: { aaaa: a.data as string } });
        else if (a.type === 'CNAME') answer.push({ name: n, type: 'CNAME', ttl, data: { target: `${a.data as string}.` } });
      }
      return { answer, truncated: !!p.flag_tc };
    } catch (err) {
      return { error: (err as Error).message };
    }
  }

  private fromCache(key: string, query: Packet): Buffer | undefined {
    const e = this.cache.get(key);
    if (!e) return undefined;
    const age = Math.floor((Date.now() - e.storedAt) / 1000);
    if (age >= e.ttl) {
      this.cache.delete(key);
      return undefined;
    }
    const age1 = <T,>(rr: T): T => ({ ...rr, ttl: e.ttl - age });
    const p = e.packet;
    const out = {
      ...p,
      id: query.id,
      questions: query.questions,
      answers: (p.answers ?? []).map(age1),
      authorities: (p.authorities ?? []).map(age1),
      additionals: (p.additionals ?? []).filter((a) => a.type !== 'OPT').map(age1),
    };
    try {
      return Buffer.from(dnsPacket.encode(out as Parameters<typeof dnsPacket.encode>[0]));
    } catch {
      return undefined;
    }
  }

  /**
   * How long CoreDNS's `cache 30` keeps a reply (undefined: not at all): NOERROR and NXDOMAIN
   * answers that are not truncated, for their smallest TTL (a negative answer's SOA minimum
   * counts; no records at all: 5 s), at least 5 s and at most `cacheSeconds`.
   */
  private cacheTtl(reply: Buffer): number | undefined {
    if (this.cacheSeconds <= 0) return undefined;
    let p: Packet;
    try {
      p = dnsPacket.decode(reply);
    } catch {
      return undefined;
    }
    if ((p.rcode !== 'NOERROR' && p.rcode !== 'NXDOMAIN') || p.flag_tc) return undefined;
    const rrs = [...(p.answers ?? []), ...(p.authorities ?? []), ...(p.additionals ?? []).filter((a) => a.type !== 'OPT')];
    let ttl = rrs.length ? 3600 : MIN_CACHE_TTL;
    for (const r of rrs) ttl = Math.min(ttl, (r as { ttl?: number }).ttl ?? 0);
    const negative = p.rcode === 'NXDOMAIN' || !(p.answers ?? []).length;
    if (negative) for (const r of p.authorities ?? []) if (r.type === 'SOA') ttl = Math.min(ttl, (r.data as { minimum?: number }).minimum ?? ttl);
    return Math.min(this.cacheSeconds, Math.max(MIN_CACHE_TTL, ttl));
  }

  private store(key: string, reply: Buffer, ttl: number): void {
    let p: Packet;
    try {
      p = dnsPacket.decode(reply);
    } catch {
      return;
    }
    if (this.cache.size >= this.cacheCapacity) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, { packet: p, storedAt: Date.now(), ttl });
  }

  /** Tries each upstream in turn; UDP first, TCP when the UDP answer is truncated. */
  private async exchangeAny(query: Buffer, transport: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    for (const u of this.opts.upstreams) {
      try {
        let reply = transport === 'tcp' ? await this.tcp(u, query) : await this.udp(u, query);
        if (transport === 'udp' && reply[2]! & 2) reply = await this.tcp(u, query).catch(() => reply);
        return reply;
      } catch {
        // next upstream
      }
    }
    return undefined;
  }

  private udp(u: Upstream, query: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const sock = createSocket(u.host.includes(':') ? 'udp6' : 'udp4');
      const id = (Math.random() * 65536) | 0;
      const q = Buffer.from(query);
      q.writeUInt16BE(id, 0);
      const done = (err?: Error, b?: Buffer) => {
        clearTimeout(timer);
        sock.close();
        if (err) reject(err);
        else resolve(b!);
      };
      const timer = setTimeout(() => done(new Error('timeout')), this.timeoutMs);
      sock.on('error', (e) => done(e));
      sock.on('message', (m) => {
        if (m.length >= 12 && m.readUInt16BE(0) === id) done(undefined, m);
      });
      sock.send(q, u.port, u.host);
    });
  }

  private tcp(u: Upstream, query: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const sock = connect({ host: u.host, port: u.port });
      let buf = Buffer.alloc(0);
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new Error('timeout'));
      }, this.timeoutMs);
      sock.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      sock.on('connect', () => {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(query.length);
        sock.write(Buffer.concat([len, query]));
      });
      sock.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          clearTimeout(timer);
          sock.destroy();
          resolve(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        }
      });
    });
  }
}

function refused(q: Packet): Buffer {
  // dns-packet has no rcode field on encode: the 4-bit rcode goes into the flags (REFUSED = 5).
  return Buffer.from(dnsPacket.encode({ type: 'response', id: q.id, flags: ((q.flags ?? 0) & dnsPacket.RECURSION_DESIRED) | 5, questions: q.questions }));
}

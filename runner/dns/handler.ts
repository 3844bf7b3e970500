// One DNS exchange, as CoreDNS's server does it: accept or refuse the message (miekg's
// DefaultMsgAcceptFunc), EDNS version and class checks, the kubernetes answer for cluster
// zones (looking ExternalName targets up through the forwarder), everything else
// forwarded; then OPT echo, loadbalance shuffling and truncation to the client's size.
import dnsPacket from 'dns-packet';
import dnsClasses from 'dns-packet/classes.js';
import dnsTypes from 'dns-packet/types.js';
import type { Answerer} from '../core/dns/answer.ts';
import { upstreamKey, type UpstreamAnswers } from '../core/dns/answer.ts';
import { RCODES, type RR, type Rcode } from '../core/dns/records.ts';
import { ECHOED_EDNS_OPTIONS, encodeMessage, type Message, type Opt, type WireQuestion } from '../core/dns/wire.ts';
import type { Forwarder } from './forwarder.ts';
import type { DnsMetrics } from './metrics.ts';

export type Transport = 'udp' | 'tcp';

const OPCODE_QUERY = 0;
const OPCODE_NOTIFY = 4;

interface Decoded {
  id: number;
  flags: number;
  opcode: string;
  questions: { name: string; type: string; class: string }[];
  additionals: { type: string; name: string; udpPayloadSize?: number; ednsVersion?: number; flag_do?: boolean; options?: { code: number; data?: Buffer }[] }[];
}


/** The header flags of a reply to `req`: QR, the request's opcode, RD and CD copied. */
function replyHeader(buf: Buffer, rcode: number, aa: boolean) {
  const f1 = buf[2]!;
  const f2 = buf[3]!;
  return { id: buf.readUInt16BE(0), qr: true, opcode: (f1 >> 3) & 0xf, aa, tc: false, rd: !!(f1 & 1), ra: false, ad: false, cd: !!(f2 & 0x10), rcode };
}

/** A header-only reply (FORMERR, NOTIMP): what miekg's server sends for messages it rejects. */
function rejection(buf: Buffer, rcode: number): Buffer {
  const h = replyHeader(buf, rcode, false);
  return Buffer.from(encodeMessage({ ...h, opcode: rcode === RCODES.NOTIMP ? h.opcode : OPCODE_QUERY, questions: [], answer: [], authority: [], additional: [] }));
}

export interface HandlerOptions {
  answerer: Answerer;
  forwarder: Forwarder;
  metrics?: DnsMetrics;
  /** Randomize A/AAAA order in answers, like CoreDNS's loadbalance plugin (kubeadm enables it). */
  loadbalance?: boolean;
}

/**
 * An encoded cluster answer. Valid while nothing it depends on changed: for a name in a
 * namespace (<x>.<ns>.svc|pod.<zone>) without CNAMEs, that namespace's generation (and for
 * a negative answer the SOA serial); for anything else, the index's generation.
 */
interface Cached {
  gen: number;
  /** The namespace whose generation `gen` is; undefined: the whole index's. */
  scope?: string;
  /** The SOA serial in the authority section, if there is one. */
  serial?: number;
  synced: boolean;
  bytes: Uint8Array;
  zone: string;
  type: string;
  rcode: string;
  /** Where the answer's A/AAAA records are (each `size` bytes), shuffled on every hit like loadbalance does. */
  shuffle?: { offsets: number[]; size: number };
}

/** The question (and a bare OPT record) of a plain query, read straight off the wire. */
interface Quick {
  /** End of the question name. */
  nameEnd: number;
  qtype: number;
  qclass: number;
  /** The name's bytes, ASCII only; lower-cased unless `exact`. */
  key: string;
  opt?: { udpSize: number; version: number; do: boolean };
}

const MAX_CACHED = 50_000;

/**
 * The question of a query with one question and at most an option-less OPT record, or
 * undefined for anything else (compression, non-ASCII names, EDNS options, other
 * records, trailing bytes), which takes the general path.
 */
function quickParse(buf: Buffer, exact: (qtype: number) => boolean): Quick | undefined {
  let off = 12;
  let total = 0;
  for (;;) {
    if (off >= buf.length) return undefined;
    const len = buf[off]!;
    if (len === 0) break;
    if (len > 63) return undefined;
    total += len + 1;
    if (total > 254 || off + 1 + len > buf.length) return undefined;
    for (let i = off + 1; i <= off + len; i++) if (buf[i]! >= 0x80) return undefined;
    off += len + 1;
  }
  const nameEnd = off + 1;
  if (nameEnd + 4 > buf.length) return undefined;
  const qtype = buf.readUInt16BE(nameEnd);
  const qclass = buf.readUInt16BE(nameEnd + 2);
  let end = nameEnd + 4;
  const an = buf.readUInt16BE(6);
  const ns = buf.readUInt16BE(8);
  const ar = buf.readUInt16BE(10);
  if (an !== 0 || ns !== 0 || ar > 1) return undefined;
  let opt: Quick['opt'];
  if (ar === 1) {
    // root name, TYPE 41, CLASS = UDP size, TTL = extended rcode | version | flags, RDLEN 0
    if (end + 11 !== buf.length || buf[end] !== 0 || buf.readUInt16BE(end + 1) !== 41 || buf.readUInt16BE(end + 9) !== 0) return undefined;
    opt = { udpSize: buf.readUInt16BE(end + 3), version: buf[end + 6]!, do: (buf[end + 7]! & 0x80) !== 0 };
    end += 11;
  }
  if (end !== buf.length) return undefined;
  const raw = buf.toString('latin1', 12, nameEnd);
  return { nameEnd, qtype, qclass, key: exact(qtype) ? raw : raw.toLowerCase(), opt };
}

const TYPE_SRV = 33;
const TYPE_NS = 2;
/** SRV targets are not compressed, so they keep the zone's letter case as first asked: those answers are cached per exact name. */
const exactCase = (qtype: number) => qtype === TYPE_SRV || qtype === TYPE_NS;

/** Everything besides the ID and the question's letter case that the reply's bytes depend on. */
function cacheKey(buf: Buffer, q: Quick, transport: Transport): string {
  const maxSize = transport === 'tcp' ? 65535 : q.opt ? Math.max(512, q.opt.udpSize) : 512;
  return `${q.key}|${q.qtype}|${q.qclass}|${maxSize}|${q.opt ? `${q.opt.do ? 'do' : 'e'}${q.opt.udpSize}` : '-'}|${buf[2]! & 0x79}|${buf[3]! & 0x10}`;
}

/** Offsets of the answer section's A/AAAA records in an encoded reply, if they all have one size. */
function addressRecords(b: Uint8Array): { offsets: number[]; size: number } | undefined {
  const skipName = (off: number) => {
    while (off < b.length) {
      const len = b[off]!;
      if (len === 0) return off + 1;
      if ((len & 0xc0) === 0xc0) return off + 2;
      off += len + 1;
    }
    return -1;
  };
  const u16 = (at: number) => (b[at]! << 8) | b[at + 1]!;
  let off = skipName(12) + 4;
  const offsets: number[] = [];
  let size = 0;
  for (let i = 0, n = u16(6); i < n; i++) {
    const start = off;
    const afterName = skipName(off);
    if (afterName < 0 || afterName + 10 > b.length) return undefined;
    const type = u16(afterName);
    off = afterName + 10 + u16(afterName + 8);
    if (type === 1 || type === 28) {
      if (size && off - start !== size) return undefined;
      size = off - start;
      offsets.push(start);
    }
  }
  return { offsets, size };
}

/** The namespace of a name <x>.<ns>.svc|pod.<zone> (lower-case, with the trailing dot) in the cluster zone. */
function namespaceOf(name: string, zone: string): string | undefined {
  if (name.length <= zone.length + 1) return undefined;
  const labels = name.slice(0, name.length - zone.length - 1).split('.');
  const n = labels.length;
  if (n < 2 || (labels[n - 1] !== 'svc' && labels[n - 1] !== 'pod')) return undefined;
  return labels[n - 2];
}

/** A cached reply for this query: its ID, the question's letter case, and (loadbalance) the address records shuffled. */
function fromCache(hit: Cached, buf: Buffer, nameEnd: number): Buffer {
  const bytes = Buffer.allocUnsafe(hit.bytes.length);
  bytes.set(hit.bytes);
  buf.copy(bytes, 0, 0, 2);
  // The question (and owner names pointing at it) take the letter case the client used.
  buf.copy(bytes, 12, 12, nameEnd);
  const s = hit.shuffle;
  if (s && s.offsets.length > 1) {
    const blocks = s.offsets.map((o) => hit.bytes.subarray(o, o + s.size));
    for (let i = blocks.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [blocks[i], blocks[j]] = [blocks[j]!, blocks[i]!];
    }
    s.offsets.forEach((o, i) => bytes.set(blocks[i]!, o));
  }
  return bytes;
}

export class DnsHandler {
  /** Encoded cluster answers, valid for one index generation. */
  private cache = new Map<string, Cached>();

  constructor(private readonly o: HandlerOptions) {}

  /** Handles one message; resolves to the reply bytes, or undefined to stay silent. Never throws. */
  handle(buf: Buffer, transport: Transport): Promise<Buffer | undefined> {
    const started = process.hrtime.bigint();
    try {
      const hit = this.cached(buf, transport);
      if (hit) {
        this.o.metrics?.observe(hit.meta, transport, buf.length, hit.bytes.length, Number(process.hrtime.bigint() - started) / 1e9);
        return Promise.resolve(hit.bytes);
      }
    } catch {
      // fall through to the general path, which answers SERVFAIL if it fails too
    }
    return this.handleSlow(buf, transport, started);
  }

  /** The reply from the cache of cluster answers, without decoding the message, if there is one. */
  private cached(buf: Buffer, transport: Transport): { bytes: Buffer; meta: { zone: string; type: string; rcode: string; plugin: string } } | undefined {
    if (this.cache.size === 0 || buf.length < 12) return undefined;
    const f1 = buf[2]!;
    const opcode = (f1 >> 3) & 0xf;
    if (f1 & 0x80 || (opcode !== OPCODE_QUERY && opcode !== OPCODE_NOTIFY) || buf.readUInt16BE(4) !== 1) return undefined;
    const q = quickParse(buf, exactCase);
    if (!q || q.qclass !== 1 || (q.opt && q.opt.version > 0)) return undefined;
    const hit = this.cache.get(cacheKey(buf, q, transport));
    if (!hit || !this.valid(hit)) return undefined;
    return { bytes: fromCache(hit, buf, q.nameEnd), meta: { zone: hit.zone, type: hit.type, rcode: hit.rcode, plugin: 'kubernetes' } };
  }

  private valid(hit: Cached): boolean {
    const index = this.o.answerer.backend.index;
    if (hit.synced !== index.synced) return false;
    if (hit.scope === undefined) return hit.gen === index.generation;
    return hit.gen === index.namespaceGeneration(hit.scope) && (hit.serial === undefined || hit.serial === index.serial);
  }

  private async handleSlow(buf: Buffer, transport: Transport, started: bigint): Promise<Buffer | undefined> {
    try {
      const r = await this.exchange(buf, transport);
      if (r) this.o.metrics?.observe(r.meta, transport, buf.length, r.bytes.length, Number(process.hrtime.bigint() - started) / 1e9);
      return r?.bytes;
    } catch {
      if (buf.length < 12) return undefined;
      return rejection(buf, RCODES.SERVFAIL);
    }
  }

  private async exchange(buf: Buffer, transport: Transport): Promise<{ bytes: Buffer; meta: { zone: string; type: string; rcode: string; plugin: string } } | undefined> {
    if (buf.length < 12) return undefined; // not even a header: let the client time out
    const f1 = buf[2]!;
    if (f1 & 0x80) return undefined; // a response: ignore
    const opcode = (f1 >> 3) & 0xf;
    const meta = { zone: '.', type: 'other', rcode: 'FORMERR', plugin: '' };
    if (opcode !== OPCODE_QUERY && opcode !== OPCODE_NOTIFY) return { bytes: rejection(buf, RCODES.NOTIMP), meta: { ...meta, rcode: 'NOTIMP' } };
    const [qd, an, ns, ar] = [buf.readUInt16BE(4), buf.readUInt16BE(6), buf.readUInt16BE(8), buf.readUInt16BE(10)];
    if (qd !== 1 || an > 1 || ns > 1 || ar > 2) return { bytes: rejection(buf, RCODES.FORMERR), meta };
    let msg: Decoded;
    try {
      msg = dnsPacket.decode(buf) as unknown as Decoded;
    } catch {
      return { bytes: rejection(buf, RCODES.FORMERR), meta };
    }
    const q = msg.questions[0];
    if (!q) return { bytes: rejection(buf, RCODES.FORMERR), meta };
    const name = q.name === '' || q.name === '.' ? '.' : `${q.name}.`;
    meta.type = q.type;
    const optIn = msg.additionals.find((a) => a.type === 'OPT');
    const question: WireQuestion = { name, type: code(q.type, dnsTypes.toType), class: code(q.class, dnsClasses.toClass) };
    const opt: Opt | undefined = optIn
      ? {
          udpSize: optIn.udpPayloadSize ?? 512,
          extendedRcode: 0,
          version: 0,
          do: !!optIn.flag_do,
          options: (optIn.options ?? []).filter((o) => ECHOED_EDNS_OPTIONS.has(o.code)).map((o) => ({ code: o.code, data: o.data ?? new Uint8Array() })),
        }
      : undefined;
    const maxSize = transport === 'tcp' ? 65535 : opt ? Math.max(512, opt.udpSize) : 512;
    const reply = (rcode: Rcode, aa: boolean, sections: { answer?: RR[]; authority?: RR[]; additional?: RR[]; tc?: boolean } = {}, optOut = opt): Buffer => {
      const m: Message = {
        ...replyHeader(buf, RCODES[rcode], aa),
        tc: !!sections.tc,
        questions: [question],
        answer: sections.answer ?? [],
        authority: sections.authority ?? [],
        additional: sections.additional ?? [],
        ...(optOut ? { opt: optOut } : {}),
      };
      meta.rcode = rcode;
      return Buffer.from(encodeMessage(m, maxSize));
    };

    if (optIn && (optIn.ednsVersion ?? 0) > 0) {
      meta.rcode = 'BADVERS';
      return { bytes: reply('NOERROR', false, {}, { ...opt!, extendedRcode: 1 }), meta };
    }
    if (q.class !== 'IN') return { bytes: reply('REFUSED', false), meta };

    const zone = this.o.answerer.zoneOf(name);
    if (zone) {
      meta.zone = zone;
      meta.plugin = 'kubernetes';
      const index = this.o.answerer.backend.index;
      const gen = index.generation;
      const scope = zone === this.o.answerer.backend.primaryZone ? namespaceOf(name.toLowerCase(), zone) : undefined;
      const scopeGen = scope === undefined ? 0 : index.namespaceGeneration(scope);
      const upstream: UpstreamAnswers = new Map();
      for (let i = 0; i < 12; i++) {
        const r = this.o.answerer.answer({ name, type: q.type }, upstream);
        if (r.kind === 'forward') break;
        if (r.kind === 'need') {
          upstream.set(upstreamKey(r.name, r.type), await this.o.forwarder.lookup(r.name, r.type));
          continue;
        }
        const answer = this.o.loadbalance ? shuffleAddresses(r.answer) : r.answer;
        const bytes = reply(r.rcode, r.authoritative, { answer, authority: r.authority, additional: r.additional, tc: r.truncated });
        // Answers that needed an upstream lookup are not kept (those records age); neither
        // are replies that echo EDNS options (a client cookie), which quickParse leaves out.
        if (upstream.size === 0 && gen === index.generation) {
          // A CNAME chain may lead into another namespace: such answers go at any change.
          const scoped = scope !== undefined && !r.answer.some((x) => x.type === 'CNAME');
          const serial = r.authority.some((x) => x.type === 'SOA') ? index.serial : undefined;
          this.remember(buf, transport, bytes, { zone, type: q.type, rcode: r.rcode, synced: index.synced, ...(scoped ? { scope, gen: scopeGen, ...(serial !== undefined ? { serial } : {}) } : { gen }) });
        }
        return { bytes, meta };
      }
    }
    meta.plugin = 'forward';
    const forwarded = await this.o.forwarder.forward(buf, { name, type: q.type }, transport);
    if (forwarded) {
      meta.rcode = rcodeName(forwarded[3]! & 0xf);
      const withOpt = opt ? setOpt(forwarded, opt) : forwarded;
      return { bytes: withOpt.length > maxSize ? truncateForwarded(withOpt) : withOpt, meta };
    }
    return { bytes: reply('SERVFAIL', false), meta };
  }

  /** Keeps an encoded cluster answer for the queries that quickParse reads (the same key on the way in). */
  private remember(buf: Buffer, transport: Transport, bytes: Buffer, entry: Omit<Cached, 'bytes' | 'shuffle'>): void {
    const q = quickParse(buf, exactCase);
    if (!q || q.qclass !== 1 || (q.opt && q.opt.version > 0)) return;
    let shuffle: Cached['shuffle'];
    if (this.o.loadbalance && bytes.readUInt16BE(6) > 1) {
      shuffle = addressRecords(bytes);
      // A truncated reply holds a random subset of the addresses: shuffling it again would not be the same.
      if (!shuffle || (shuffle.offsets.length > 1 && bytes[2]! & 2)) return;
    }
    if (this.cache.size >= MAX_CACHED) this.cache.clear();
    this.cache.set(cacheKey(buf, q, transport), { ...entry, bytes: new Uint8Array(bytes), ...(shuffle ? { shuffle } : {}) });
  }
}

/** dns-packet decodes codes it has no name for as "UNKNOWN_<n>"; its tables don't map those back. */
function code(name: string, table: (n: string) => number): number {
  const m = /^UNKNOWN_(\d+)$/.exec(name);
  return m ? Number(m[1]) : table(name);
}

function rcodeName(n: number): string {
  return (Object.entries(RCODES).find(([, v]) => v === n)?.[0] ?? String(n)) as string;
}


/** CoreDNS's loadbalance: A and AAAA records in random order, CNAMEs first as they were. */
function shuffleAddresses(rrs: RR[]): RR[] {
  const addr = rrs.filter((r) => r.type === 'A' || r.type === 'AAAA');
  if (addr.length < 2) return rrs;
  for (let i = addr.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [addr[i], addr[j]] = [addr[j]!, addr[i]!];
  }
  let k = 0;
  return rrs.map((r) => (r.type === 'A' || r.type === 'AAAA' ? addr[k++]! : r));
}

/** An upstream reply too big for the client's UDP size: the header and question with TC set. */
function truncateForwarded(b: Buffer): Buffer {
  let off = 12;
  while (off < b.length && b[off] !== 0) off += (b[off]! & 0xc0) === 0xc0 ? 1 : b[off]! + 1;
  const end = Math.min(b.length, off + 5);
  const out = Buffer.from(b.subarray(0, end));
  out[2] = out[2]! | 2;
  out.writeUInt16BE(1, 4);
  out.writeUInt16BE(0, 6);
  out.writeUInt16BE(0, 8);
  out.writeUInt16BE(0, 10);
  return out;
}

/**
 * CoreDNS's SizeAndDo on a forwarded reply: the upstream's OPT (or the client's, if the
 * upstream sent none) goes back with version 0, the client's UDP size and DO bit.
 */
function setOpt(reply: Buffer, opt: Opt): Buffer {
  try {
    const p = dnsPacket.decode(reply) as ReturnType<typeof dnsPacket.decode> & { additionals: { type: string }[] };
    const others = (p.additionals ?? []).filter((a) => a.type !== 'OPT');
    const upstreamOpt = (p.additionals ?? []).find((a) => a.type === 'OPT') as { options?: unknown[] } | undefined;
    const options = upstreamOpt ? (upstreamOpt.options ?? []) : (opt.options ?? []).map((o) => ({ code: o.code, data: Buffer.from(o.data) }));
    const out = { ...p, additionals: [...others, { type: 'OPT', name: '.', udpPayloadSize: opt.udpSize, extendedRcode: 0, ednsVersion: 0, flags: opt.do ? dnsPacket.DNSSEC_OK : 0, options }] };
    const encoded = Buffer.from(dnsPacket.encode(out as Parameters<typeof dnsPacket.encode>[0]));
    // dns-packet has no rcode on encode: keep the upstream's header flags byte for byte.
    encoded[2] = reply[2]!;
    encoded[3] = reply[3]!;
    return encoded;
  } catch {
    return reply;
  }
}

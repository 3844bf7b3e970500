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

export class DnsHandler {
  /** Encoded cluster answers for single-record or negative replies, valid for one index generation. */
  private cache = new Map<string, { gen: number; bytes: Uint8Array }>();

  constructor(private readonly o: HandlerOptions) {}

  /** Handles one message; resolves to the reply bytes, or undefined to stay silent. Never throws. */
  async handle(buf: Buffer, transport: Transport): Promise<Buffer | undefined> {
    const started = process.hrtime.bigint();
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
      // Replies echo some EDNS options (a client cookie), so only option-less queries share cached bytes.
      const cacheable = !opt?.options?.length;
      const key = `${name.toLowerCase()}|${q.type}|${maxSize}|${opt ? (opt.do ? 'do' : 'e') : '-'}|${opt?.udpSize ?? ''}|${buf[2]! & 1}|${buf[3]! & 0x10}`;
      const gen = this.o.answerer.backend.index.generation;
      const hit = this.cache.get(key);
      if (cacheable && hit && hit.gen === gen) {
        const bytes = Buffer.from(hit.bytes);
        buf.copy(bytes, 0, 0, 2);
        // The question (and owner names pointing at it) take the letter case the client used.
        buf.copy(bytes, 12, 12, 12 + name.length + 1);
        meta.rcode = rcodeName(bytes[3]! & 0xf);
        return { bytes, meta };
      }
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
        const addresses = r.answer.filter((x) => x.type === 'A' || x.type === 'AAAA').length;
        // SRV targets are not compressed, so their zone keeps the first asker's letter case: not cached.
        if (cacheable && upstream.size === 0 && addresses <= 1 && q.type !== 'SRV' && q.type !== 'NS') {
          if (this.cache.size > 50_000) this.cache.clear();
          this.cache.set(key, { gen, bytes: new Uint8Array(bytes) });
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

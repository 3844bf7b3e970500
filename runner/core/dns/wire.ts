// Encoding DNS responses: name compression (RFC 1035 §4.1.4), which dns-packet lacks,
// and CoreDNS's truncation (miekg/dns Msg.Truncate). Decoding is dns-packet's job.
import { parseIP } from '../proxy/ip.ts';
import { RCODES, typeCode, type RR, type Rcode } from './records.ts';

export interface Opt {
  /** As the client sent it (replies keep the client's value; truncation uses at least 512). */
  udpSize: number;
  /** The upper 8 bits of the 12-bit rcode (BADVERS = 1). */
  extendedRcode: number;
  version: number;
  do: boolean;
  /** EDNS options echoed back (CoreDNS keeps NSID, EXPIRE, COOKIE, TCP-KEEPALIVE, PADDING). */
  options?: { code: number; data: Uint8Array }[];
}

export const ECHOED_EDNS_OPTIONS = new Set([3, 9, 10, 11, 12]);

export interface MessageHeader {
  id: number;
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  ad: boolean;
  cd: boolean;
  rcode: Rcode | number;
}

export interface WireQuestion {
  /** As on the wire (case kept), with a trailing dot. */
  name: string;
  type: number;
  class: number;
}

export interface Message extends MessageHeader {
  questions: WireQuestion[];
  answer: RR[];
  authority: RR[];
  additional: RR[];
  opt?: Opt;
}

export class WireError extends Error {}

function utf8(s: string): Uint8Array {
  let ascii = true;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) ascii = false;
  if (ascii) {
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  }
  const out: number[] = [];
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 0x3f));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 0x3f), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
  }
  return Uint8Array.from(out);
}

class Writer {
  buf = new Uint8Array(512);
  len = 0;
  private names = new Map<string, number>();

  constructor(private readonly compress: boolean) {}

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
  }
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.len++] = v & 0xff;
  }
  u16(v: number): void {
    this.ensure(2);
    this.buf[this.len++] = (v >> 8) & 0xff;
    this.buf[this.len++] = v & 0xff;
  }
  u32(v: number): void {
    this.u16(Math.floor(v / 65536) & 0xffff);
    this.u16(v & 0xffff);
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  setU16(at: number, v: number): void {
    this.buf[at] = (v >> 8) & 0xff;
    this.buf[at + 1] = v & 0xff;
  }

  /** A domain name; with compression, a known suffix becomes a pointer. */
  name(name: string, compressible = true): void {
    const full = name === '.' || name === '' ? '' : name.endsWith('.') ? name.slice(0, -1) : name;
    const labels = full === '' ? [] : full.split('.');
    let total = 1;
    let at = 0;
    for (let i = 0; i < labels.length; i++) {
      // The name from this label on (labels.slice(i).join('.')).
      const suffix = at === 0 ? full : full.slice(at);
      at += labels[i]!.length + 1;
      if (this.compress && compressible) {
        const known = this.names.get(suffix);
        if (known !== undefined) {
          this.u16(0xc000 | known);
          return;
        }
      }
      if (this.len < 0x3fff && compressible) this.names.set(suffix, this.len);
      const bytes = utf8(labels[i]!);
      if (bytes.length === 0 || bytes.length > 63) throw new WireError(`bad label in "${name}"`);
      total += bytes.length + 1;
      if (total > 255) throw new WireError(`name too long: "${name}"`);
      this.u8(bytes.length);
      this.bytes(bytes);
    }
    this.u8(0);
  }
}

/** Parsed addresses by their text: answers repeat the same few thousand, and parsing showed in profiles. */
const addressBytes = new Map<string, Uint8Array>();

function ipBytes(text: string, v6: boolean): Uint8Array {
  const key = v6 ? `6${text}` : `4${text}`;
  let b = addressBytes.get(key);
  if (!b) {
    const ip = parseIP(text);
    if (!ip) throw new WireError(`bad address ${text}`);
    b = v6 ? ip.bytes : ip.bytes.subarray(12);
    if (addressBytes.size >= 100_000) addressBytes.clear();
    addressBytes.set(key, b);
  }
  return b;
}

function writeRR(w: Writer, rr: RR): void {
  const code = typeCode(rr.type);
  if (code === undefined) throw new WireError(`unknown type ${rr.type}`);
  w.name(rr.name);
  w.u16(code);
  w.u16(rr.class ?? 1);
  w.u32(rr.ttl >>> 0);
  const lenAt = w.len;
  w.u16(0);
  const start = w.len;
  const d = rr.data;
  if ('a' in d) w.bytes(ipBytes(d.a, false));
  else if ('aaaa' in d) w.bytes(ipBytes(d.aaaa, true));
  else if ('target' in d) w.name(d.target);
  else if ('srv' in d) {
    w.u16(d.srv.priority);
    w.u16(d.srv.weight);
    w.u16(d.srv.port);
    // RFC 2782: SRV targets are never compressed.
    w.name(d.srv.target, false);
  } else if ('txt' in d) {
    for (const s of d.txt) {
      const b = utf8(s);
      for (let i = 0; i < b.length || i === 0; i += 255) {
        const part = b.subarray(i, i + 255);
        w.u8(part.length);
        w.bytes(part);
        if (b.length === 0) break;
      }
    }
  } else if ('soa' in d) {
    w.name(d.soa.mname);
    w.name(d.soa.rname);
    w.u32(d.soa.serial >>> 0);
    w.u32(d.soa.refresh);
    w.u32(d.soa.retry);
    w.u32(d.soa.expire);
    w.u32(d.soa.minimum);
  } else if ('mx' in d) {
    w.u16(d.mx.preference);
    w.name(d.mx.exchange);
  } else w.bytes(d.raw);
  w.setU16(lenAt, w.len - start);
}

function writeOpt(w: Writer, opt: Opt): void {
  w.u8(0);
  w.u16(41);
  w.u16(opt.udpSize);
  w.u8(opt.extendedRcode);
  w.u8(opt.version);
  w.u16(opt.do ? 0x8000 : 0);
  const options = opt.options ?? [];
  w.u16(options.reduce((n, o) => n + 4 + o.data.length, 0));
  for (const o of options) {
    w.u16(o.code);
    w.u16(o.data.length);
    w.bytes(o.data);
  }
}

const optLength = (opt: Opt) => 11 + (opt.options ?? []).reduce((n, o) => n + 4 + o.data.length, 0);

function rcodeNumber(r: Rcode | number): number {
  return typeof r === 'number' ? r : RCODES[r];
}

function header(w: Writer, m: MessageHeader, counts: [number, number, number, number]): void {
  w.u16(m.id);
  const rcode = rcodeNumber(m.rcode);
  w.u8((m.qr ? 0x80 : 0) | ((m.opcode & 0xf) << 3) | (m.aa ? 4 : 0) | (m.tc ? 2 : 0) | (m.rd ? 1 : 0));
  w.u8((m.ra ? 0x80 : 0) | (m.ad ? 0x20 : 0) | (m.cd ? 0x10 : 0) | (rcode & 0xf));
  for (const c of counts) w.u16(c);
}

/**
 * Encodes a message in at most `maxSize` bytes, compressing names. Like miekg's
 * Truncate, what does not fit is dropped section by section (answer, authority,
 * additional), TC is set if anything was dropped, and the OPT record is always kept.
 */
export function encodeMessage(m: Message, maxSize = 65535): Uint8Array {
  const size = Math.max(512, maxSize) - (m.opt ? optLength(m.opt) : 0);
  const w = new Writer(true);
  header(w, m, [0, 0, 0, 0]);
  for (const q of m.questions) {
    w.name(q.name);
    w.u16(q.type);
    w.u16(q.class);
  }
  const counts: [number, number, number, number] = [m.questions.length, 0, 0, 0];
  let dropped = false;
  const sections: RR[][] = [m.answer, m.authority, m.additional];
  sections.forEach((rrs, i) => {
    for (const rr of rrs) {
      if (dropped) return;
      const before = w.len;
      writeRR(w, rr);
      if (w.len > size) {
        w.len = before;
        dropped = true;
        return;
      }
      counts[i + 1]!++;
    }
  });
  if (m.opt) {
    writeOpt(w, m.opt);
    counts[3]++;
  }
  const out = w.buf.slice(0, w.len);
  const tc = m.tc || dropped;
  out[2] = (out[2]! & ~2) | (tc ? 2 : 0);
  for (let i = 0; i < 4; i++) {
    out[4 + i * 2] = (counts[i]! >> 8) & 0xff;
    out[5 + i * 2] = counts[i]! & 0xff;
  }
  return out;
}

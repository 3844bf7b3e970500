// Answering a question in a cluster zone, as CoreDNS's kubernetes plugin does (ServeDNS
// and plugin/backend_lookup.go): records, the rcode, the SOA on negative answers.
// ExternalName targets outside the zone are looked up "upstream"; the caller supplies
// those answers (see UpstreamAnswers) and asks again.
import { parseIP } from '../proxy/ip.ts';
import { NameError, type Backend, type Entry } from './backend.ts';
import { fqdn, isReverseZone, matchZone } from './names.ts';
import type { RR, Rcode } from './records.ts';

export interface Question {
  /** As asked (case kept), with or without a trailing dot. */
  name: string;
  type: string;
}

/** What an upstream lookup gave: its answer records and TC bit, or an error. */
export type UpstreamAnswer = { answer: RR[]; truncated: boolean } | { error: string };

export type UpstreamAnswers = Map<string, UpstreamAnswer>;

export const upstreamKey = (name: string, type: string) => `${fqdn(name)} ${type}`;

export type AnswerResult =
  | { kind: 'answer'; rcode: Rcode; authoritative: boolean; truncated: boolean; answer: RR[]; authority: RR[]; additional: RR[]; zone: string; reason?: string }
  /** Not ours after all (a reverse-zone name with no data): hand it to the forwarder. */
  | { kind: 'forward' }
  /** An out-of-zone name must be looked up first. */
  | { kind: 'need'; name: string; type: string };

const MAX_CNAME_CHAIN = 10;

class NeedUpstream {
  constructor(
    readonly name: string,
    readonly type: string,
  ) {}
}

const withDot = (n: string) => (n.endsWith('.') ? n : `${n}.`);
/** What a host turns into, by its text (remembered: answers repeat the same addresses). */
const hostTypes = new Map<string, 'A' | 'AAAA' | 'CNAME'>();
const ipType = (h: string): 'A' | 'AAAA' | 'CNAME' => {
  let t = hostTypes.get(h);
  if (t === undefined) {
    t = !parseIP(h) ? 'CNAME' : h.includes(':') ? 'AAAA' : 'A';
    if (hostTypes.size >= 100_000) hostTypes.clear();
    hostTypes.set(h, t);
  }
  return t;
};
const isSubDomain = (zone: string, name: string) => fqdn(name) === zone || fqdn(name).endsWith(`.${zone}`);

export class Answerer {
  constructor(readonly backend: Backend) {}

  /** The zone (lower-case) a name falls in, if it is one of ours. */
  zoneOf(name: string): string | undefined {
    return matchZone(fqdn(name), this.backend.cfg.zones);
  }

  soa(zoneAsAsked: string): RR {
    const ttl = this.backend.cfg.ttl;
    return {
      name: zoneAsAsked,
      type: 'SOA',
      ttl: Math.min(ttl, 300),
      data: { soa: { mname: `ns.dns.${zoneAsAsked}`, rname: `hostmaster.${zoneAsAsked}`, serial: this.backend.index.serial, refresh: 7200, retry: 1800, expire: 86400, minimum: ttl } },
    };
  }

  answer(q: Question, upstream: UpstreamAnswers = new Map()): AnswerResult {
    const qname = withDot(q.name);
    const name = qname.toLowerCase();
    const zone = matchZone(name, this.backend.cfg.zones);
    if (!zone) return { kind: 'forward' };
    const zoneAsAsked = qname.slice(qname.length - zone.length);
    let records: RR[] = [];
    let extra: RR[] = [];
    let truncated = false;
    try {
      switch (q.type) {
        case 'A':
        case 'AAAA': {
          const r = this.address(qname, q.type, zone, zoneAsAsked, [], upstream);
          records = r.records;
          truncated = r.truncated;
          break;
        }
        case 'TXT':
          records = this.txt(qname, zone, zoneAsAsked);
          break;
        case 'CNAME': {
          const s = this.backend.services(name, 'CNAME', zone, zoneAsAsked, qname);
          if (s[0] && ipType(s[0].host) === 'CNAME') records = [{ name: qname, type: 'CNAME', ttl: s[0].ttl, data: { target: withDot(s[0].host) } }];
          break;
        }
        case 'PTR':
          records = this.ptr(qname, zone, zoneAsAsked);
          break;
        case 'MX':
          this.backend.services(name, 'MX', zone, zoneAsAsked, qname);
          break;
        case 'SRV': {
          const r = this.srv(qname, zone, zoneAsAsked);
          records = r.records;
          extra = r.extra;
          break;
        }
        case 'SOA':
          if (name === zone) records = [this.soa(zoneAsAsked)];
          break;
        case 'AXFR':
        case 'IXFR':
          return { kind: 'answer', rcode: 'REFUSED', authoritative: false, truncated: false, answer: [], authority: [], additional: [], zone: zoneAsAsked };
        case 'NS':
          if (name === zone) {
            const r = this.ns(qname, zone, zoneAsAsked);
            records = r.records;
            extra = r.extra;
            break;
          }
          // NS below the apex is answered like any other type.
          this.address(qname, 'A', zone, zoneAsAsked, [], upstream);
          break;
        default:
          // A "fake" A lookup tells NODATA from NXDOMAIN; no records are returned.
          this.address(qname, 'A', zone, zoneAsAsked, [], upstream);
      }
    } catch (err) {
      if (err instanceof NeedUpstream) return { kind: 'need', name: err.name, type: err.type };
      if (!(err instanceof NameError)) throw err;
      if (isReverseZone(zone)) return { kind: 'forward' };
      const synced = this.backend.index.synced;
      return { kind: 'answer', rcode: synced ? 'NXDOMAIN' : 'SERVFAIL', authoritative: true, truncated: false, answer: [], authority: [this.soa(zoneAsAsked)], additional: [], zone: zoneAsAsked, reason: synced ? err.message : 'the server has not read the cluster state yet' };
    }
    if (records.length === 0) return { kind: 'answer', rcode: 'NOERROR', authoritative: true, truncated: false, answer: [], authority: [this.soa(zoneAsAsked)], additional: [], zone: zoneAsAsked, reason: `the name exists, but has no ${q.type} records (NODATA)` };
    return { kind: 'answer', rcode: 'NOERROR', authoritative: true, truncated, answer: records, authority: [], additional: extra, zone: zoneAsAsked };
  }

  /** plugin.A / plugin.AAAA, with CNAME chasing for ExternalName services. */
  private address(qname: string, type: 'A' | 'AAAA', zone: string, zoneAsAsked: string, previous: RR[], upstream: UpstreamAnswers): { records: RR[]; truncated: boolean } {
    const name = qname.toLowerCase();
    const services = name === zone ? [] : this.backend.services(name, type, zone, zoneAsAsked, qname);
    const records: RR[] = [];
    let truncated = false;
    const seen = new Set<string>();
    for (const s of services) {
      const what = ipType(s.host);
      if (what === 'CNAME') {
        const target = withDot(s.host);
        if (fqdn(target) === name) continue;
        const cname: RR = { name: qname, type: 'CNAME', ttl: s.ttl, data: { target } };
        if (previous.length > MAX_CNAME_CHAIN) continue;
        if (previous.some((p) => p.type === 'CNAME' && fqdn((p.data as { target: string }).target) === fqdn(target) && fqdn(p.name) === name)) continue;
        if (isSubDomain(zone, target)) {
          try {
            const next = this.address(target, type, zone, zoneAsAsked, [...previous, cname], upstream);
            if (next.truncated) truncated = true;
            if (next.records.length > 0) records.push(cname, ...next.records);
          } catch (err) {
            if (!(err instanceof NameError)) throw err;
          }
          continue;
        }
        const up = upstream.get(`${fqdn(target)} ${type}`);
        if (!up) throw new NeedUpstream(target, type);
        if ('error' in up) continue;
        if (up.truncated) truncated = true;
        records.push(cname, ...up.answer);
        continue;
      }
      if (what === type && !seen.has(s.host)) {
        seen.add(s.host);
        records.push({ name: qname, type, ttl: s.ttl, data: type === 'A' ? { a: s.host } : { aaaa: s.host } });
      }
    }
    return { records, truncated };
  }

  private txt(qname: string, zone: string, zoneAsAsked: string): RR[] {
    const services = this.backend.services(qname.toLowerCase(), 'TXT', zone, zoneAsAsked, qname);
    const seen = new Set<string>();
    const out: RR[] = [];
    for (const s of services) {
      if (s.text !== undefined && !seen.has(s.text)) {
        seen.add(s.text);
        out.push({ name: qname, type: 'TXT', ttl: s.ttl, data: { txt: [s.text] } });
      }
    }
    return out;
  }

  private ptr(qname: string, zone: string, zoneAsAsked: string): RR[] {
    const entries = this.backend.reverse(qname.toLowerCase(), zone, zoneAsAsked);
    const seen = new Set<string>();
    const out: RR[] = [];
    for (const e of entries) {
      if (parseIP(e.host) || seen.has(e.host)) continue;
      seen.add(e.host);
      out.push({ name: qname, type: 'PTR', ttl: e.ttl, data: { target: withDot(e.host) } });
    }
    return out;
  }

  /** plugin.SRV: priority 0, weight floor(100/n) (at least 1), de-duplicated on (target, port), glue per (target, IP). */
  private srv(qname: string, zone: string, zoneAsAsked: string): { records: RR[]; extra: RR[] } {
    const services: Entry[] = this.backend.services(qname.toLowerCase(), 'SRV', zone, zoneAsAsked, qname);
    const total = services.length * 100;
    const records: RR[] = [];
    const extra: RR[] = [];
    const dup = new Set<string>();
    for (const s of services) {
      if (s.port === -1) continue;
      const weight = Math.max(1, Math.floor((100 / total) * 100));
      const what = ipType(s.host);
      if (what === 'CNAME') continue;
      const target = withDot(s.domain);
      const srvKey = `${target.toLowerCase()}|${s.port}`;
      if (!dup.has(srvKey)) {
        dup.add(srvKey);
        records.push({ name: qname, type: 'SRV', ttl: s.ttl, data: { srv: { priority: 0, weight, port: s.port, target } } });
      }
      const glueKey = `${target.toLowerCase()}|${s.host}`;
      if (!dup.has(glueKey)) {
        dup.add(glueKey);
        extra.push({ name: target, type: what, ttl: s.ttl, data: what === 'A' ? { a: s.host } : { aaaa: s.host } });
      }
    }
    return { records, extra };
  }

  private ns(qname: string, zone: string, zoneAsAsked: string): { records: RR[]; extra: RR[] } {
    const entries = this.backend.services(`ns.dns.${zone}`, 'NS', zone, zoneAsAsked, qname);
    const records: RR[] = [];
    const extra: RR[] = [];
    const seen = new Set<string>();
    for (const e of entries) {
      const what = ipType(e.host);
      if (what === 'CNAME') continue;
      const target = withDot(e.domain);
      extra.push({ name: target, type: what, ttl: e.ttl, data: what === 'A' ? { a: e.host } : { aaaa: e.host } });
      if (seen.has(target)) continue;
      seen.add(target);
      records.push({ name: qname, type: 'NS', ttl: e.ttl, data: { target } });
    }
    return { records, extra };
  }
}

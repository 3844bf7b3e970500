// `svclab dns explain`: how a name is read, which objects the answer comes from, and why
// the answer is what it is — the same answering code as the server, narrated.
import { upstreamKey, type AnswerResult, type Answerer, type Question, type UpstreamAnswers } from './answer.ts';
import { isHeadless } from './model.ts';
import { addressFromReverse, endpointHostname, fqdn, isReverseZone, trimZone } from './names.ts';
import { InvalidRequest, parseRequest, type RecordRequest } from './parse.ts';
import type { RR } from './records.ts';

export interface Explanation {
  question: { name: string; type: string };
  zone: string | null;
  parsed: (RecordRequest & { kind: 'service' | 'pod' | 'namespace' | 'apex' }) | null;
  parseError?: string;
  objects: string[];
  result: { rcode: string; answer: string[]; authority: string[]; additional: string[]; reason?: string; upstream?: string[] } | { forwarded: true; reason: string };
}

export function rrLine(rr: RR): string {
  const d = rr.data;
  const v =
    'a' in d ? d.a : 'aaaa' in d ? d.aaaa : 'target' in d ? d.target : 'srv' in d ? `${d.srv.priority} ${d.srv.weight} ${d.srv.port} ${d.srv.target}` : 'txt' in d ? d.txt.map((t) => JSON.stringify(t)).join(' ') : 'soa' in d ? `${d.soa.mname} ${d.soa.rname} ${d.soa.serial} ${d.soa.refresh} ${d.soa.retry} ${d.soa.expire} ${d.soa.minimum}` : 'mx' in d ? `${d.mx.preference} ${d.mx.exchange}` : '\\# …';
  return `${rr.name}\t${rr.ttl}\tIN\t${rr.type}\t${v}`;
}

/** Which Service (by ClusterIP) or endpoints a reverse name's address belongs to: what its PTR names. */
function reverseObjects(a: Answerer, ip: string): string[] {
  const idx = a.backend.index;
  const svc = idx.servicesByClusterIP(ip)[0];
  if (svc) return [`Service ${svc.namespace}/${svc.name}: clusterIP ${ip}; the PTR names this Service`];
  const out: string[] = [];
  for (const e of idx.endpointsByIP(ip)) {
    const service = e.index.slice(0, -(e.namespace.length + 1));
    for (const x of e.addresses) {
      if (x.ip === ip) out.push(`EndpointSlice ${e.namespace}/${e.name}: endpoint ${ip} (${endpointHostname(x, a.backend.cfg.endpointPodNames)}) of Service ${e.namespace}/${service}; the PTR names this endpoint`);
    }
  }
  return out.length ? out : [`Address ${ip}: no Service has this ClusterIP and no ready endpoint has this address`];
}

/**
 * A name whose answer goes through an ExternalName outside the zones: the records this server
 * answers with itself (the CNAME), the target's own records left to the upstream resolvers.
 */
function aliasResult(a: Answerer, q: Question, first: { name: string; type: string }): Explanation['result'] {
  const upstream: UpstreamAnswers = new Map();
  const targets: { name: string; type: string }[] = [];
  let r: AnswerResult = { kind: 'need', ...first };
  while (r.kind === 'need' && targets.length < 10) {
    targets.push({ name: r.name, type: r.type });
    upstream.set(upstreamKey(r.name, r.type), { answer: [], truncated: false });
    r = a.answer(q, upstream);
  }
  const asked = targets.map((t) => `${t.name} ${t.type}`);
  if (r.kind !== 'answer') return { forwarded: true, reason: `the answer needs ${asked.join(', ')} from the upstream resolvers (an ExternalName target)` };
  const cnames = r.answer.filter((rr) => rr.type === 'CNAME').map((rr) => `${rr.name} → ${(rr.data as { target: string }).target} (TTL ${rr.ttl})`);
  const records = targets.map((t) => `${t.type} records of ${t.name}`).join(' and ');
  return {
    rcode: r.rcode,
    answer: r.answer.map(rrLine),
    authority: r.authority.map(rrLine),
    additional: r.additional.map(rrLine),
    reason: `an ExternalName alias: this server answers with the CNAME ${cnames.join(', then ')}; the ${records} come from upstream resolution (the server asks its upstream resolvers and appends their answer)`,
    upstream: asked,
  };
}

export function explain(a: Answerer, name: string, type: string): Explanation {
  const q = { name: name.endsWith('.') ? name : `${name}.`, type: type.toUpperCase() };
  const zone = a.zoneOf(q.name) ?? null;
  const ex: Explanation = { question: q, zone, parsed: null, objects: [], result: { forwarded: true, reason: '' } };
  const lower = fqdn(q.name);
  if (zone && !zone.endsWith('arpa.')) {
    try {
      const r = parseRequest(trimZone(lower, zone));
      const kind = r.podOrSvc === '' ? 'apex' : r.service === '' ? 'namespace' : r.podOrSvc === 'pod' ? 'pod' : 'service';
      ex.parsed = { ...r, kind };
      const idx = a.backend.index;
      if (r.namespace) ex.objects.push(idx.namespaceExists(r.namespace) ? `Namespace ${r.namespace}: exists` : `Namespace ${r.namespace}: not found`);
      if (kind === 'service') {
        const svc = idx.service(r.service, r.namespace);
        if (!svc) ex.objects.push(`Service ${r.namespace}/${r.service}: not found`);
        else {
          const ports = svc.ports.map((p) => `${p.name || '(unnamed)'}/${p.port}/${p.protocol}`).join(', ') || 'none';
          const ips = svc.type === 'ExternalName' ? `externalName ${svc.externalName}` : isHeadless(svc) ? 'clusterIP None (headless)' : `clusterIPs ${svc.clusterIPs.join(', ')}`;
          ex.objects.push(`Service ${r.namespace}/${r.service}: type ${svc.type}, ${ips}, ports ${ports}`);
          for (const e of idx.endpoints(`${svc.name}.${svc.namespace}`)) {
            const addrs = e.addresses.map((x) => `${x.ip} (${endpointHostname(x, a.backend.cfg.endpointPodNames)})`).join(', ') || 'no ready addresses';
            const eports = e.ports.map((p) => (p.port === -1 ? 'no ports' : `${p.name || '(unnamed)'}/${p.port}/${p.protocol}`)).join(', ');
            ex.objects.push(`EndpointSlice ${r.namespace}/${e.name}: ready ${addrs}; ports ${eports}`);
          }
        }
      } else if (kind === 'pod') ex.objects.push(`Pod records: mode ${a.backend.cfg.pods}`);
    } catch (err) {
      if (!(err instanceof InvalidRequest)) throw err;
      ex.parseError = err.why;
    }
  } else if (zone && isReverseZone(zone)) {
    const ip = addressFromReverse(lower);
    if (ip === undefined) ex.parseError = 'not a whole address (4 labels under in-addr.arpa, 32 under ip6.arpa)';
    else ex.objects.push(...reverseObjects(a, ip));
  }
  const r: AnswerResult = a.answer(q);
  if (r.kind === 'forward') ex.result = { forwarded: true, reason: zone ? `no cluster data for this reverse name: it goes to the upstream resolvers (fallthrough)` : `${q.name} is outside the cluster zones: it goes to the upstream resolvers` };
  else if (r.kind === 'need') ex.result = aliasResult(a, q, r);
  else ex.result = { rcode: r.rcode, answer: r.answer.map(rrLine), authority: r.authority.map(rrLine), additional: r.additional.map(rrLine), ...(r.reason ? { reason: r.reason } : {}) };
  return ex;
}

export function formatExplanation(ex: Explanation): string {
  const out: string[] = [];
  out.push(`Question:  ${ex.question.name} ${ex.question.type}`);
  out.push(`Zone:      ${ex.zone ?? '(none of the cluster zones)'}`);
  if (ex.parsed) {
    const p = ex.parsed;
    const parts = [`kind=${p.kind}`, p.namespace && `namespace=${p.namespace}`, p.service && `${p.podOrSvc === 'pod' ? 'pod' : 'service'}=${p.service}`, p.endpoint && `endpoint=${p.endpoint}`, p.port && `port=${p.port}`, p.protocol && `protocol=${p.protocol}`].filter(Boolean);
    out.push(`Parsed:    ${parts.join(' ')}`);
  }
  if (ex.parseError) out.push(`Parsed:    not a name the cluster serves: ${ex.parseError}`);
  for (const o of ex.objects) out.push(`Object:    ${o}`);
  if ('forwarded' in ex.result) out.push(`Result:    forwarded — ${ex.result.reason}`);
  else {
    out.push(`Result:    ${ex.result.rcode}${ex.result.reason ? ` — ${ex.result.reason}` : ''}`);
    if (ex.result.answer.length) out.push(';; ANSWER', ...ex.result.answer);
    if (ex.result.authority.length) out.push(';; AUTHORITY', ...ex.result.authority);
    if (ex.result.additional.length) out.push(';; ADDITIONAL', ...ex.result.additional);
  }
  return `${out.join('\n')}\n`;
}

// `svclab dns explain`: how a name is read, which objects the answer comes from, and why
// the answer is what it is — the same answering code as the server, narrated.
import type { AnswerResult, Answerer } from './answer.ts';
import { isHeadless } from './model.ts';
import { endpointHostname, fqdn, trimZone } from './names.ts';
import { InvalidRequest, parseRequest, type RecordRequest } from './parse.ts';
import type { RR } from './records.ts';

export interface Explanation {
  question: { name: string; type: string };
  zone: string | null;
  parsed: (RecordRequest & { kind: 'service' | 'pod' | 'namespace' | 'apex' }) | null;
  parseError?: string;
  objects: string[];
  result: { rcode: string; answer: string[]; authority: string[]; additional: string[]; reason?: string } | { forwarded: true; reason: string };
}

export function rrLine(rr: RR): string {
  const d = rr.data;
  const v =
    'a' in d ? d.a : 'aaaa' in d ? d.aaaa : 'target' in d ? d.target : 'srv' in d ? `${d.srv.priority} ${d.srv.weight} ${d.srv.port} ${d.srv.target}` : 'txt' in d ? d.txt.map((t) => JSON.stringify(t)).join(' ') : 'soa' in d ? `${d.soa.mname} ${d.soa.rname} ${d.soa.serial} ${d.soa.refresh} ${d.soa.retry} ${d.soa.expire} ${d.soa.minimum}` : 'mx' in d ? `${d.mx.preference} ${d.mx.exchange}` : '\\# …';
  return `${rr.name}\t${rr.ttl}\tIN\t${rr.type}\t${v}`;
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
  }
  const r: AnswerResult = a.answer(q);
  if (r.kind === 'forward') ex.result = { forwarded: true, reason: zone ? `no cluster data for this reverse name: it goes to the upstream resolvers (fallthrough)` : `${q.name} is outside the cluster zones: it goes to the upstream resolvers` };
  else if (r.kind === 'need') ex.result = { forwarded: true, reason: `the answer needs ${r.name} ${r.type} from the upstream resolvers (an ExternalName target)` };
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

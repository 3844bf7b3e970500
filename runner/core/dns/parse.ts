// The query-name grammar of CoreDNS's kubernetes plugin, read from the right:
//   [_port._proto. | endpoint.] service.namespace.(svc|pod).zone

export interface RecordRequest {
  port: string;
  protocol: string;
  endpoint: string;
  service: string;
  namespace: string;
  /** "svc", "pod", or "" for the apex, "svc.<zone>" and "pod.<zone>". */
  podOrSvc: string;
}

const errorClass = Error as { stackTraceLimit?: number };

/** The name is not one the plugin serves: NXDOMAIN. Made without a stack trace (one per negative answer). */
export class InvalidRequest extends Error {
  constructor(readonly why: string) {
    const limit = errorClass.stackTraceLimit;
    errorClass.stackTraceLimit = 0;
    super(why);
    errorClass.stackTraceLimit = limit;
  }
}

const strip = (s: string) => (s.startsWith('_') ? s.slice(1) : s);

/** `base` is the lower-cased query name minus the zone ("" at the apex). */
export function parseRequest(base: string): RecordRequest {
  const r: RecordRequest = { port: '', protocol: '', endpoint: '', service: '', namespace: '', podOrSvc: '' };
  if (base === '' || base === 'svc' || base === 'pod') return r;
  const segs = base.split('.');
  let last = segs.length - 1;
  r.podOrSvc = segs[last]!;
  if (r.podOrSvc !== 'pod' && r.podOrSvc !== 'svc') throw new InvalidRequest(`the label before the zone is "${r.podOrSvc}", not "svc" or "pod"`);
  if (--last < 0) return r;
  r.namespace = segs[last]!;
  if (--last < 0) return r;
  r.service = segs[last]!;
  if (--last < 0) return r;
  if (last === 0) r.endpoint = segs[0]!;
  else if (last === 1) {
    r.protocol = strip(segs[1]!);
    r.port = strip(segs[0]!);
  } else throw new InvalidRequest(`the name has ${last + 1} labels before the service name; at most 2 (_port._proto) are allowed`);
  return r;
}

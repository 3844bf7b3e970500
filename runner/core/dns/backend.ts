// The lookups of CoreDNS's kubernetes plugin (Services, Records, findServices, findPods,
// Reverse, nsAddrs) over a ClusterIndex. They return entries, not records: a host (IP or
// name), a port and the DNS name the entry lives at; answer.ts turns them into records.
import { parseIP } from '../proxy/ip.ts';
import type { ClusterIndex } from './cluster-index.ts';
import { isHeadless } from './model.ts';
import { addressFromReverse, endpointHostname, labels, trimZone } from './names.ts';
import { InvalidRequest, parseRequest } from './parse.ts';

/** CoreDNS's `pods` option: kubeadm's Corefile says insecure. */
export const POD_MODES = ['insecure', 'verified', 'disabled'] as const;
export type PodMode = (typeof POD_MODES)[number];

/** Reads a `pods` mode given as `where` (a flag or variable name); anything else is one line naming the allowed values. */
export function parsePodMode(value: string, where: string): PodMode | { error: string } {
  const mode = value.trim();
  if ((POD_MODES as readonly string[]).includes(mode)) return mode as PodMode;
  return { error: `invalid ${where} "${value}": use one of ${POD_MODES.join(', ')} (CoreDNS's \`pods\` option)` };
}

export interface BackendConfig {
  /** The zones served, lower-case with a trailing dot; the first is the cluster domain. */
  zones: string[];
  ttl: number;
  pods: PodMode;
  /** CoreDNS's endpoint_pod_names: endpoints without a hostname are named after their pod. */
  endpointPodNames: boolean;
  /** The server's own addresses (for NS and ns.dns.<zone>). */
  localIPs: string[];
}

/** V8's Error.stackTraceLimit (runner/core is typed without Node's globals). */
const errorClass = Error as { stackTraceLimit?: number };

/**
 * A name the plugin cannot answer: NXDOMAIN (SERVFAIL before the informers synced).
 * Thrown for every negative answer, so made without a stack trace (capturing one was the
 * largest single cost of answering NXDOMAIN).
 */
export class NameError extends Error {
  constructor(message: string) {
    const limit = errorClass.stackTraceLimit;
    errorClass.stackTraceLimit = 0;
    super(message);
    errorClass.stackTraceLimit = limit;
  }
}

export interface Entry {
  /** An IP, or a domain name (ExternalName, PTR targets). */
  host: string;
  /** -1: no port. */
  port: number;
  ttl: number;
  /** Where the entry lives: the SRV target / glue owner for this entry, zone as asked. */
  domain: string;
  text?: string;
}

export const DNS_SCHEMA_VERSION = '1.1.0';

const isIP = (h: string) => parseIP(h) !== null;

export class Backend {
  constructor(
    readonly index: ClusterIndex,
    readonly cfg: BackendConfig,
  ) {}

  get primaryZone(): string {
    return this.cfg.zones[0]!;
  }

  /** Records(): parse the name and find services or pods. `name` lower-case; `zoneAsAsked` keeps the query's case. */
  records(name: string, zone: string, zoneAsAsked: string): Entry[] {
    let r;
    try {
      r = parseRequest(trimZone(name, zone));
    } catch (err) {
      if (err instanceof InvalidRequest) throw new NameError(err.why);
      throw err;
    }
    if (r.podOrSvc === '') return [];
    if (name.endsWith('in-addr.arpa.') || name.endsWith('ip6.arpa.')) throw new NameError('a reverse name');
    if (!this.index.namespaceExists(r.namespace)) throw new NameError(`namespace "${r.namespace}" does not exist`);
    return r.podOrSvc === 'pod' ? this.findPods(r.namespace, r.service, zoneAsAsked) : this.findServices(r, zoneAsAsked);
  }

  private findPods(namespace: string, podName: string, zone: string): Entry[] {
    if (this.cfg.pods === 'disabled') throw new NameError('pod records are disabled');
    if (podName === '') return [];
    const ip = (podName.split('-').length - 1 === 3 && !podName.includes('--') ? podName.replace(/-/g, '.') : podName.replace(/-/g, ':'));
    const domain = `${podName}.${namespace}.pod.${zone}`;
    if (this.cfg.pods === 'insecure') {
      if (!isIP(ip)) throw new NameError(`"${podName}" is not a dashed IP address`);
      return [{ host: ip, port: 0, ttl: this.cfg.ttl, domain }];
    }
    if (!this.index.podNamespaces(ip).includes(namespace)) throw new NameError(`no running pod in ${namespace} has the IP ${ip}`);
    return [{ host: ip, port: 0, ttl: this.cfg.ttl, domain }];
  }

  private findServices(r: { service: string; namespace: string; endpoint: string; port: string; protocol: string }, zone: string): Entry[] {
    if (r.service === '') return [];
    const svc = this.index.service(r.service, r.namespace);
    if (!svc) throw new NameError(`no service ${r.service} in namespace ${r.namespace}`);
    const match = (a: string, b: string) => a === b.toLowerCase();
    const portMatch = (name: string, proto: string) => (r.port === '' || match(r.port, name)) && (r.protocol === '' || match(r.protocol, proto));
    const out: Entry[] = [];
    const base = `${svc.name}.${svc.namespace}.svc.${zone}`;
    if (svc.type === 'ExternalName') {
      if (r.endpoint || r.port || r.protocol) throw new NameError('an ExternalName service has no endpoints or ports');
      if (svc.externalName && !isIP(svc.externalName)) return [{ host: svc.externalName, port: 0, ttl: this.cfg.ttl, domain: base }];
      throw new NameError('the ExternalName is not a host name');
    }
    if (isHeadless(svc) || r.endpoint) {
      for (const ep of this.index.endpoints(`${svc.name}.${svc.namespace}`)) {
        for (const a of ep.addresses) {
          const host = endpointHostname(a, this.cfg.endpointPodNames);
          if (r.endpoint && r.endpoint !== host.toLowerCase()) continue;
          for (const p of ep.ports) {
            if (!portMatch(p.name, p.protocol)) continue;
            out.push({ host: a.ip, port: p.port, ttl: this.cfg.ttl, domain: `${host}.${base}` });
          }
        }
      }
    } else {
      for (const p of svc.ports) {
        if (!portMatch(p.name, p.protocol)) continue;
        for (const ip of svc.clusterIPs) out.push({ host: ip, port: p.port, ttl: this.cfg.ttl, domain: base });
      }
    }
    if (out.length === 0) throw new NameError(r.endpoint ? `no endpoint "${r.endpoint}"` : r.port || r.protocol ? `no port _${r.port}._${r.protocol}` : 'no ready endpoints');
    return out;
  }

  /** Reverse(): a ClusterIP's service first, else every endpoint with that IP. */
  reverse(name: string, zone: string, zoneAsAsked: string): Entry[] {
    const ip = addressFromReverse(name);
    if (ip === undefined) {
      this.records(name, zone, zoneAsAsked);
      return [];
    }
    const svc = this.index.servicesByClusterIP(ip)[0];
    if (svc) return [{ host: `${svc.name}.${svc.namespace}.svc.${this.primaryZone}`, port: 0, ttl: this.cfg.ttl, domain: '' }];
    const out: Entry[] = [];
    for (const ep of this.index.endpointsByIP(ip)) {
      for (const a of ep.addresses) if (a.ip === ip) out.push({ host: `${endpointHostname(a, this.cfg.endpointPodNames)}.${ep.index}.svc.${this.primaryZone}`, port: 0, ttl: this.cfg.ttl, domain: '' });
    }
    if (out.length === 0) throw new NameError(`no service or endpoint has the address ${ip}`);
    return out;
  }

  /** nsAddrs(): the DNS service's own names and addresses, found through the server's local IPs. */
  nsAddrs(zoneAsAsked: string): { name: string; ip: string }[] {
    const out: { name: string; ip: string }[] = [];
    let found = false;
    for (const local of this.cfg.localIPs) {
      for (const ep of this.index.endpointsByIP(local)) {
        found = true;
        const [svcName, ns] = ep.index.split('.') as [string, string];
        const svc = this.index.service(svcName, ns);
        if (!svc) continue;
        const name = `${svc.name}.${svc.namespace}.svc.${zoneAsAsked}`;
        if (isHeadless(svc)) for (const a of ep.addresses) out.push({ name: `${endpointHostname(a, this.cfg.endpointPodNames)}.${name}`, ip: a.ip });
        else for (const ip of svc.clusterIPs) out.push({ name, ip });
      }
    }
    if (!found) for (const ip of this.cfg.localIPs) out.push({ name: `ns.dns.${zoneAsAsked}`, ip });
    return out;
  }

  /** Services(): what a query for `name` of `qtype` finds (before turning it into records). */
  services(name: string, qtype: string, zone: string, zoneAsAsked: string, nameAsAsked: string): Entry[] {
    if (qtype === 'TXT') {
      const segs = labels(trimZone(name, zone));
      if (segs.length === 1 && segs[0] === 'dns-version') return [{ host: '', port: 0, ttl: 28800, domain: nameAsAsked, text: DNS_SCHEMA_VERSION }];
      if (this.records(name, zone, zoneAsAsked).length > 0) return [];
      throw new NameError('no TXT data');
    }
    if (qtype === 'NS') return this.nsAddrs(zoneAsAsked).map((n) => ({ host: n.ip, port: 0, ttl: this.cfg.ttl, domain: n.name }));
    if (name === `ns.dns.${zone}`) {
      return this.nsAddrs(zoneAsAsked)
        .filter((n) => (qtype === 'A' ? n.ip.includes('.') : qtype === 'AAAA' ? n.ip.includes(':') : false))
        .map((n) => ({ host: n.ip, port: 0, ttl: this.cfg.ttl, domain: nameAsAsked }));
    }
    const s = this.records(name, zone, zoneAsAsked);
    return qtype === 'SRV' ? s.filter((e) => isIP(e.host)) : s;
  }
}

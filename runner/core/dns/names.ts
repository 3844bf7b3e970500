// DNS name helpers: zones, labels, endpoint names and reverse names, as CoreDNS spells them.
import { formatIP, isV4, parseIP } from '../proxy/ip.ts';
import type { DnsAddress } from './model.ts';

/** Lower-cased, with a trailing dot: the form names are compared in. */
export function fqdn(name: string): string {
  const n = name.toLowerCase();
  return n.endsWith('.') ? n : `${n}.`;
}

/** The zone (from `zones`, each lower-case with a trailing dot) that `name` falls in; the longest wins. */
export function matchZone(name: string, zones: string[]): string | undefined {
  let best: string | undefined;
  for (const z of zones) {
    if ((name === z || z === '.' || name.endsWith(`.${z}`)) && (!best || z.length > best.length)) best = z;
  }
  return best;
}

/** `name` minus the zone, without the joining dot ("" at the apex). */
export function trimZone(name: string, zone: string): string {
  if (name === zone) return '';
  return name.slice(0, name.length - zone.length - 1);
}

export function labels(name: string): string[] {
  return name === '' || name === '.' ? [] : name.replace(/\.$/, '').split('.');
}

/** An endpoint's DNS label: its hostname, else (endpoint_pod_names) the pod name, else the dashed IP. */
export function endpointHostname(a: DnsAddress, podNames: boolean): string {
  if (a.hostname) return a.hostname;
  if (podNames && a.targetRefName) return a.targetRefName;
  if (a.ip.includes('.')) return a.ip.replace(/\./g, '-');
  if (a.ip.includes(':')) return a.ip.replace(/:/g, '-');
  return '';
}

/** The address a reverse name stands for (4 octets or 32 nibbles), or undefined for a partial name. */
export function addressFromReverse(name: string): string | undefined {
  const n = name.replace(/\.$/, '').toLowerCase();
  if (n.endsWith('.in-addr.arpa')) {
    const parts = n.slice(0, -'.in-addr.arpa'.length).split('.');
    if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return undefined;
    const ip = parseIP(parts.reverse().join('.'));
    return ip ? formatIP(ip) : undefined;
  }
  if (n.endsWith('.ip6.arpa')) {
    const parts = n.slice(0, -'.ip6.arpa'.length).split('.');
    if (parts.length !== 32 || !parts.every((p) => /^[0-9a-f]$/.test(p))) return undefined;
    const hex = parts.reverse().join('');
    const ip = parseIP(hex.match(/.{4}/g)!.join(':'));
    return ip ? formatIP(ip) : undefined;
  }
  return undefined;
}

/** The reverse name of an address: "d.c.b.a.in-addr.arpa." or 32 nibbles under ip6.arpa. */
export function reverseName(ipText: string): string | undefined {
  const ip = parseIP(ipText);
  if (!ip) return undefined;
  const b = ip.bytes;
  if (isV4(ip)) return `${b[15]}.${b[14]}.${b[13]}.${b[12]}.in-addr.arpa.`;
  const nibbles: string[] = [];
  for (let i = 15; i >= 0; i--) nibbles.push((b[i]! & 0xf).toString(16), (b[i]! >> 4).toString(16));
  return `${nibbles.join('.')}.ip6.arpa.`;
}

export function isReverseZone(zone: string): boolean {
  return zone.endsWith('in-addr.arpa.') || zone.endsWith('ip6.arpa.');
}

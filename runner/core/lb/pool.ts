// The LoadBalancer address pool: a range of IPv4 addresses inside the kind Docker network,
// kept at the top of the subnet because Docker hands out container addresses from the bottom.
import { isV4, parseIP } from '../proxy/ip.ts';

/** An inclusive range of IPv4 addresses, as unsigned 32-bit numbers. */
export interface Pool {
  readonly first: number;
  readonly last: number;
}

/** An IPv4 network, as a number and a prefix length. */
export interface Subnet {
  readonly base: number;
  readonly prefix: number;
}

/** An IPv4 address as a number; null when the text is not an IPv4 address. */
export function ipv4ToInt(s: unknown): number | null {
  if (typeof s !== 'string') return null;
  const ip = parseIP(s.trim());
  if (!ip || !isV4(ip)) return null;
  const b = ip.bytes;
  return b[12]! * 0x1000000 + b[13]! * 0x10000 + b[14]! * 0x100 + b[15]!;
}

export function intToIPv4(n: number): string {
  return [Math.floor(n / 0x1000000) % 256, Math.floor(n / 0x10000) % 256, Math.floor(n / 0x100) % 256, n % 256].join('.');
}

/** `a.b.c.d/n`: the network (host bits cleared), or null. */
export function parseSubnet(s: string): Subnet | null {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(s.trim());
  if (!m) return null;
  const ip = ipv4ToInt(m[1]);
  const prefix = Number(m[2]);
  if (ip === null || prefix > 32) return null;
  const size = 2 ** (32 - prefix);
  return { base: ip - (ip % size), prefix };
}

export function formatSubnet(s: Subnet): string {
  return `${intToIPv4(s.base)}/${s.prefix}`;
}

export function subnetSize(s: Subnet): number {
  return 2 ** (32 - s.prefix);
}

/** True when every address of the pool is inside the network. */
export function poolInSubnet(p: Pool, s: Subnet): boolean {
  return p.first >= s.base && p.last < s.base + subnetSize(s);
}

export function formatPool(p: Pool): string {
  return `${intToIPv4(p.first)}-${intToIPv4(p.last)}`;
}

export function poolSize(p: Pool): number {
  return p.last - p.first + 1;
}

export function inPool(p: Pool, ip: number | null): boolean {
  return ip !== null && ip >= p.first && ip <= p.last;
}

export function poolsOverlap(a: Pool, b: Pool): boolean {
  return a.first <= b.last && b.first <= a.last;
}

/**
 * Parses a pool: `first-last` (two IPv4 addresses) or a CIDR (its usable addresses).
 * Returns an error sentence instead when the text is not one.
 */
export function parsePool(text: string): Pool | { error: string } {
  const s = text.trim();
  const dash = s.indexOf('-');
  if (dash > 0) {
    const first = ipv4ToInt(s.slice(0, dash));
    const last = ipv4ToInt(s.slice(dash + 1));
    if (first === null || last === null) return { error: `address pool "${text}" is not FIRST-LAST with two IPv4 addresses (e.g. 172.18.255.200-172.18.255.250)` };
    if (first > last) return { error: `address pool "${text}" starts after it ends: write the lower address first` };
    return { first, last };
  }
  const net = parseSubnet(s);
  if (!net) return { error: `address pool "${text}" is neither FIRST-LAST nor an IPv4 CIDR (e.g. 172.18.255.200-172.18.255.250 or 172.18.255.192/27)` };
  const size = subnetSize(net);
  // A /31 or /32 has no network or broadcast address to skip.
  return size <= 2 ? { first: net.base, last: net.base + size - 1 } : { first: net.base + 1, last: net.base + size - 2 };
}

/**
 * The pool blocks svclab uses in a node network, best first. In a /24 or larger network
 * each block is .200-.250 of one /24, from the top down (172.18.255.200-250, then
 * 172.18.254.200-250, … in 172.18.0.0/16), never in the lower half of the network where
 * Docker places containers. A smaller network (down to /28) has one block: the upper half
 * without its broadcast address. One cluster uses one block, so that several lab
 * clusters sharing the `kind` network never answer for the same address.
 */
export function poolBlocks(subnet: Subnet): Pool[] {
  const size = subnetSize(subnet);
  const broadcast = subnet.base + size - 1;
  if (size >= 256) {
    const out: Pool[] = [];
    const lowest = subnet.base + size / 2;
    for (let top = broadcast - 5; top - 50 >= lowest && out.length < 128; top -= 256) out.push({ first: top - 50, last: top });
    return out;
  }
  if (size >= 16) return [{ first: subnet.base + size / 2, last: broadcast - 1 }];
  return [];
}

/** The first block of the network not overlapping any pool already taken (by other clusters). */
export function choosePoolBlock(subnet: Subnet, taken: readonly Pool[]): Pool | undefined {
  return poolBlocks(subnet).find((b) => !taken.some((t) => poolsOverlap(b, t)));
}

// IP addresses the way Kubernetes reads and prints them: "sloppy" parsing (leading zeros in
// IPv4 octets are decimal, as in k8s.io/utils/net.ParseIPSloppy) and Go's net.IP.String().

export type IPFamily = 'IPv4' | 'IPv6';

/** A parsed address: 16 bytes, IPv4 stored IPv4-mapped (like Go's net.IP). */
export interface IP {
  readonly bytes: Uint8Array;
}

const V4_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

function dtoi(s: string): [n: number, consumed: number] | null {
  let n = 0;
  let i = 0;
  for (; i < s.length && s[i]! >= '0' && s[i]! <= '9'; i++) {
    n = n * 10 + (s.charCodeAt(i) - 48);
    if (n >= 0xffffff) return null;
  }
  return i === 0 ? null : [n, i];
}

function parseV4(s: string): number[] | null {
  const out: number[] = [];
  for (let i = 0; i < 4; i++) {
    if (s.length === 0) return null;
    if (i > 0) {
      if (s[0] !== '.') return null;
      s = s.slice(1);
    }
    const r = dtoi(s);
    if (!r || r[0] > 255) return null;
    out.push(r[0]);
    s = s.slice(r[1]);
  }
  return s.length === 0 ? out : null;
}

function xtoi(s: string): [number, number] | null {
  let n = 0;
  let i = 0;
  for (; i < s.length; i++) {
    const c = s[i]!.toLowerCase();
    const d = c >= '0' && c <= '9' ? c.charCodeAt(0) - 48 : c >= 'a' && c <= 'f' ? c.charCodeAt(0) - 87 : -1;
    if (d < 0) break;
    n = n * 16 + d;
    if (n >= 0xffffff) return null;
  }
  return i === 0 ? null : [n, i];
}

function parseV6(s: string): Uint8Array | null {
  const ip = new Uint8Array(16);
  let ellipsis = -1;
  if (s.startsWith('::')) {
    ellipsis = 0;
    s = s.slice(2);
    if (s.length === 0) return ip;
  }
  let i = 0;
  while (i < 16) {
    const r = xtoi(s);
    if (!r || r[0] > 0xffff) return null;
    const [n, c] = r;
    if (c < s.length && s[c] === '.') {
      if ((ellipsis < 0 && i !== 12) || i + 4 > 16) return null;
      const v4 = parseV4(s);
      if (!v4) return null;
      ip.set(v4, i);
      s = '';
      i += 4;
      break;
    }
    ip[i] = n >> 8;
    ip[i + 1] = n & 0xff;
    i += 2;
    s = s.slice(c);
    if (s.length === 0) break;
    if (s[0] !== ':' || s.length === 1) return null;
    s = s.slice(1);
    if (s[0] === ':') {
      if (ellipsis >= 0) return null;
      ellipsis = i;
      s = s.slice(1);
      if (s.length === 0) break;
    }
  }
  if (s.length !== 0) return null;
  if (i < 16) {
    if (ellipsis < 0) return null;
    const n = 16 - i;
    for (let j = i - 1; j >= ellipsis; j--) ip[j + n] = ip[j]!;
    for (let j = ellipsis + n - 1; j >= ellipsis; j--) ip[j] = 0;
  } else if (ellipsis >= 0) {
    return null;
  }
  return ip;
}

/** Parses an address like ParseIPSloppy; null when it is not an IP. */
export function parseIP(s: string): IP | null {
  for (const ch of s) {
    if (ch === '.') {
      const v4 = parseV4(s);
      return v4 ? { bytes: Uint8Array.from([...V4_PREFIX, ...v4]) } : null;
    }
    if (ch === ':') {
      const v6 = parseV6(s);
      return v6 ? { bytes: v6 } : null;
    }
  }
  return null;
}

export function isV4(ip: IP): boolean {
  return V4_PREFIX.every((b, i) => ip.bytes[i] === b);
}

export function familyOf(ip: IP): IPFamily {
  return isV4(ip) ? 'IPv4' : 'IPv6';
}

/** Go's net.IP.String(). */
export function formatIP(ip: IP): string {
  const b = ip.bytes;
  if (isV4(ip)) return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 16; i += 2) {
    let j = i;
    while (j < 16 && b[j] === 0 && b[j + 1] === 0) j += 2;
    if (j - i > bestLen && j - i >= 4) {
      bestStart = i;
      bestLen = j - i;
    }
  }
  let out = '';
  for (let i = 0; i < 16; i += 2) {
    if (i === bestStart) {
      out += '::';
      i += bestLen - 2;
      continue;
    }
    if (i > 0 && !out.endsWith(':')) out += ':';
    out += ((b[i]! << 8) | b[i + 1]!).toString(16);
  }
  return out;
}

/** Normalizes an address string; null when it does not parse. */
export function canonicalIP(s: string): string | null {
  const ip = parseIP(s);
  return ip ? formatIP(ip) : null;
}

export interface CIDR {
  /** Network address (host bits cleared), 16 bytes. */
  readonly ip: IP;
  /** Prefix length in the family's own width (0-32 or 0-128). */
  readonly prefix: number;
  readonly family: IPFamily;
}

/** Parses a CIDR like ParseCIDRSloppy; the address is masked. */
export function parseCIDR(s: string): CIDR | null {
  const slash = s.indexOf('/');
  if (slash < 0) return null;
  const addr = s.slice(0, slash);
  const maskStr = s.slice(slash + 1);
  let family: IPFamily = 'IPv4';
  let bytes: Uint8Array | null = null;
  const v4 = parseV4(addr);
  if (v4) bytes = Uint8Array.from([...V4_PREFIX, ...v4]);
  else {
    family = 'IPv6';
    bytes = parseV6(addr);
  }
  const m = dtoi(maskStr);
  const width = family === 'IPv4' ? 32 : 128;
  if (!bytes || !m || m[1] !== maskStr.length || m[0] > width) return null;
  const prefix = m[0];
  const full = family === 'IPv4' ? prefix + 96 : prefix;
  const masked = Uint8Array.from(bytes, (byte, i) => {
    const bitsHere = Math.max(0, Math.min(8, full - i * 8));
    return byte & ((0xff << (8 - bitsHere)) & 0xff);
  });
  return { ip: { bytes: masked }, prefix, family };
}

export function formatCIDR(c: CIDR): string {
  return `${formatIP(c.ip)}/${c.prefix}`;
}

export function cidrContains(c: CIDR, ip: IP): boolean {
  if (familyOf(ip) !== c.family) return false;
  const full = c.family === 'IPv4' ? c.prefix + 96 : c.prefix;
  for (let i = 0; i < 16; i++) {
    const bitsHere = Math.max(0, Math.min(8, full - i * 8));
    const mask = (0xff << (8 - bitsHere)) & 0xff;
    if ((ip.bytes[i]! & mask) !== c.ip.bytes[i]) return false;
  }
  return true;
}

export function isLoopback(ip: IP): boolean {
  if (isV4(ip)) return ip.bytes[12] === 127;
  return ip.bytes.every((b, i) => (i === 15 ? b === 1 : b === 0));
}

export function ipEqual(a: IP, b: IP): boolean {
  return a.bytes.every((x, i) => x === b.bytes[i]);
}

/** net.JoinHostPort: brackets IPv6 hosts. */
export function joinHostPort(host: string, port: number | string): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

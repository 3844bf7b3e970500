// Resource records as the server builds them (before wire encoding).

export type RRType = 'A' | 'AAAA' | 'CNAME' | 'PTR' | 'SRV' | 'TXT' | 'SOA' | 'NS' | 'MX' | 'OPT' | string;

export type RRData =
  | { a: string }
  | { aaaa: string }
  | { target: string }
  | { srv: { priority: number; weight: number; port: number; target: string } }
  | { txt: string[] }
  | { soa: { mname: string; rname: string; serial: number; refresh: number; retry: number; expire: number; minimum: number } }
  | { mx: { preference: number; exchange: string } }
  | { raw: Uint8Array };

export interface RR {
  /** Owner name, as it goes on the wire (case kept), with a trailing dot. */
  name: string;
  type: RRType;
  class?: number;
  ttl: number;
  data: RRData;
}

export const TYPE_CODES: Record<string, number> = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, OPT: 41, AXFR: 252, IXFR: 251, ANY: 255 };
export const TYPE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(TYPE_CODES).map(([k, v]) => [v, k]));

export const RCODES = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
export type Rcode = keyof typeof RCODES;

export function typeName(code: number): string {
  return TYPE_NAMES[code] ?? `TYPE${code}`;
}

export function typeCode(name: string): number | undefined {
  if (name in TYPE_CODES) return TYPE_CODES[name];
  const m = /^TYPE(\d+)$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

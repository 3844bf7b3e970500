// The kube-ipvs0 dummy interface: every address a virtual server listens on that is not
// already the node's is bound to it (as /32 or /128), so that the kernel takes packets to
// it as local and IPVS, hooked on LOCAL_IN, can pick them up. Written as `ip -batch` lines.
import { familyOf, formatIP, parseIP, type IP, type IPFamily } from '../ip.ts';
import { DUMMY_DEVICE } from './names.ts';

export function hostPrefix(address: string): string {
  return `${address}/${address.includes(':') ? 128 : 32}`;
}

export const ipBatch = {
  createDevice: () => `link add ${DUMMY_DEVICE} type dummy`,
  bind: (address: string) => `addr add ${hostPrefix(address)} dev ${DUMMY_DEVICE}`,
  unbind: (address: string) => `addr del ${hostPrefix(address)} dev ${DUMMY_DEVICE}`,
};

/** The device and its addresses as `ip -force -batch` input (the first line fails harmlessly where it exists). */
export function formatInterfaceBatch(addresses: string[]): string {
  return [ipBatch.createDevice(), ...addresses.map(ipBatch.bind)].join('\n') + '\n';
}

function isIPv6LinkLocal(ip: IP): boolean {
  return ip.bytes[0] === 0xfe && (ip.bytes[1]! & 0xc0) === 0x80;
}

/**
 * Upstream's isValidForSet: addresses of the family, neither loopback nor IPv6 link-local
 * (the addresses upstream counts as "on" an interface or "of" the node).
 */
export function validForFamily(address: string, family: IPFamily): string | null {
  const ip = parseIP(address);
  if (!ip || familyOf(ip) !== family) return null;
  if (family === 'IPv6' ? isIPv6LinkLocal(ip) : false) return null;
  const loopback = family === 'IPv4' ? ip.bytes[12] === 127 : ip.bytes.slice(0, 15).every((b) => b === 0) && ip.bytes[15] === 1;
  return loopback ? null : formatIP(ip);
}

/** `ip -o addr show`: each interface's addresses. */
export function parseAddressesByDevice(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^\d+:\s+(\S+?)(?:@\S+)?\s+inet6?\s+([0-9a-fA-F:.]+)\//.exec(line);
    if (!m) continue;
    const list = out.get(m[1]!) ?? [];
    list.push(m[2]!);
    out.set(m[1]!, list);
  }
  return out;
}

export interface AddressPlan {
  bind: string[];
  unbind: string[];
  /** `ip -batch` input for each step; "" when there is nothing to do. */
  bindText: string;
  unbindText: string;
}

/**
 * The wanted addresses that are missing (bound with the virtual servers) and the
 * superfluous ones (upstream unbinds them after the iptables restore).
 */
export function planAddresses(wanted: Iterable<string>, bound: Iterable<string>): AddressPlan {
  const want = new Set(wanted);
  const have = new Set(bound);
  const bind = [...want].filter((a) => !have.has(a)).sort();
  const unbind = [...have].filter((a) => !want.has(a)).sort();
  const text = (lines: string[]) => (lines.length ? `${lines.join('\n')}\n` : '');
  return { bind, unbind, bindText: text(bind.map(ipBatch.bind)), unbindText: text(unbind.map(ipBatch.unbind)) };
}

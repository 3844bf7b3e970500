// IPVS virtual servers and real servers as kube-proxy defines them (upstream pkg/proxy/ipvs/
// util: address, protocol, port, scheduler, persistence flag and timeout; real servers with
// a weight, masquerading), written as `ipvsadm-restore` lines, read back from `ipvsadm -Sn`
// and `ipvsadm -Ln`, and the commands that turn what the kernel has into what a sync wants
// (upstream syncService, syncEndpoint, the graceful termination manager and cleanLegacyService).
import { cidrContains, familyOf, formatIP, joinHostPort, parseIP, type CIDR, type IPFamily } from '../ip.ts';

export type IpvsProtocol = 'TCP' | 'UDP' | 'SCTP';

export interface VirtualServer {
  address: string;
  protocol: IpvsProtocol;
  port: number;
  scheduler: string;
  /** ClientIP session affinity (IP_VS_SVC_F_PERSISTENT), for `timeout` seconds. */
  persistent: boolean;
  timeout: number;
  /** IP_VS_SVC_F_SCHED2, which the "mh" scheduler needs (hash on source port too). */
  sourceHash: boolean;
}

export interface RealServer {
  address: string;
  port: number;
  weight: number;
}

/** One virtual server a sync wants, with its real servers and what it is for. */
export interface VirtualServerSpec extends VirtualServer {
  /** e.g. "default/web:http cluster IP". */
  comment: string;
  realServers: RealServer[];
}

/** Upstream VirtualServer.String(): "10.96.0.10:80/TCP", "[fd00::10]:80/TCP". */
export function vsKey(vs: Pick<VirtualServer, 'address' | 'port' | 'protocol'>): string {
  return `${joinHostPort(vs.address, vs.port)}/${vs.protocol}`;
}

/** Upstream RealServer.String(): "10.244.1.5:8080". */
export function rsKey(rs: Pick<RealServer, 'address' | 'port'>): string {
  return joinHostPort(rs.address, rs.port);
}

/** Upstream GetUniqueRSName: the real server of one virtual server. */
export function uniqueRSName(vs: Pick<VirtualServer, 'address' | 'port' | 'protocol'>, rs: Pick<RealServer, 'address' | 'port'>): string {
  return `${vsKey(vs)}/${rsKey(rs)}`;
}

const PROTOCOL_OPTION: Record<IpvsProtocol, string> = { TCP: '-t', UDP: '-u', SCTP: '--sctp-service' };

/** "-t 10.96.0.10:80": how ipvsadm names a virtual server. */
export function serviceArgs(vs: Pick<VirtualServer, 'address' | 'port' | 'protocol'>): string {
  return `${PROTOCOL_OPTION[vs.protocol]} ${joinHostPort(vs.address, vs.port)}`;
}

function serviceOptions(vs: VirtualServer): string {
  let s = `-s ${vs.scheduler}`;
  if (vs.persistent) s += ` -p ${vs.timeout}`;
  if (vs.sourceHash) s += ` -b ${vs.scheduler === 'sh' ? 'sh-port' : vs.scheduler === 'mh' ? 'mh-port' : 'flag-2'}`;
  return s;
}

export const ipvsadm = {
  addService: (vs: VirtualServer) => `-A ${serviceArgs(vs)} ${serviceOptions(vs)}`,
  editService: (vs: VirtualServer) => `-E ${serviceArgs(vs)} ${serviceOptions(vs)}`,
  deleteService: (vs: Pick<VirtualServer, 'address' | 'port' | 'protocol'>) => `-D ${serviceArgs(vs)}`,
  /** Masquerading (-m): upstream's destinations have no forwarding flags, which is IP_VS_CONN_F_MASQ. */
  addServer: (vs: Pick<VirtualServer, 'address' | 'port' | 'protocol'>, rs: RealServer) => `-a ${serviceArgs(vs)} -r ${rsKey(rs)} -m -w ${rs.weight}`,
  editServer: (vs: Pick<VirtualServer, 'address' | 'port' | 'protocol'>, rs: RealServer) => `-e ${serviceArgs(vs)} -r ${rsKey(rs)} -m -w ${rs.weight}`,
  deleteServer: (vs: Pick<VirtualServer, 'address' | 'port' | 'protocol'>, rs: Pick<RealServer, 'address' | 'port'>) => `-d ${serviceArgs(vs)} -r ${rsKey(rs)}`,
};

/** The virtual servers as `ipvsadm-restore` input, each after a comment saying what it is for. */
export function formatIpvsRestore(specs: VirtualServerSpec[]): string {
  const lines: string[] = [];
  for (const vs of specs) {
    lines.push(`# ${vs.comment}`, ipvsadm.addService(vs));
    for (const rs of vs.realServers) lines.push(ipvsadm.addServer(vs, rs));
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}

export interface SavedRealServer extends RealServer {
  /** -m, -g or -i. */
  forward: string;
}

export interface SavedVirtualServer {
  vs: VirtualServer;
  realServers: Map<string, SavedRealServer>;
}

/** Virtual servers by vsKey. */
export type IpvsTable = Map<string, SavedVirtualServer>;

/** "10.96.0.10:80" or "[fd00::10]:80" → address and port. */
function splitAddrPort(s: string): { address: string; port: number } | null {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:]+):(\d+)$/.exec(s);
  if (!m) return null;
  const ip = parseIP(m[1]!);
  return ip ? { address: formatIP(ip), port: Number(m[2]) } : null;
}

const SOURCE_HASH_FLAGS = new Set(['flag-2', 'sh-port', 'mh-port']);

/**
 * Parses `ipvsadm -Sn` (the restore dialect: "-A -t VIP:PORT -s rr -p 10800" and
 * "-a -t VIP:PORT -r RIP:RPORT -m -w 1"). Firewall-mark services are not kube-proxy's and
 * are left out.
 */
export function parseIpvsSave(text: string): IpvsTable {
  const table: IpvsTable = new Map();
  for (const raw of text.split('\n')) {
    const w = raw.trim().split(/\s+/);
    const cmd = w[0];
    if (cmd !== '-A' && cmd !== '-a') continue;
    let protocol: IpvsProtocol | null = null;
    let service: { address: string; port: number } | null = null;
    let real: { address: string; port: number } | null = null;
    let scheduler = 'wlc';
    let persistent = false;
    let timeout = 0;
    let sourceHash = false;
    let forward = '-g';
    let weight = 1;
    for (let i = 1; i < w.length; i++) {
      const o = w[i]!;
      const next = () => w[++i] ?? '';
      if (o === '-t' || o === '--tcp-service') [protocol, service] = ['TCP', splitAddrPort(next())];
      else if (o === '-u' || o === '--udp-service') [protocol, service] = ['UDP', splitAddrPort(next())];
      else if (o === '--sctp-service') [protocol, service] = ['SCTP', splitAddrPort(next())];
      else if (o === '-s' || o === '--scheduler') scheduler = next();
      else if (o === '-p' || o === '--persistent') {
        persistent = true;
        if (/^\d+$/.test(w[i + 1] ?? '')) timeout = Number(next());
        else timeout = 300;
      } else if (o === '-b' || o === '--sched-flags') sourceHash = next().split(',').some((f) => SOURCE_HASH_FLAGS.has(f));
      else if (o === '-r' || o === '--real-server') real = splitAddrPort(next());
      else if (o === '-w' || o === '--weight') weight = Number(next());
      else if (o === '-m' || o === '-g' || o === '-i') forward = o;
      else if (o === '-M' || o === '--netmask' || o === 'pe' || o === '--pe' || o === '-x' || o === '-y') next();
    }
    if (!protocol || !service) continue;
    const key = vsKey({ ...service, protocol });
    if (cmd === '-A') {
      table.set(key, { vs: { ...service, protocol, scheduler, persistent, timeout: persistent ? timeout : 0, sourceHash }, realServers: new Map() });
    } else if (real) {
      table.get(key)?.realServers.set(rsKey(real), { ...real, weight, forward });
    }
  }
  return table;
}

export interface Connections {
  weight: number;
  active: number;
  inactive: number;
}

/** Parses `ipvsadm -Ln`: each real server's weight and connection counts, by uniqueRSName. */
export function parseIpvsList(text: string): Map<string, Connections> {
  const out = new Map<string, Connections>();
  let current: { address: string; port: number; protocol: IpvsProtocol } | null = null;
  for (const raw of text.split('\n')) {
    const w = raw.trim().split(/\s+/);
    if (w[0] === 'TCP' || w[0] === 'UDP' || w[0] === 'SCTP') {
      const s = splitAddrPort(w[1] ?? '');
      current = s ? { ...s, protocol: w[0] } : null;
    } else if (w[0] === 'FWM') {
      current = null;
    } else if (w[0] === '->' && current && w.length >= 6) {
      const r = splitAddrPort(w[1]!);
      if (!r) continue;
      out.set(uniqueRSName(current, r), { weight: Number(w[3]), active: Number(w[4]), inactive: Number(w[5]) });
    }
  }
  return out;
}

/** Upstream VirtualServer.Equal (the timeout only counts with persistence, as the kernel keeps no other). */
export function sameVirtualServer(a: VirtualServer, b: VirtualServer): boolean {
  return a.scheduler === b.scheduler && a.persistent === b.persistent && (!a.persistent || a.timeout === b.timeout) && a.sourceHash === b.sourceHash;
}

export interface Removal {
  vs: VirtualServer;
  rs: RealServer;
  name: string;
}

export interface IpvsPlan {
  /** ipvsadm commands that add and update, applied before the iptables rules. */
  commands: string[];
  /** Real servers no longer wanted: deleted now or drained first (planRemovals decides). */
  removals: Removal[];
  /** Virtual servers of this family that nothing wants (upstream cleanLegacyService), deleted last. */
  staleServices: VirtualServer[];
  /** Real servers taken back from the graceful-termination list because they are wanted again. */
  revived: string[];
  added: { services: number; servers: number };
}

export interface IpvsPlanOptions {
  family: IPFamily;
  /** --ipvs-exclude-cidrs: virtual servers there are never deleted. */
  excludeCIDRs: CIDR[];
  /** Real servers being drained (weight 0) after their endpoint went away. */
  graceful: ReadonlySet<string>;
  /** The proxier's first sync resets the weight of real servers it keeps to 1. */
  initialSync: boolean;
}

/**
 * What turns the kernel's virtual servers (`current`) into the wanted ones. Per wanted
 * virtual server, as upstream's syncService/syncEndpoint: add it, or update it when it
 * differs (ipvsadm -E cannot drop persistence or scheduler flags, so then it is deleted and
 * added again with its real servers); add missing real servers; a wanted real server on the
 * graceful-termination list is deleted and added again.
 */
export function planIpvs(wanted: VirtualServerSpec[], current: IpvsTable, o: IpvsPlanOptions): IpvsPlan {
  const plan: IpvsPlan = { commands: [], removals: [], staleServices: [], revived: [], added: { services: 0, servers: 0 } };
  const byKey = new Map<string, VirtualServerSpec>();
  for (const vs of wanted) byKey.set(vsKey(vs), vs);
  for (const [key, vs] of byKey) {
    const saved = current.get(key);
    let have: Map<string, SavedRealServer>;
    if (!saved) {
      plan.commands.push(ipvsadm.addService(vs));
      plan.added.services++;
      have = new Map();
    } else if (sameVirtualServer(saved.vs, vs)) {
      have = saved.realServers;
    } else if ((saved.vs.persistent && !vs.persistent) || (saved.vs.sourceHash && !vs.sourceHash)) {
      plan.commands.push(ipvsadm.deleteService(vs), ipvsadm.addService(vs));
      have = new Map();
    } else {
      plan.commands.push(ipvsadm.editService(vs));
      have = saved.realServers;
    }
    const want = new Set<string>();
    for (const rs of vs.realServers) {
      const k = rsKey(rs);
      want.add(k);
      const name = uniqueRSName(vs, rs);
      const existing = have.get(k);
      if (existing) {
        if (o.graceful.has(name)) {
          plan.commands.push(ipvsadm.deleteServer(vs, rs), ipvsadm.addServer(vs, rs));
          plan.revived.push(name);
        } else if (o.initialSync && existing.weight !== rs.weight) {
          plan.commands.push(ipvsadm.editServer(vs, rs));
        }
        continue;
      }
      plan.commands.push(ipvsadm.addServer(vs, rs));
      plan.added.servers++;
    }
    for (const [k, rs] of have) {
      if (want.has(k)) continue;
      const name = uniqueRSName(vs, rs);
      if (!o.graceful.has(name)) plan.removals.push({ vs, rs, name });
    }
  }
  for (const [key, saved] of current) {
    if (byKey.has(key)) continue;
    const ip = parseIP(saved.vs.address);
    if (!ip || familyOf(ip) !== o.family) continue;
    if (o.excludeCIDRs.some((c) => cidrContains(c, ip))) continue;
    plan.staleServices.push(saved.vs);
  }
  return plan;
}

/** Upstream IsRsGracefulTerminationNeeded: UDP and SCTP real servers are deleted at once. */
export function drainsBeforeDelete(protocol: IpvsProtocol): boolean {
  return protocol === 'TCP';
}

export interface RemovalPlan {
  commands: string[];
  /** The real servers now being drained (weight 0), by uniqueRSName. */
  draining: Removal[];
  deleted: string[];
  /** Entries that no longer exist in the kernel. */
  gone: string[];
}

/**
 * Upstream GracefulDeleteRS and tryDeleteRs: a TCP real server with connections left gets
 * weight 0 and stays until they are gone; otherwise (or for UDP and SCTP) it is deleted.
 * `connections` comes from `ipvsadm -Ln`; an entry it does not list is already gone.
 */
export function planRemovals(candidates: Removal[], connections: Map<string, Connections>): RemovalPlan {
  const out: RemovalPlan = { commands: [], draining: [], deleted: [], gone: [] };
  for (const c of candidates) {
    const conns = connections.get(c.name);
    if (!conns) {
      out.gone.push(c.name);
      continue;
    }
    if (drainsBeforeDelete(c.vs.protocol) && conns.active + conns.inactive !== 0) {
      if (conns.weight !== 0) out.commands.push(ipvsadm.editServer(c.vs, { ...c.rs, weight: 0 }));
      out.draining.push(c);
      continue;
    }
    out.commands.push(ipvsadm.deleteServer(c.vs, c.rs));
    out.deleted.push(c.name);
  }
  return out;
}

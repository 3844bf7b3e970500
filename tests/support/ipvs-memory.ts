// An in-memory IPVS table behind the Ipvsadm interface, for tests on kernels without IP_VS (as
// upstream's own tests use pkg/proxy/ipvs/util/testing's FakeIPVS): it interprets the
// ipvsadm commands the proxier sends, refuses the ones the kernel would refuse (adding
// what exists, touching what does not), and answers -Sn and -Ln like ipvsadm.
import { parseIpvsSave, rsKey, serviceArgs, vsKey, type IpvsProtocol, type VirtualServer } from '../../runner/core/proxy/ipvs/virtual-servers.ts';
import { joinHostPort } from '../../runner/core/proxy/ip.ts';
import type { Ipvsadm } from '../../runner/proxy/ipvs/tools.ts';

interface Server {
  address: string;
  port: number;
  weight: number;
  active: number;
  inactive: number;
}

export interface MemoryIpvsadm extends Ipvsadm {
  /** Every command received, in order. */
  readonly commands: string[];
  /** Sets a real server's connection counts ("VIP:PORT/PROTO/RIP:RPORT"). */
  setConnections(name: string, active: number, inactive: number): void;
}

export function memoryIpvsadm(): MemoryIpvsadm {
  const services = new Map<string, { vs: VirtualServer; servers: Map<string, Server> }>();
  const commands: string[] = [];
  const one = (line: string) => {
    const cmd = line.split(' ')[0]!;
    // Reuse the -Sn reader for the options: a command line is a save line with another verb.
    const asSave = line.replace(/^-[AED]/, '-A').replace(/^-[aed]/, '-a');
    const parsed = [...parseIpvsSave(`-A ${asSave.split(' ').slice(1, 3).join(' ')} -s rr\n${asSave}\n`).values()][0];
    if (!parsed) throw new Error(`ipvsadm: cannot parse ${line}`);
    const key = vsKey(parsed.vs);
    const existing = services.get(key);
    if (cmd === '-A') {
      if (existing) throw new Error('Service already exists');
      services.set(key, { vs: parsed.vs, servers: new Map() });
    } else if (cmd === '-E' || cmd === '-D') {
      if (!existing) throw new Error('No such service');
      if (cmd === '-E') existing.vs = { ...parsed.vs, persistent: parsed.vs.persistent || existing.vs.persistent, sourceHash: parsed.vs.sourceHash || existing.vs.sourceHash };
      else services.delete(key);
    } else {
      if (!existing) throw new Error('No such service');
      const rs = [...parsed.realServers.values()][0];
      if (!rs) throw new Error(`ipvsadm: no -r in ${line}`);
      const k = rsKey(rs);
      const had = existing.servers.get(k);
      if (cmd === '-a') {
        if (had) throw new Error('Destination already exists');
        existing.servers.set(k, { address: rs.address, port: rs.port, weight: rs.weight, active: 0, inactive: 0 });
      } else if (!had) throw new Error('No such destination');
      else if (cmd === '-e') had.weight = rs.weight;
      else existing.servers.delete(k);
    }
  };
  const sorted = () => [...services.values()].sort((a, b) => (vsKey(a.vs) < vsKey(b.vs) ? -1 : 1));
  return {
    commands,
    setConnections(name, active, inactive) {
      const [vip, proto, rs] = name.split('/') as [string, IpvsProtocol, string];
      const s = services.get(`${vip}/${proto}`)?.servers.get(rs);
      if (!s) throw new Error(`no real server ${name}`);
      Object.assign(s, { active, inactive });
    },
    async save() {
      const out: string[] = [];
      for (const { vs, servers } of sorted()) {
        out.push(`-A ${serviceArgs(vs)} -s ${vs.scheduler}${vs.persistent ? ` -p ${vs.timeout}` : ''}${vs.sourceHash ? ' -b flag-2' : ''}`);
        for (const s of servers.values()) out.push(`-a ${serviceArgs(vs)} -r ${joinHostPort(s.address, s.port)} -m -w ${s.weight}`);
      }
      return out.length ? `${out.join('\n')}\n` : '';
    },
    async list() {
      const out = ['IP Virtual Server version 1.2.1 (size=4096)', 'Prot LocalAddress:Port Scheduler Flags', '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn'];
      for (const { vs, servers } of sorted()) {
        out.push(`${vs.protocol}  ${joinHostPort(vs.address, vs.port)} ${vs.scheduler}${vs.persistent ? ` persistent ${vs.timeout}` : ''}`);
        for (const s of servers.values()) out.push(`  -> ${joinHostPort(s.address, s.port).padEnd(28)} Masq    ${s.weight}      ${s.active}          ${s.inactive}`);
      }
      return `${out.join('\n')}\n`;
    },
    async restore(lines) {
      const errors: string[] = [];
      for (const l of lines) {
        commands.push(l);
        try {
          one(l);
        } catch (err) {
          errors.push(`${l}: ${(err as Error).message}`);
        }
      }
      if (errors.length) throw new Error(`ipvsadm -R: ${errors.join('; ')}`);
    },
    async clear() {
      services.clear();
    },
    async setTimeouts() {},
    async version() {
      return 'ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)';
    },
  };
}

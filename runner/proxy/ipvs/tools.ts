// The programs the IPVS mode drives (Debian's ipvsadm, ipset and iproute2's ip), run
// where the proxy's commands run (this namespace or --netns).
import { parseAddressesByDevice } from '../../core/proxy/ipvs/interface.ts';
import { DUMMY_DEVICE } from '../../core/proxy/ipvs/names.ts';
import { UserError } from '../../errors.ts';
import type { Exec } from '../exec.ts';

type Result = { code: number | null; stdout: string; stderr: string };

const TIMEOUT = 5 * 60_000;

/** Runs a program; a missing one is a one-line error naming the Debian package. */
async function runTool(exec: Exec, cmd: string, args: string[], pkg: string, input?: string): Promise<Result> {
  const missing = () => new UserError(`${cmd} not found: install Debian's ${pkg} package (apt-get install ${pkg}); the IPVS mode needs it`);
  let r: Result;
  try {
    r = await exec(cmd, args, { allowFailure: true, timeoutMs: TIMEOUT, input });
  } catch (err) {
    if (/command not found|ENOENT/.test((err as Error).message)) throw missing();
    throw err;
  }
  // Through `ip netns exec` (--netns) a missing program is an exit status, not a spawn error.
  if (r.code !== 0 && new RegExp(`exec of "${cmd}" failed: No such file|${cmd}: (command )?not found`).test(r.stderr)) throw missing();
  return r;
}

function failure(what: string, r: Result): Error {
  return new Error(`${what} exited ${r.code}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
}

export interface Ipvsadm {
  /** `ipvsadm -Sn`: the virtual servers in the restore dialect. */
  save(): Promise<string>;
  /** `ipvsadm -Ln`: with each real server's connection counts. */
  list(): Promise<string>;
  /** `ipvsadm -R`: fails when ipvsadm reports any error (it goes on after one). */
  restore(lines: string[]): Promise<void>;
  /** `ipvsadm -C`: deletes every virtual server. */
  clear(): Promise<void>;
  /** `ipvsadm --set TCP TCPFIN UDP` (seconds; 0 keeps the kernel's). */
  setTimeouts(tcp: number, tcpFin: number, udp: number): Promise<void>;
  version(): Promise<string>;
}

export function newIpvsadm(exec: Exec): Ipvsadm {
  const ipvsadm = (args: string[], input?: string) => runTool(exec, 'ipvsadm', args, 'ipvsadm', input);
  const checked = async (args: string[], input?: string) => {
    const r = await ipvsadm(args, input);
    if (r.code !== 0 || r.stderr.trim() !== '') throw failure(`ipvsadm ${args.join(' ')}`, r);
    return r.stdout;
  };
  return {
    save: () => checked(['-Sn']),
    list: () => checked(['-Ln']),
    async restore(lines) {
      if (lines.length) await checked(['-R'], `${lines.join('\n')}\n`);
    },
    async clear() {
      await checked(['-C']);
    },
    async setTimeouts(tcp, tcpFin, udp) {
      await checked(['--set', String(tcp), String(tcpFin), String(udp)]);
    },
    version: () => checked(['--version']),
  };
}

export interface Ipset {
  /** `ipset save` of every set. */
  save(): Promise<string>;
  /** `ipset restore -exist`. */
  restore(text: string): Promise<void>;
  /** The set names (`ipset list -n`). */
  names(): Promise<string[]>;
  destroy(name: string): Promise<void>;
  /** "7.17" from `ipset --version`. */
  version(): Promise<string>;
}

export function newIpset(exec: Exec): Ipset {
  const ipset = (args: string[], input?: string) => runTool(exec, 'ipset', args, 'ipset', input);
  const checked = async (args: string[], input?: string) => {
    const r = await ipset(args, input);
    if (r.code !== 0) throw failure(`ipset ${args.join(' ')}`, r);
    return r.stdout;
  };
  return {
    save: () => checked(['save']),
    async restore(text) {
      if (text) await checked(['restore', '-exist'], text);
    },
    async names() {
      return (await checked(['list', '-n'])).split('\n').map((l) => l.trim()).filter(Boolean);
    },
    async destroy(name) {
      await checked(['destroy', name]);
    },
    async version() {
      const m = /v(\d+\.\d+)/.exec(await checked(['--version']));
      if (!m) throw new Error('ipset --version printed no version');
      return m[1]!;
    },
  };
}

export interface IpLinks {
  /** The dummy device's type ("dummy", "bridge", …), or null when there is none. */
  deviceType(): Promise<string | null>;
  createDummy(): Promise<void>;
  deleteDevice(): Promise<void>;
  /** Every interface's addresses (`ip -o addr show`). */
  addresses(): Promise<Map<string, string[]>>;
  /** `ip -batch -`. */
  batch(text: string): Promise<void>;
}

export function newIpLinks(exec: Exec): IpLinks {
  const ip = (args: string[], input?: string) => runTool(exec, 'ip', args, 'iproute2', input);
  return {
    async deviceType() {
      const r = await ip(['-d', '-j', 'link', 'show', 'dev', DUMMY_DEVICE]);
      if (r.code !== 0) return null;
      try {
        const links = JSON.parse(r.stdout) as { linkinfo?: { info_kind?: string } }[];
        return links[0]?.linkinfo?.info_kind ?? 'device';
      } catch {
        return 'device';
      }
    },
    async createDummy() {
      const r = await ip(['link', 'add', DUMMY_DEVICE, 'type', 'dummy']);
      if (r.code !== 0) {
        const why = r.stderr.trim();
        throw new Error(`creating the ${DUMMY_DEVICE} dummy interface: ${why}${/Unknown device type|not supported/i.test(why) ? ' (this kernel has no dummy interfaces, CONFIG_DUMMY)' : ''}`);
      }
    },
    async deleteDevice() {
      const r = await ip(['link', 'del', DUMMY_DEVICE]);
      if (r.code !== 0) throw failure(`ip link del ${DUMMY_DEVICE}`, r);
    },
    async addresses() {
      const r = await ip(['-o', 'addr', 'show']);
      if (r.code !== 0) throw failure('ip -o addr show', r);
      return parseAddressesByDevice(r.stdout);
    },
    async batch(text) {
      if (!text) return;
      const r = await ip(['-batch', '-'], text);
      if (r.code !== 0) throw failure('ip -batch', r);
    },
  };
}

/** Whether the kernel where the commands run has IPVS: /proc/net/ip_vs (per network namespace) exists. */
export async function ipvsInKernel(exec: Exec): Promise<boolean> {
  const r = await exec('cat', ['/proc/net/ip_vs'], { allowFailure: true, timeoutMs: 10_000 }).catch(() => null);
  return r !== null && r.code === 0;
}

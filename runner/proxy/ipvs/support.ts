// Whether the IPVS mode can run where the proxy's commands run (upstream CanUseIPVSProxier:
// IPVS in the kernel, ipset >= 6.0, a scheduler the kernel accepts) and the kernel settings
// it needs (upstream NewProxier's sysctls and ipvsadm --set).
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseIpvsSave } from '../../core/proxy/ipvs/virtual-servers.ts';
import type { IpvsSettings } from '../../core/proxy/ipvs/options.ts';
import { UserError, oneLine } from '../../errors.ts';
import type { Exec } from '../exec.ts';
import type { LogLine } from '../log.ts';
import { ipvsInKernel, newIpset, newIpvsadm } from './tools.ts';

export const MIN_IPSET_VERSION = '6.0';

function atLeast(version: string, min: string): boolean {
  const [a = 0, b = 0] = version.split('.').map(Number);
  const [c = 0, d = 0] = min.split('.').map(Number);
  return a > c || (a === c && b >= d);
}

/** Why this kernel has no IPVS, or null when it has. Loads ip_vs with modprobe when it can, as libipvs does. */
export async function ipvsUnavailable(exec: Exec): Promise<string | null> {
  if (await ipvsInKernel(exec)) return null;
  const r = await exec('modprobe', ['-va', 'ip_vs'], { allowFailure: true, timeoutMs: 30_000 }).catch((err: Error) => ({ code: -1, stdout: '', stderr: oneLine(err) }));
  if (await ipvsInKernel(exec)) return null;
  const why = r.code === 0 ? 'it loaded, yet there is still no /proc/net/ip_vs' : (r.stderr || r.stdout).trim().split('\n')[0] || `exit ${r.code}`;
  return `this kernel has no IPVS (no /proc/net/ip_vs; modprobe ip_vs: ${why})`;
}

/**
 * Refuses the mode with a one-line UserError when it cannot work here; the caller keeps
 * its current mode. The scheduler is tried with a throw-away virtual server on TEST-NET-2
 * (198.51.100.0:20000) unless a virtual server already uses it, as upstream does.
 */
export async function checkIpvsSupport(exec: Exec, ipvs: IpvsSettings): Promise<void> {
  const kernel = await ipvsUnavailable(exec);
  if (kernel) throw new UserError(`--proxy-mode=ipvs: can't use the IPVS proxier: ${kernel}; keeping the current mode`);
  const ipvsadm = newIpvsadm(exec);
  await ipvsadm.version();
  const version = await newIpset(exec).version();
  if (!atLeast(version, MIN_IPSET_VERSION)) throw new UserError(`--proxy-mode=ipvs: ipset ${version} is older than ${MIN_IPSET_VERSION}; install a newer ipset package`);
  const existing = [...parseIpvsSave(await ipvsadm.save()).values()];
  if (existing.some((v) => v.vs.scheduler === ipvs.scheduler)) return;
  const probe = `-t 198.51.100.0:20000`;
  try {
    await ipvsadm.restore([`-A ${probe} -s ${ipvs.scheduler}`]);
    const added = parseIpvsSave(await ipvsadm.save()).has('198.51.100.0:20000/TCP');
    await ipvsadm.restore([`-D ${probe}`]);
    if (!added) throw new Error('the test virtual server was not created');
  } catch (err) {
    throw new UserError(`--proxy-mode=ipvs: can't use the IPVS proxier: the kernel refused scheduler ${JSON.stringify(ipvs.scheduler)} (--ipvs-scheduler; is ip_vs_${ipvs.scheduler} available?): ${oneLine(err)}; keeping the current mode`);
  }
}

/**
 * Sets a sysctl ("net/ipv4/vs/conntrack") where the commands run; with $SVCLAB_PROC_SYS
 * (a pod with the node's /proc/sys mounted there) through its files.
 */
export async function ensureSysctl(exec: Exec, name: string, value: number): Promise<boolean> {
  const procSys = process.env.SVCLAB_PROC_SYS;
  if (procSys) {
    const path = join(procSys, ...name.split('/'));
    const now = await readFile(path, 'utf8').catch(() => null);
    if (now !== null && Number(now.trim()) === value) return true;
    return writeFile(path, `${value}\n`).then(() => true, () => false);
  }
  const dotted = name.replaceAll('/', '.');
  const get = await exec('sysctl', ['-n', dotted], { allowFailure: true, timeoutMs: 10_000 }).catch(() => null);
  if (get && get.code === 0 && Number(get.stdout.trim()) === value) return true;
  const set = await exec('sysctl', ['-qw', `${dotted}=${value}`], { allowFailure: true, timeoutMs: 10_000 }).catch(() => null);
  return set !== null && set.code === 0;
}

/** Upstream's IPVS kernel settings; the failures are logged (upstream fails the start on them). */
export async function configureKernel(exec: Exec, ipvs: IpvsSettings, log: LogLine): Promise<void> {
  const wanted: [string, number][] = [['net/ipv4/vs/conntrack', 1]];
  const release = await exec('uname', ['-r'], { allowFailure: true, timeoutMs: 10_000 }).catch(() => null);
  const [major = 0, minor = 0] = (release?.stdout.trim() ?? '').split(/[.-]/).map(Number);
  const kernel = major * 1000 + minor;
  // conn_reuse_mode=0 before 5.9 (kubernetes#93297); since 5.9 the default works.
  if (kernel < 4001) log('kernel older than 4.1: cannot set net/ipv4/vs/conn_reuse_mode');
  else if (kernel < 5009) wanted.push(['net/ipv4/vs/conn_reuse_mode', 0]);
  wanted.push(['net/ipv4/vs/expire_nodest_conn', 1], ['net/ipv4/vs/expire_quiescent_template', 1], ['net/ipv4/ip_forward', 1]);
  if (ipvs.strictARP) wanted.push(['net/ipv4/conf/all/arp_ignore', 1], ['net/ipv4/conf/all/arp_announce', 2]);
  for (const [name, value] of wanted) if (!(await ensureSysctl(exec, name, value))) log(`could not set sysctl ${name}=${value}`);
  if (ipvs.tcpTimeoutSeconds > 0 || ipvs.tcpFinTimeoutSeconds > 0 || ipvs.udpTimeoutSeconds > 0) {
    await newIpvsadm(exec).setTimeouts(ipvs.tcpTimeoutSeconds, ipvs.tcpFinTimeoutSeconds, ipvs.udpTimeoutSeconds).catch((err: Error) => log(`failed to configure IPVS timeouts: ${oneLine(err)}`));
  }
}

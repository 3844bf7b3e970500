// Upstream kube-proxy's --ipvs-* flags, for `svclab proxy render` and `svclab proxy run`.
import { Option, type Command } from 'commander';
import { DEFAULT_IPVS_SETTINGS, validateIpvsSettings, type IpvsSettings } from '../../core/proxy/ipvs/options.ts';
import { UserError } from '../../errors.ts';
import { parseBool } from '../flags.ts';

export interface IpvsFlagValues {
  ipvsScheduler?: string;
  ipvsExcludeCidrs?: string[];
  ipvsStrictArp?: boolean;
  ipvsTcpTimeout?: string;
  ipvsTcpfinTimeout?: string;
  ipvsUdpTimeout?: string;
  ipvsSyncPeriod?: string;
  ipvsMinSyncPeriod?: string;
}

const list = (v: string, prev: string[] = []) => [...prev, ...v.split(',').map((s) => s.trim()).filter(Boolean)];

/** The flags that shape IPVS rules (render and run). */
export function addIpvsRuleFlags(cmd: Command): Command {
  return cmd.option('--ipvs-scheduler <name>', 'the IPVS scheduler of every virtual server (rr, wrr, lc, wlc, sh, mh, …; default rr)');
}

/** The flags only a running IPVS proxier uses. */
export function addIpvsRunFlags(cmd: Command): Command {
  return addIpvsRuleFlags(cmd)
    .option('--ipvs-exclude-cidrs <cidrs>', 'CIDRs (comma-separated or repeated) whose virtual servers the IPVS proxier never deletes', list, [])
    .addOption(new Option('--ipvs-strict-arp [bool]', 'set arp_ignore=1 and arp_announce=2, so that only kube-ipvs0\'s owner answers ARP for its addresses').argParser(parseBool('ipvs-strict-arp')).default(false))
    .option('--ipvs-tcp-timeout <duration>', 'timeout of idle IPVS TCP connections, 0 to leave as is', '0s')
    .option('--ipvs-tcpfin-timeout <duration>', 'timeout of IPVS TCP connections after a FIN, 0 to leave as is', '0s')
    .option('--ipvs-udp-timeout <duration>', 'timeout of IPVS UDP packets, 0 to leave as is', '0s')
    .option('--ipvs-sync-period <duration>', 'with --proxy-mode=ipvs: overrides --iptables-sync-period')
    .option('--ipvs-min-sync-period <duration>', 'with --proxy-mode=ipvs: overrides --iptables-min-sync-period');
}

function seconds(flag: string, raw: string | undefined, parseDuration: (s: string) => number | null): number {
  if (raw === undefined) return 0;
  const ms = parseDuration(raw);
  if (ms === null || ms < 0) throw new UserError(`--${flag} ${raw}: expected a duration, e.g. 900s`);
  return Math.floor(ms / 1000);
}

export function ipvsSettingsFromFlags(v: IpvsFlagValues, parseDuration: (s: string) => number | null): IpvsSettings {
  const s: IpvsSettings = {
    ...DEFAULT_IPVS_SETTINGS,
    scheduler: v.ipvsScheduler?.trim() || DEFAULT_IPVS_SETTINGS.scheduler,
    excludeCIDRs: v.ipvsExcludeCidrs ?? [],
    strictARP: v.ipvsStrictArp ?? false,
    tcpTimeoutSeconds: seconds('ipvs-tcp-timeout', v.ipvsTcpTimeout, parseDuration),
    tcpFinTimeoutSeconds: seconds('ipvs-tcpfin-timeout', v.ipvsTcpfinTimeout, parseDuration),
    udpTimeoutSeconds: seconds('ipvs-udp-timeout', v.ipvsUdpTimeout, parseDuration),
  };
  const problem = validateIpvsSettings(s);
  if (problem) throw new UserError(problem);
  return s;
}

/** Upstream: with --proxy-mode=ipvs, --ipvs-sync-period and --ipvs-min-sync-period win when given. */
export function ipvsSyncPeriods(v: IpvsFlagValues, parseDuration: (s: string) => number | null): { syncPeriodMs?: number; minSyncPeriodMs?: number } {
  const out: { syncPeriodMs?: number; minSyncPeriodMs?: number } = {};
  if (v.ipvsSyncPeriod !== undefined) {
    const ms = parseDuration(v.ipvsSyncPeriod);
    if (ms === null || ms <= 0) throw new UserError(`--ipvs-sync-period ${v.ipvsSyncPeriod}: expected a duration greater than 0, e.g. 30s`);
    out.syncPeriodMs = ms;
  }
  if (v.ipvsMinSyncPeriod !== undefined) {
    const ms = parseDuration(v.ipvsMinSyncPeriod);
    if (ms === null) throw new UserError(`--ipvs-min-sync-period ${v.ipvsMinSyncPeriod}: expected a duration, e.g. 1s`);
    out.minSyncPeriodMs = ms;
  }
  return out;
}

// The flags only the userspace mode reads (upstream names and defaults): --proxy-port-range
// and --udp-timeout; and what `svclab proxy run` refuses in this mode.
import type { Command } from 'commander';
import { listenProblem } from '../../core/proxy/userspace/addresses.ts';
import { parsePortRange, type PortRange } from '../../core/proxy/userspace/port-range.ts';
import { UserError } from '../../errors.ts';

export interface UserspaceOptions {
  /** null: ephemeral ports, chosen by the kernel. */
  portRange: PortRange | null;
  /** How long a UDP "connection" lives without a datagram either way. */
  udpIdleTimeoutMs: number;
}

export const DEFAULT_USERSPACE_OPTIONS: UserspaceOptions = { portRange: null, udpIdleTimeoutMs: 250 };

export interface UserspaceFlagValues {
  proxyPortRange: string;
  udpTimeout: string;
}

export function addUserspaceFlags(cmd: Command): Command {
  return cmd
    .option('--proxy-port-range <range>', 'userspace mode: host ports (begin-end, begin+offset or one port, inclusive) the proxy listens on; unset or 0-0: ephemeral ports', '')
    .option('--udp-timeout <duration>', 'userspace mode: how long an idle UDP connection is kept open (greater than 0)', '250ms');
}

export function userspaceOptionsFromFlags(v: UserspaceFlagValues, parseDuration: (raw: string) => number | null): UserspaceOptions {
  const range = parsePortRange(v.proxyPortRange);
  if (range && 'error' in range) throw new UserError(range.error);
  const udpIdleTimeoutMs = parseDuration(v.udpTimeout);
  if (udpIdleTimeoutMs === null || udpIdleTimeoutMs <= 0) throw new UserError(`--udp-timeout ${v.udpTimeout}: expected a duration greater than 0, e.g. 250ms`);
  return { portRange: range, udpIdleTimeoutMs };
}

/**
 * Refuses what cannot work in userspace mode, before anything starts: `--netns` (it only
 * moves the proxy's commands; the proxy's sockets must be in the node's namespace too),
 * and a loopback --bind-address.
 */
export function checkUserspaceRun(o: { proxyMode: string; netns?: string; bindAddress: string }): void {
  if (o.proxyMode !== 'userspace') return;
  if (o.netns) {
    throw new UserError(`--netns cannot be used with --proxy-mode=userspace: its proxy sockets must be in the node's network namespace; run it inside instead: ip netns exec ${o.netns} svclab proxy run --proxy-mode userspace …`);
  }
  const problem = listenProblem(o.bindAddress);
  if (problem) throw new UserError(problem);
}

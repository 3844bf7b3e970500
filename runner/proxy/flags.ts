// kube-proxy's command-line flags (upstream names and defaults) shared by `svclab proxy
// render`, `svclab proxy run` and the in-cluster component.
import { Option, type Command } from 'commander';
import { hostname } from 'node:os';
import { DEFAULT_SETTINGS, validateSettings, type ProxySettings } from '../core/proxy/options.ts';
import { UserError } from '../errors.ts';

export function parseBool(flag: string) {
  return (v: string | undefined): boolean => {
    if (v === undefined || v === 'true' || v === '1') return true;
    if (v === 'false' || v === '0') return false;
    throw new UserError(`--${flag}=${v}: expected true or false`);
  };
}

const collect = (v: string, prev: string[] = []) => [...prev, ...v.split(',').map((s) => s.trim()).filter(Boolean)];

/** Adds the flags that shape the rules. */
export function addRuleFlags(cmd: Command): Command {
  return cmd
    .option('--hostname-override <name>', 'the name of the Node this proxy runs on (default: the host name)')
    .option('--cluster-cidr <cidrs>', 'the pods\' CIDR range(s), comma-separated; traffic from outside it to a ClusterIP is masqueraded')
    .addOption(new Option('--detect-local-mode <mode>', 'how pod traffic is recognised').choices(['ClusterCIDR', 'NodeCIDR', 'BridgeInterface', 'InterfaceNamePrefix']).default('ClusterCIDR'))
    .option('--pod-bridge-interface <name>', 'with --detect-local-mode=BridgeInterface: the pods\' bridge')
    .option('--pod-interface-name-prefix <prefix>', 'with --detect-local-mode=InterfaceNamePrefix: the pods\' interface name prefix')
    .addOption(new Option('--masquerade-all [bool]', 'SNAT all traffic sent via Service cluster IPs').argParser(parseBool('masquerade-all')).default(false))
    .option('--iptables-masquerade-bit <bit>', 'the bit of the fwmark space that marks packets requiring SNAT (0-31)', '14')
    .option('--nodeport-addresses <cidrs>', 'accept NodePort connections only on node IPs in these CIDRs (comma-separated or repeated), or "primary"', collect, [])
    .addOption(new Option('--iptables-localhost-nodeports [bool]', 'allow NodePort services to be reached via localhost (IPv4)').argParser(parseBool('iptables-localhost-nodeports')).default(true))
    .option('--bind-address <ip>', 'overrides the node\'s primary IP (from its Node object)', '0.0.0.0')
    .addOption(new Option('--conntrack-tcp-be-liberal [bool]', 'nf_conntrack_tcp_be_liberal is set: no DROP rule for INVALID packets').argParser(parseBool('conntrack-tcp-be-liberal')).default(false));
}

export interface RuleFlagValues {
  hostnameOverride?: string;
  clusterCidr?: string;
  detectLocalMode: string;
  podBridgeInterface?: string;
  podInterfaceNamePrefix?: string;
  masqueradeAll: boolean;
  iptablesMasqueradeBit: string;
  nodeportAddresses: string[];
  iptablesLocalhostNodeports: boolean;
  bindAddress: string;
  conntrackTcpBeLiberal: boolean;
}

/** Upstream lower-cases and trims the node name (nodeutil.GetHostname). */
export function nodeNameFrom(override: string | undefined): string {
  const name = (override ?? '').trim() || hostname();
  return name.trim().toLowerCase();
}

export function settingsFromFlags(v: RuleFlagValues, extra: Partial<ProxySettings> = {}): ProxySettings {
  const bit = Number(v.iptablesMasqueradeBit);
  const s: ProxySettings = {
    ...DEFAULT_SETTINGS,
    nodeName: nodeNameFrom(v.hostnameOverride),
    clusterCIDRs: (v.clusterCidr ?? '').split(',').map((c) => c.trim()).filter(Boolean),
    detectLocalMode: v.detectLocalMode,
    podBridgeInterface: v.podBridgeInterface ?? '',
    podInterfaceNamePrefix: v.podInterfaceNamePrefix ?? '',
    masqueradeAll: v.masqueradeAll,
    masqueradeBit: /^\d+$/.test(v.iptablesMasqueradeBit) ? bit : NaN,
    nodePortAddresses: v.nodeportAddresses,
    localhostNodePorts: v.iptablesLocalhostNodeports,
    bindAddress: v.bindAddress,
    conntrackTCPBeLiberal: v.conntrackTcpBeLiberal,
    ...extra,
  };
  if (Number.isNaN(s.masqueradeBit)) throw new UserError(`--iptables-masquerade-bit ${v.iptablesMasqueradeBit} must be an integer within the range [0, 31]`);
  const problem = validateSettings(s);
  if (problem) throw new UserError(problem);
  return s;
}

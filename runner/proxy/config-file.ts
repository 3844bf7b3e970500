// kube-proxy's --config: a KubeProxyConfiguration (kubeproxy.config.k8s.io/v1alpha1), as
// kubeadm clusters keep it in the kube-system/kube-proxy ConfigMap. Switching a node's
// proxy mode there is editing `mode:` and restarting the DaemonSet's pods, here as on a
// production cluster. Like upstream, the file's settings replace the flags' (except
// --hostname-override); settings svclab does not implement are named in one warning.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { UserError } from '../errors.ts';
import { PROXY_MODES } from './mode.ts';

/** The flag values a config file can set (the keys of RunFlagValues they map to). */
export interface ConfigFileValues {
  proxyMode?: string;
  kubeconfig?: string;
  clusterCidr?: string;
  bindAddress?: string;
  healthzBindAddress?: string;
  metricsBindAddress?: string;
  nodeportAddresses?: string[];
  detectLocalMode?: string;
  masqueradeAll?: boolean;
  iptablesMasqueradeBit?: string;
  iptablesSyncPeriod?: string;
  iptablesMinSyncPeriod?: string;
  iptablesLocalhostNodeports?: boolean;
  ipvsScheduler?: string;
}

const API_VERSION = 'kubeproxy.config.k8s.io/v1alpha1';
const USED = new Set(['apiVersion', 'kind', 'mode', 'clientConnection', 'clusterCIDR', 'bindAddress', 'healthzBindAddress', 'metricsBindAddress', 'nodePortAddresses', 'detectLocalMode', 'iptables', 'ipvs', 'syncPeriod', 'minSyncPeriod', 'hostnameOverride']);

type Doc = Record<string, unknown>;
const isObject = (v: unknown): v is Doc => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Maps a parsed KubeProxyConfiguration to flag values; throws a one-line UserError naming the field. */
export function configFileValues(doc: unknown, source: string): { values: ConfigFileValues; ignored: string[] } {
  if (!isObject(doc)) throw new UserError(`${source}: expected a KubeProxyConfiguration (apiVersion: ${API_VERSION})`);
  if (doc.apiVersion !== API_VERSION || doc.kind !== 'KubeProxyConfiguration') {
    throw new UserError(`${source}: expected apiVersion ${API_VERSION} and kind KubeProxyConfiguration, got ${String(doc.apiVersion)} ${String(doc.kind)}`);
  }
  const str = (field: string, v: unknown): string | undefined => {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') throw new UserError(`${source}: ${field} must be a string`);
    return v;
  };
  const bool = (field: string, v: unknown): boolean | undefined => {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'boolean') throw new UserError(`${source}: ${field} must be true or false`);
    return v;
  };
  const values: ConfigFileValues = {};
  const mode = str('mode', doc.mode);
  if (mode !== undefined) {
    // Upstream: an empty mode is the platform default, iptables on Linux.
    if (mode !== '' && !(PROXY_MODES as readonly string[]).includes(mode)) throw new UserError(`${source}: mode "${mode}" is not one of ${PROXY_MODES.join(', ')}`);
    values.proxyMode = mode || 'iptables';
  }
  if (isObject(doc.clientConnection)) values.kubeconfig = str('clientConnection.kubeconfig', doc.clientConnection.kubeconfig) || undefined;
  values.clusterCidr = str('clusterCIDR', doc.clusterCIDR);
  values.bindAddress = str('bindAddress', doc.bindAddress) || undefined;
  values.healthzBindAddress = str('healthzBindAddress', doc.healthzBindAddress);
  values.metricsBindAddress = str('metricsBindAddress', doc.metricsBindAddress);
  values.detectLocalMode = str('detectLocalMode', doc.detectLocalMode) || undefined;
  if (doc.nodePortAddresses !== undefined && doc.nodePortAddresses !== null) {
    if (!Array.isArray(doc.nodePortAddresses) || doc.nodePortAddresses.some((a) => typeof a !== 'string')) throw new UserError(`${source}: nodePortAddresses must be a list of CIDRs`);
    values.nodeportAddresses = doc.nodePortAddresses as string[];
  }
  // v1alpha1 has the sync periods at the top (since 1.31) and under iptables.
  values.iptablesSyncPeriod = str('syncPeriod', doc.syncPeriod) || undefined;
  values.iptablesMinSyncPeriod = str('minSyncPeriod', doc.minSyncPeriod) || undefined;
  if (isObject(doc.iptables)) {
    const ipt = doc.iptables;
    values.masqueradeAll = bool('iptables.masqueradeAll', ipt.masqueradeAll);
    if (ipt.masqueradeBit !== undefined && ipt.masqueradeBit !== null) {
      if (!Number.isInteger(ipt.masqueradeBit)) throw new UserError(`${source}: iptables.masqueradeBit must be an integer`);
      values.iptablesMasqueradeBit = String(ipt.masqueradeBit);
    }
    values.iptablesSyncPeriod = str('iptables.syncPeriod', ipt.syncPeriod) || values.iptablesSyncPeriod;
    values.iptablesMinSyncPeriod = str('iptables.minSyncPeriod', ipt.minSyncPeriod) || values.iptablesMinSyncPeriod;
    values.iptablesLocalhostNodeports = bool('iptables.localhostNodePorts', ipt.localhostNodePorts);
  }
  if (isObject(doc.ipvs)) values.ipvsScheduler = str('ipvs.scheduler', doc.ipvs.scheduler) || undefined;
  for (const k of Object.keys(values) as (keyof ConfigFileValues)[]) if (values[k] === undefined) delete values[k];
  return { values, ignored: Object.keys(doc).filter((k) => !USED.has(k)).sort() };
}

export function readConfigFile(path: string): { values: ConfigFileValues; ignored: string[] } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UserError(`--config ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new UserError(`--config ${path}: not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  return configFileValues(doc, `--config ${path}`);
}

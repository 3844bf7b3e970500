// The names upstream's nftables proxier gives its table, chains, sets and maps
// (pkg/proxy/nftables/proxier.go), and the hashed per-service and per-endpoint names.
import { base32, sha256, utf8 } from '../sha256.ts';

export const TABLE = 'kube-proxy';

// Base chains ("${type}-${hook}", plus the two that run before DNAT).
export const FILTER_PREROUTING_PRE_DNAT = 'filter-prerouting-pre-dnat';
export const FILTER_OUTPUT_PRE_DNAT = 'filter-output-pre-dnat';
export const FILTER_INPUT = 'filter-input';
export const FILTER_FORWARD = 'filter-forward';
export const FILTER_OUTPUT = 'filter-output';
export const NAT_PREROUTING = 'nat-prerouting';
export const NAT_OUTPUT = 'nat-output';
export const NAT_POSTROUTING = 'nat-postrouting';

export const SERVICES_CHAIN = 'services';
export const SERVICE_IPS_MAP = 'service-ips';
export const SERVICE_NODEPORTS_MAP = 'service-nodeports';
export const NODEPORT_IPS_SET = 'nodeport-ips';
export const CLUSTER_IPS_SET = 'cluster-ips';
export const SERVICE_ENDPOINTS_CHECK_CHAIN = 'service-endpoints-check';
export const NODEPORT_ENDPOINTS_CHECK_CHAIN = 'nodeport-endpoints-check';
export const NO_ENDPOINT_SERVICES_MAP = 'no-endpoint-services';
export const NO_ENDPOINT_NODEPORTS_MAP = 'no-endpoint-nodeports';
export const REJECT_CHAIN = 'reject-chain';
export const CLUSTER_IPS_CHECK_CHAIN = 'cluster-ips-check';
export const FIREWALL_IPS_MAP = 'firewall-ips';
export const FIREWALL_CHECK_CHAIN = 'firewall-check';
export const MARK_MASQ_CHAIN = 'mark-for-masquerade';
export const MASQUERADING_CHAIN = 'masquerading';

export const SERVICE_PREFIX = 'service-';
export const LOCAL_PREFIX = 'local-';
export const EXTERNAL_PREFIX = 'external-';
export const ENDPOINT_PREFIX = 'endpoint-';
export const AFFINITY_PREFIX = 'affinity-';
export const FIREWALL_PREFIX = 'firewall-';

/** knftables.NameLengthMax minus the longest prefix (16, with its hyphen). */
const CHAIN_NAME_BASE_LENGTH_MAX = 256 - 16;

// Names are a pure function of their input and a full sync asks for all of them again:
// remember them, and forget all at once past a bound so churn cannot grow the map forever.
const CACHE_LIMIT = 200_000;
const cache = new Map<string, string>();

/** base32(sha256(name))[:8] + "-" + name, cut to 240 characters with "..." (upstream hashAndTruncate). */
export function hashAndTruncate(name: string): string {
  let out = cache.get(name);
  if (out === undefined) {
    if (cache.size >= CACHE_LIMIT) cache.clear();
    out = `${base32(sha256(utf8(name))).slice(0, 8)}-${name}`;
    if (out.length > CHAIN_NAME_BASE_LENGTH_MAX) out = `${out.slice(0, CHAIN_NAME_BASE_LENGTH_MAX - 3)}...`;
    cache.set(name, out);
  }
  return out;
}

/** "HASH-namespace/name/protocol/portName", e.g. "ULMVA6XW-ns1/svc1/tcp/p80". */
export function servicePortChainNameBase(service: string, portName: string, protocol: string): string {
  return hashAndTruncate(`${service}/${protocol}/${portName}`);
}

/**
 * "HASH-namespace/name/protocol/portName__ip/port"; IPv6 colons (not allowed in chain
 * names) become dots. `endpoint` is "ip:port" with IPv6 bracketed.
 */
export function endpointChainNameBase(service: string, portName: string, protocol: string, endpoint: string): string {
  const colon = endpoint.lastIndexOf(':');
  const ip = endpoint.slice(0, colon).replace(/^\[|\]$/g, '').replaceAll(':', '.');
  return hashAndTruncate(`${service}/${protocol}/${portName}__${ip}/${endpoint.slice(colon + 1)}`);
}

/** Service and endpoint chains are the only ones with a "/" in their names. */
export function isServiceChainName(name: string): boolean {
  return name.includes('/');
}

export function isAffinitySetName(name: string): boolean {
  return name.startsWith(AFFINITY_PREFIX);
}

/** The per-service-port chain names of upstream's servicePortInfo. */
export interface ServicePortNames {
  clusterPolicy: string;
  localPolicy: string;
  external: string;
  firewall: string;
}

export function servicePortNames(service: string, portName: string, protocol: string): ServicePortNames {
  const base = servicePortChainNameBase(service, portName, protocol);
  return { clusterPolicy: SERVICE_PREFIX + base, localPolicy: LOCAL_PREFIX + base, external: EXTERNAL_PREFIX + base, firewall: FIREWALL_PREFIX + base };
}

export interface EndpointNames {
  chain: string;
  affinitySet: string;
}

export function endpointNames(service: string, portName: string, protocol: string, endpoint: string): EndpointNames {
  const base = endpointChainNameBase(service, portName, protocol, endpoint);
  return { chain: ENDPOINT_PREFIX + base, affinitySet: AFFINITY_PREFIX + base };
}

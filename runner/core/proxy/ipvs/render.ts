// One sync of kube-proxy's IPVS mode (upstream pkg/proxy/ipvs syncProxyRules and
// writeIptablesRules, v1.34.4) minus the I/O: the addresses to bind to kube-ipvs0, one
// virtual server per service address and port with its real servers, the entries of every
// ipset, and the small fixed iptables-restore input that matches those sets.
import type { EndpointInfo } from '../endpoints.ts';
import { cidrContains, parseCIDR, parseIP, type IPFamily } from '../ip.ts';
import type { LocalDetector, RenderState } from '../render.ts';
import type { ServicePortInfo } from '../service-port.ts';
import { categorizeEndpoints } from '../topology.ts';
import { entry, type IpsetSpec } from './ipset.ts';
import {
  IPSET_INFO, IPSET_IPTABLES_CHAINS, IPVS_CHAINS, KUBE_CLUSTER_IP, KUBE_EXTERNAL_IP, KUBE_EXTERNAL_IP_LOCAL, KUBE_FORWARD,
  KUBE_HEALTH_CHECK_NODE_PORT, KUBE_IPVS_FILTER, KUBE_IPVS_IPS, KUBE_IPVS_OUT_FILTER, KUBE_LOAD_BALANCER, KUBE_LOAD_BALANCER_FW,
  KUBE_LOAD_BALANCER_LOCAL, KUBE_LOAD_BALANCER_SET, KUBE_LOAD_BALANCER_SOURCE_CIDR, KUBE_LOAD_BALANCER_SOURCE_IP, KUBE_LOOP_BACK,
  KUBE_MARK_MASQ, KUBE_NODE_PORT, KUBE_NODE_PORT_LOCAL_SCTP, KUBE_NODE_PORT_LOCAL_TCP, KUBE_NODE_PORT_LOCAL_UDP, KUBE_NODE_PORT_SCTP,
  KUBE_NODE_PORT_TCP, KUBE_NODE_PORT_UDP, KUBE_POSTROUTING, KUBE_SERVICES, KUBE_SOURCE_RANGES_FIREWALL, ipsetName, type SetType,
} from './names.ts';
import type { RealServer, VirtualServerSpec } from './virtual-servers.ts';

export interface IpvsRenderOptions {
  ipFamily: IPFamily;
  nodeName: string;
  /** The node's primary IP of this family: a loadBalancerSourceRange containing it lets the node reach the LB IP. */
  nodeIP: string;
  masqueradeAll: boolean;
  /** e.g. "0x00004000" (see masqueradeMark()). */
  masqueradeMark: string;
  localDetector: LocalDetector | null;
  hasRandomFully: boolean;
  topologyLabels: Record<string, string>;
  /** --ipvs-scheduler (default rr). */
  scheduler: string;
  /**
   * This family's addresses on every interface but kube-ipvs0 (upstream
   * GetAllLocalAddressesExcept): external and LB IPs among them are not bound to kube-ipvs0.
   */
  nodeAddresses: string[];
  /** The addresses NodePort virtual servers listen on (loopback excluded). */
  nodePortIPs: string[];
}

export interface IpvsRenderResult {
  /** Addresses for kube-ipvs0, sorted. */
  bindAddresses: string[];
  /** In service port order: cluster IP, external IPs, load-balancer IPs, node IPs. */
  virtualServers: VirtualServerSpec[];
  /** Every set upstream creates (also the empty ones), in upstream's order, entries sorted. */
  ipsets: IpsetSpec[];
  /** The iptables-restore --noflush input (nat then filter), as upstream writes it. */
  iptables: string;
  /** Services with a Local policy and endpoints, none of them here (kubeproxy_sync_proxy_rules_no_local_endpoints_total). */
  noLocalEndpoints: { internal: number; external: number };
}

class Lines {
  readonly out: string[] = [];
  write(...parts: (string | string[])[]): void {
    this.out.push(parts.flat().join(' '));
  }
}

class SetEntries {
  private readonly sets = new Map<string, Set<string>>(IPSET_INFO.map((i) => [i.name, new Set<string>()]));
  add(set: string, e: string): void {
    this.sets.get(set)!.add(e);
  }
  has(set: string): boolean {
    return this.sets.get(set)!.size > 0;
  }
  replace(set: string, entries: Iterable<string>): void {
    this.sets.set(set, new Set(entries));
  }
  specs(family: IPFamily): IpsetSpec[] {
    return IPSET_INFO.map((i) => ({ name: ipsetName(i.name, family), type: i.type, family, comment: i.comment, entries: [...this.sets.get(i.name)!].sort() }));
  }
}

const setType = new Map<string, SetType>(IPSET_INFO.map((i) => [i.name, i.type]));
const setComment = new Map<string, string>(IPSET_INFO.map((i) => [i.name, i.comment]));

export function renderIpvs(state: RenderState, o: IpvsRenderOptions): IpvsRenderResult {
  const family = o.ipFamily;
  const sets = new SetEntries();
  const virtualServers: VirtualServerSpec[] = [];
  const bind = new Set<string>();
  const nodeAddresses = new Set(o.nodeAddresses);
  const noLocal = { internal: new Set<string>(), external: new Set<string>() };
  const lbNoNodeAccess: { ip: string; protocol: string; port: number }[] = [];
  const nodeIP = parseIP(o.nodeIP);

  for (const sp of state.servicePorts) {
    const protocol = sp.protocol.toLowerCase();
    const endpoints = state.endpointsFor(sp.key);
    const virtualServer = (address: string, port: number, comment: string, onlyNodeLocal: boolean): void => {
      virtualServers.push({
        address,
        protocol: sp.protocol,
        port,
        scheduler: o.scheduler,
        persistent: sp.sessionAffinityClientIP,
        timeout: sp.sessionAffinityClientIP ? sp.stickyMaxAgeSeconds : 0,
        sourceHash: o.scheduler === 'mh',
        comment: `${sp.name} ${comment}`,
        realServers: realServersFor(sp, endpoints, onlyNodeLocal, o, noLocal),
      });
    };

    // Traffic from a local endpoint that the service sends back to it: masqueraded (hairpin).
    for (const ep of endpoints) if (ep.isLocal) sets.add(KUBE_LOOP_BACK, entry.ipPortIp(ep.ip, protocol, ep.port, ep.ip));

    sets.add(KUBE_CLUSTER_IP, entry.ipPort(sp.clusterIP, protocol, sp.port));
    virtualServer(sp.clusterIP, sp.port, 'cluster IP', sp.internalPolicyLocal);
    bind.add(sp.clusterIP);

    for (const ip of sp.externalIPs) {
      sets.add(sp.externalPolicyLocal ? KUBE_EXTERNAL_IP_LOCAL : KUBE_EXTERNAL_IP, entry.ipPort(ip, protocol, sp.port));
      virtualServer(ip, sp.port, 'external IP', sp.externalPolicyLocal);
      if (!nodeAddresses.has(ip)) bind.add(ip);
    }

    for (const ip of sp.loadBalancerVIPs) {
      const e = entry.ipPort(ip, protocol, sp.port);
      sets.add(KUBE_LOAD_BALANCER_SET, e);
      if (sp.externalPolicyLocal) sets.add(KUBE_LOAD_BALANCER_LOCAL, e);
      if (sp.loadBalancerSourceRanges.length > 0) {
        sets.add(KUBE_LOAD_BALANCER_FW, e);
        let allowFromNode = false;
        for (const range of sp.loadBalancerSourceRanges) {
          sets.add(KUBE_LOAD_BALANCER_SOURCE_CIDR, entry.ipPortNet(ip, protocol, sp.port, range));
          const cidr = parseCIDR(range);
          if (cidr && nodeIP && cidrContains(cidr, nodeIP)) allowFromNode = true;
        }
        // The node reaches the LB IP with itself as the source (its address on kube-ipvs0).
        if (allowFromNode) sets.add(KUBE_LOAD_BALANCER_SOURCE_IP, entry.ipPortIp(ip, protocol, sp.port, ip));
        else lbNoNodeAccess.push({ ip, protocol, port: sp.port });
      }
      virtualServer(ip, sp.port, 'loadbalancer IP', sp.externalPolicyLocal);
      if (!nodeAddresses.has(ip)) bind.add(ip);
    }

    if (sp.nodePort !== 0) {
      // Upstream skips the rest of the service port (its health check port too) without node IPs.
      if (o.nodePortIPs.length === 0) continue;
      const [all, local] = nodePortSets(protocol);
      const entries = protocol === 'sctp' ? o.nodePortIPs.map((ip) => entry.ipPort(ip, protocol, sp.nodePort)) : [entry.port(sp.nodePort)];
      for (const e of entries) sets.add(all, e);
      if (sp.externalPolicyLocal) for (const e of entries) sets.add(local, e);
      for (const ip of o.nodePortIPs) virtualServer(ip, sp.nodePort, 'node port', sp.externalPolicyLocal);
    }

    if (sp.healthCheckNodePort !== 0) sets.add(KUBE_HEALTH_CHECK_NODE_PORT, entry.port(sp.healthCheckNodePort));
  }

  sets.replace(KUBE_IPVS_IPS, bind);
  const ipsets = sets.specs(family);
  return {
    bindAddresses: [...bind].sort(),
    virtualServers,
    ipsets,
    iptables: writeIptablesRules(o, sets, lbNoNodeAccess),
    noLocalEndpoints: { internal: noLocal.internal.size, external: noLocal.external.size },
  };
}

function nodePortSets(protocol: string): [string, string] {
  if (protocol === 'udp') return [KUBE_NODE_PORT_UDP, KUBE_NODE_PORT_LOCAL_UDP];
  if (protocol === 'sctp') return [KUBE_NODE_PORT_SCTP, KUBE_NODE_PORT_LOCAL_SCTP];
  return [KUBE_NODE_PORT_TCP, KUBE_NODE_PORT_LOCAL_TCP];
}

/**
 * Upstream syncEndpoint's choice of real servers. With a Local policy, the local endpoints;
 * when there are none, the cluster's (upstream's IPVS mode, kubernetes#97081: pods on this
 * node can still reach the service; traffic from outside is routed but its replies are lost).
 */
function realServersFor(sp: ServicePortInfo, endpoints: EndpointInfo[], onlyNodeLocal: boolean, o: IpvsRenderOptions, noLocal: { internal: Set<string>; external: Set<string> }): RealServer[] {
  const { clusterEndpoints, localEndpoints, hasAnyEndpoints } = categorizeEndpoints(endpoints, sp, o.nodeName, o.topologyLabels);
  let chosen = clusterEndpoints;
  if (onlyNodeLocal) {
    if (localEndpoints.length > 0) chosen = localEndpoints;
    else {
      if (hasAnyEndpoints && sp.internalPolicyLocal) noLocal.internal.add(sp.service);
      if (hasAnyEndpoints && sp.externalPolicyLocal) noLocal.external.add(sp.service);
    }
  }
  return chosen.map((ep) => ({ address: ep.ip, port: ep.port, weight: 1 }));
}

function writeIptablesRules(o: IpvsRenderOptions, sets: SetEntries, lbNoNodeAccess: { ip: string; protocol: string; port: number }[]): string {
  const name = (set: string) => ipsetName(set, o.ipFamily);
  const comment = (set: string) => `"${setComment.get(set)}"`;
  const natChains = new Lines();
  const filterChains = new Lines();
  const nat = new Lines();
  const filter = new Lines();
  natChains.write('*nat');
  filterChains.write('*filter');
  for (const c of IPVS_CHAINS) (c.table === 'nat' ? natChains : filterChains).write(`:${c.chain} - [0:0]`);

  // Connections to localhost are not services.
  nat.write('-A', KUBE_SERVICES, '-s', o.ipFamily === 'IPv6' ? '::1/128' : '127.0.0.0/8', '-j', 'RETURN');

  for (const r of IPSET_IPTABLES_CHAINS) {
    if (!sets.has(r.set)) continue;
    const args = ['-A', r.from, ...(r.protocol ? ['-p', r.protocol] : []), '-m', 'comment', '--comment', comment(r.set), '-m', 'set', '--match-set', name(r.set), r.match, '-j', r.to];
    (r.table === 'filter' ? filter : nat).write(args);
  }

  if (sets.has(KUBE_CLUSTER_IP)) {
    const head = ['-A', KUBE_SERVICES, '-m', 'comment', '--comment', comment(KUBE_CLUSTER_IP), '-m', 'set', '--match-set', name(KUBE_CLUSTER_IP)];
    if (o.masqueradeAll) nat.write(head, 'dst,dst', '-j', KUBE_MARK_MASQ);
    else if (o.localDetector) nat.write(head, 'dst,dst', o.localDetector.ifNotLocal, '-j', KUBE_MARK_MASQ);
    // Without a way to tell pod traffic: masquerade what the node sends from a service VIP
    // (kube-ipvs0 holds them all, so the kernel may pick one as the source).
    else nat.write(head, 'src,dst', '-j', KUBE_MARK_MASQ);
  }

  const externalIPRules = (head: string[]) => {
    // From off the machine (not from a bridge, nor from a local process), or to a local address.
    nat.write(head, '-m', 'physdev', '!', '--physdev-is-in', '-m', 'addrtype', '!', '--src-type', 'LOCAL', '-j', 'ACCEPT');
    nat.write(head, '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'ACCEPT');
  };
  if (sets.has(KUBE_EXTERNAL_IP)) {
    const head = ['-A', KUBE_SERVICES, '-m', 'comment', '--comment', comment(KUBE_EXTERNAL_IP), '-m', 'set', '--match-set', name(KUBE_EXTERNAL_IP), 'dst,dst'];
    nat.write(head, '-j', KUBE_MARK_MASQ);
    externalIPRules(head);
  }
  if (sets.has(KUBE_EXTERNAL_IP_LOCAL)) {
    externalIPRules(['-A', KUBE_SERVICES, '-m', 'comment', '--comment', comment(KUBE_EXTERNAL_IP_LOCAL), '-m', 'set', '--match-set', name(KUBE_EXTERNAL_IP_LOCAL), 'dst,dst']);
  }

  nat.write('-A', KUBE_SERVICES, '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', KUBE_NODE_PORT);
  nat.write('-A', KUBE_LOAD_BALANCER, '-j', KUBE_MARK_MASQ);
  filter.write('-A', KUBE_SOURCE_RANGES_FIREWALL, '-j', 'DROP');

  // A node outside a service's loadBalancerSourceRanges may not reach its LB IP either.
  for (const e of lbNoNodeAccess) {
    filter.write('-A', KUBE_IPVS_OUT_FILTER, '-s', e.ip, '-m', 'ipvs', '--vaddr', e.ip, '--vproto', e.protocol, '--vport', String(e.port), '-j', 'DROP');
  }

  // Accept what goes to a virtual server, whatever other rules would do (last in KUBE-SERVICES).
  for (const set of [KUBE_CLUSTER_IP, KUBE_LOAD_BALANCER_SET]) {
    if (sets.has(set)) nat.write('-A', KUBE_SERVICES, '-m', 'set', '--match-set', name(set), setType.get(set) === 'bitmap:port' ? 'dst' : 'dst,dst', '-j', 'ACCEPT');
  }

  const mark = o.masqueradeMark;
  filter.write('-A', KUBE_FORWARD, '-m', 'comment', '--comment', '"kubernetes forwarding rules"', '-m', 'mark', '--mark', `${mark}/${mark}`, '-j', 'ACCEPT');
  filter.write('-A', KUBE_FORWARD, '-m', 'comment', '--comment', '"kubernetes forwarding conntrack rule"', '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT');
  filter.write('-A', KUBE_NODE_PORT, '-m', 'comment', '--comment', comment(KUBE_HEALTH_CHECK_NODE_PORT), '-m', 'set', '--match-set', name(KUBE_HEALTH_CHECK_NODE_PORT), 'dst', '-j', 'ACCEPT');

  // Ports of the node itself are not reachable through a service VIP (kubernetes#72236).
  for (const [set, match] of [[KUBE_LOAD_BALANCER_SET, 'dst,dst'], [KUBE_CLUSTER_IP, 'dst,dst'], [KUBE_EXTERNAL_IP, 'dst,dst'], [KUBE_EXTERNAL_IP_LOCAL, 'dst,dst'], [KUBE_HEALTH_CHECK_NODE_PORT, 'dst']] as const) {
    filter.write('-A', KUBE_IPVS_FILTER, '-m', 'set', '--match-set', name(set), match, '-j', 'RETURN');
  }
  filter.write('-A', KUBE_IPVS_FILTER, '-m', 'conntrack', '--ctstate', 'NEW', '-m', 'set', '--match-set', name(KUBE_IPVS_IPS), 'dst', '-j', 'REJECT');

  nat.write('-A', KUBE_POSTROUTING, '-m', 'mark', '!', '--mark', `${mark}/${mark}`, '-j', 'RETURN');
  nat.write('-A', KUBE_POSTROUTING, '-j', 'MARK', '--xor-mark', mark);
  nat.write('-A', KUBE_POSTROUTING, '-m', 'comment', '--comment', '"kubernetes service traffic requiring SNAT"', '-j', 'MASQUERADE', o.hasRandomFully ? ['--random-fully'] : []);
  nat.write('-A', KUBE_MARK_MASQ, '-j', 'MARK', '--or-mark', mark);
  nat.write('COMMIT');
  filter.write('COMMIT');

  return [...natChains.out, ...nat.out, ...filterChains.out, ...filter.out].join('\n') + '\n';
}

// One sync's iptables-restore input (upstream's syncProxyRules, minus the I/O): the filter
// and nat tables, with per-service chains written only for changed services on a partial sync.
import {
  KUBE_EXTERNAL_SERVICES, KUBE_FIREWALL, KUBE_FORWARD, KUBE_MARK_MASQ, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_PROXY_FIREWALL,
  KUBE_SERVICES, LARGE_CLUSTER_ENDPOINTS_THRESHOLD, NFACCT_CT_STATE_INVALID_DROPPED, NFACCT_LOCALHOST_NODEPORTS_ACCEPTED, isServiceChainName,
} from './chains.ts';
import type { EndpointInfo } from './endpoints.ts';
import { cidrContains, isLoopback, parseCIDR, parseIP, type IPFamily } from './ip.ts';
import { computeProbability } from './probability.ts';
import { externallyAccessible, usesClusterEndpoints, usesLocalEndpoints, type ServicePortInfo } from './service-port.ts';
import { categorizeEndpoints } from './topology.ts';

/** How traffic from pods is recognised (upstream's LocalTrafficDetector); null: not at all. */
export interface LocalDetector {
  ifLocal: string[];
  ifNotLocal: string[];
}

export function detectLocalByCIDR(cidr: string): LocalDetector {
  return { ifLocal: ['-s', cidr], ifNotLocal: ['!', '-s', cidr] };
}

export interface RenderOptions {
  ipFamily: IPFamily;
  nodeName: string;
  /** The node's primary IP of this family (loopback when unknown), for loadBalancerSourceRanges. */
  nodeIP: string;
  masqueradeAll: boolean;
  /** e.g. "0x00004000" (see masqueradeMark()). */
  masqueradeMark: string;
  localDetector: LocalDetector | null;
  /** Already false when --nodeport-addresses excludes 127.0.0.0/8 or the family is IPv6. */
  localhostNodePorts: boolean;
  /** null: NodePorts on every local address; else the node addresses NodePorts accept. */
  nodePortIPs: string[] | null;
  hasRandomFully: boolean;
  /** net.netfilter.nf_conntrack_tcp_be_liberal is set: no INVALID drop rule. */
  conntrackTCPLiberal: boolean;
  /** Which nfacct counters exist (the rules that count into them are emitted only then). */
  nfacct: { ctStateInvalidDropped: boolean; localhostNodePortsAccepted: boolean };
  topologyLabels: Record<string, string>;
}

export interface RenderState {
  servicePorts: ServicePortInfo[];
  endpointsFor(key: string): EndpointInfo[];
}

export interface SyncScope {
  full: boolean;
  /** On a partial sync, the Services whose chains are rewritten. */
  updatedServices?: Set<string>;
  /** nat chains that exist now (from iptables-save), to delete the stale ones; null: skip cleanup. */
  existingNatChains?: Iterable<string> | null;
}

export interface RenderResult {
  text: string;
  largeClusterMode: boolean;
  /** For sync_proxy_rules_iptables_{total,last}. */
  filterRules: number;
  natRulesTotal: number;
  natRulesLast: number;
  deletedChains: string[];
  /** The service, endpoint, external, local and firewall chains this sync's rules use. */
  activeNatChains: Set<string>;
  noLocalEndpoints: { internal: number; external: number };
  totalEndpoints: number;
}

class Lines {
  readonly out: string[] = [];
  count = 0;
  constructor(private readonly discard = false) {}
  write(...parts: (string | string[])[]): void {
    this.count++;
    if (this.discard) return;
    // parts.flat().join(' ') without the intermediate arrays (the hottest line of a render).
    let line = '';
    let first = true;
    for (const p of parts) {
      if (typeof p === 'string') {
        line = first ? p : `${line} ${p}`;
        first = false;
      } else
        for (const q of p) {
          line = first ? q : `${line} ${q}`;
          first = false;
        }
    }
    this.out.push(line);
  }
}

const chainLine = (c: string) => `:${c} - [0:0]`;

export function countEndpoints(state: RenderState): number {
  let n = 0;
  for (const sp of state.servicePorts) n += state.endpointsFor(sp.key).length;
  return n;
}

export function isLargeCluster(state: RenderState): boolean {
  return countEndpoints(state) > LARGE_CLUSTER_ENDPOINTS_THRESHOLD;
}

export function renderRules(state: RenderState, o: RenderOptions, scope: SyncScope): RenderResult {
  const mark = o.masqueradeMark;
  const isIPv6 = o.ipFamily === 'IPv6';
  const filterChains = new Lines();
  const filterRules = new Lines();
  const natChainsBuf = new Lines();
  const natRulesBuf = new Lines();
  const skippedChains = new Lines(true);
  const skippedRules = new Lines(true);

  for (const c of [KUBE_SERVICES, KUBE_EXTERNAL_SERVICES, KUBE_FORWARD, KUBE_NODEPORTS, KUBE_PROXY_FIREWALL]) filterChains.write(chainLine(c));
  for (const c of [KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ]) natChainsBuf.write(chainLine(c));

  natRulesBuf.write('-A', KUBE_POSTROUTING, '-m', 'mark', '!', '--mark', `${mark}/${mark}`, '-j', 'RETURN');
  natRulesBuf.write('-A', KUBE_POSTROUTING, '-j', 'MARK', '--xor-mark', mark);
  natRulesBuf.write('-A', KUBE_POSTROUTING, '-m', 'comment', '--comment', '"kubernetes service traffic requiring SNAT"', '-j', 'MASQUERADE', o.hasRandomFully ? ['--random-fully'] : []);
  natRulesBuf.write('-A', KUBE_MARK_MASQ, '-j', 'MARK', '--or-mark', mark);

  if (!isIPv6 && o.localhostNodePorts) {
    filterChains.write(chainLine(KUBE_FIREWALL));
    filterRules.write('-A', KUBE_FIREWALL, '-m', 'comment', '--comment', '"block incoming localnet connections"', '-d', '127.0.0.0/8', '!', '-s', '127.0.0.0/8', '-m', 'conntrack', '!', '--ctstate', 'RELATED,ESTABLISHED,DNAT', '-j', 'DROP');
  }

  const activeNatChains = new Set<string>();
  const totalEndpoints = countEndpoints(state);
  const largeClusterMode = totalEndpoints > LARGE_CLUSTER_ENDPOINTS_THRESHOLD;
  const comment = (text: string): string[] => (largeClusterMode ? [] : ['-m', 'comment', '--comment', text]);
  const nodeIP = parseIP(o.nodeIP);
  let noLocalInternal = 0;
  let noLocalExternal = 0;

  for (const sp of state.servicePorts) {
    const protocol = sp.protocol.toLowerCase();
    const name = sp.name;
    const proto = ['-m', protocol, '-p', protocol];
    const { clusterEndpoints, localEndpoints, allReachableEndpoints, hasAnyEndpoints: hasEndpoints } = categorizeEndpoints(state.endpointsFor(sp.key), sp, o.nodeName, o.topologyLabels);

    const clusterPolicyChain = sp.chains.svc;
    const usesClusterPolicyChain = clusterEndpoints.length > 0 && usesClusterEndpoints(sp);
    const localPolicyChain = sp.chains.svl;
    const usesLocalPolicyChain = localEndpoints.length > 0 && usesLocalEndpoints(sp);

    let internalTrafficChain = clusterPolicyChain;
    let hasInternalEndpoints = hasEndpoints;
    if (sp.internalPolicyLocal) {
      internalTrafficChain = localPolicyChain;
      if (localEndpoints.length === 0) hasInternalEndpoints = false;
    }
    let externalPolicyChain = clusterPolicyChain;
    let hasExternalEndpoints = hasEndpoints;
    if (sp.externalPolicyLocal) {
      externalPolicyChain = localPolicyChain;
      if (localEndpoints.length === 0) hasExternalEndpoints = false;
    }
    const externalTrafficChain = sp.chains.ext;
    const usesExternalTrafficChain = hasEndpoints && externallyAccessible(sp);
    const fwChain = sp.chains.fw;
    const usesFWChain = hasEndpoints && sp.loadBalancerVIPs.length > 0 && sp.loadBalancerSourceRanges.length > 0;
    const loadBalancerTrafficChain = usesFWChain ? fwChain : externalTrafficChain;

    let internalFilterTarget = '';
    let internalFilterComment = '';
    let externalFilterTarget = '';
    let externalFilterComment = '';
    if (!hasEndpoints) {
      internalFilterTarget = externalFilterTarget = 'REJECT';
      internalFilterComment = externalFilterComment = `"${name} has no endpoints"`;
    } else {
      if (!hasInternalEndpoints) {
        internalFilterTarget = 'DROP';
        internalFilterComment = `"${name} has no local endpoints"`;
        noLocalInternal++;
      }
      if (!hasExternalEndpoints) {
        externalFilterTarget = 'DROP';
        externalFilterComment = `"${name} has no local endpoints"`;
        noLocalExternal++;
      }
    }

    const port = String(sp.port);
    if (hasInternalEndpoints) {
      natRulesBuf.write('-A', KUBE_SERVICES, '-m', 'comment', '--comment', `"${name} cluster IP"`, proto, '-d', sp.clusterIP, '--dport', port, '-j', internalTrafficChain);
    } else {
      filterRules.write('-A', KUBE_SERVICES, '-m', 'comment', '--comment', internalFilterComment, proto, '-d', sp.clusterIP, '--dport', port, '-j', internalFilterTarget);
    }

    for (const extIP of sp.externalIPs) {
      if (hasEndpoints) natRulesBuf.write('-A', KUBE_SERVICES, '-m', 'comment', '--comment', `"${name} external IP"`, proto, '-d', extIP, '--dport', port, '-j', externalTrafficChain);
      if (!hasExternalEndpoints) filterRules.write('-A', KUBE_EXTERNAL_SERVICES, '-m', 'comment', '--comment', externalFilterComment, proto, '-d', extIP, '--dport', port, '-j', externalFilterTarget);
    }

    for (const lbip of sp.loadBalancerVIPs) {
      if (hasEndpoints) natRulesBuf.write('-A', KUBE_SERVICES, '-m', 'comment', '--comment', `"${name} loadbalancer IP"`, proto, '-d', lbip, '--dport', port, '-j', loadBalancerTrafficChain);
      if (usesFWChain) filterRules.write('-A', KUBE_PROXY_FIREWALL, '-m', 'comment', '--comment', `"${name} traffic not accepted by ${fwChain}"`, proto, '-d', lbip, '--dport', port, '-j', 'DROP');
    }
    if (!hasExternalEndpoints) {
      for (const lbip of sp.loadBalancerVIPs) filterRules.write('-A', KUBE_EXTERNAL_SERVICES, '-m', 'comment', '--comment', externalFilterComment, proto, '-d', lbip, '--dport', port, '-j', externalFilterTarget);
    }

    if (sp.nodePort !== 0) {
      const np = String(sp.nodePort);
      if (hasEndpoints) {
        if (o.localhostNodePorts && !isIPv6 && o.nfacct.localhostNodePortsAccepted) {
          natRulesBuf.write('-A', KUBE_NODEPORTS, '-m', 'comment', '--comment', name, proto, '-d', '127.0.0.0/8', '--dport', np, '-m', 'nfacct', '--nfacct-name', NFACCT_LOCALHOST_NODEPORTS_ACCEPTED, '-j', externalTrafficChain);
        }
        natRulesBuf.write('-A', KUBE_NODEPORTS, '-m', 'comment', '--comment', name, proto, '--dport', np, '-j', externalTrafficChain);
      }
      if (!hasExternalEndpoints) {
        filterRules.write('-A', KUBE_EXTERNAL_SERVICES, '-m', 'comment', '--comment', externalFilterComment, '-m', 'addrtype', '--dst-type', 'LOCAL', proto, '--dport', np, '-j', externalFilterTarget);
      }
    }

    if (sp.healthCheckNodePort !== 0) {
      filterRules.write('-A', KUBE_NODEPORTS, '-m', 'comment', '--comment', `"${name} health check node port"`, '-m', 'tcp', '-p', 'tcp', '--dport', String(sp.healthCheckNodePort), '-j', 'ACCEPT');
    }

    // Unchanged services keep their chains on a partial sync: count their rules, write nothing.
    const skip = !scope.full && !scope.updatedServices?.has(sp.service);
    const natChains = skip ? skippedChains : natChainsBuf;
    const natRules = skip ? skippedRules : natRulesBuf;

    if (hasInternalEndpoints) {
      const args = ['-m', 'comment', '--comment', `"${name} cluster IP"`, ...proto, '-d', sp.clusterIP, '--dport', port];
      if (o.masqueradeAll) natRules.write('-A', internalTrafficChain, args, '-j', KUBE_MARK_MASQ);
      else if (o.localDetector) natRules.write('-A', internalTrafficChain, args, o.localDetector.ifNotLocal, '-j', KUBE_MARK_MASQ);
    }

    if (usesExternalTrafficChain) {
      natChains.write(chainLine(externalTrafficChain));
      activeNatChains.add(externalTrafficChain);
      if (!sp.externalPolicyLocal) {
        natRules.write('-A', externalTrafficChain, '-m', 'comment', '--comment', `"masquerade traffic for ${name} external destinations"`, '-j', KUBE_MARK_MASQ);
      } else {
        if (o.localDetector) {
          natRules.write('-A', externalTrafficChain, '-m', 'comment', '--comment', `"pod traffic for ${name} external destinations"`, o.localDetector.ifLocal, '-j', clusterPolicyChain);
        }
        natRules.write('-A', externalTrafficChain, '-m', 'comment', '--comment', `"masquerade LOCAL traffic for ${name} external destinations"`, '-m', 'addrtype', '--src-type', 'LOCAL', '-j', KUBE_MARK_MASQ);
        natRules.write('-A', externalTrafficChain, '-m', 'comment', '--comment', `"route LOCAL traffic for ${name} external destinations"`, '-m', 'addrtype', '--src-type', 'LOCAL', '-j', clusterPolicyChain);
      }
      if (hasExternalEndpoints) natRules.write('-A', externalTrafficChain, '-j', externalPolicyChain);
    }

    if (usesFWChain) {
      natChains.write(chainLine(fwChain));
      activeNatChains.add(fwChain);
      const head = ['-A', fwChain, '-m', 'comment', '--comment', `"${name} loadbalancer IP"`];
      let allowFromNode = false;
      for (const range of sp.loadBalancerSourceRanges) {
        natRules.write(head, '-s', range, '-j', externalTrafficChain);
        const cidr = parseCIDR(range);
        if (cidr && nodeIP && cidrContains(cidr, nodeIP)) allowFromNode = true;
      }
      if (allowFromNode) for (const lbip of sp.loadBalancerVIPs) natRules.write(head, '-s', lbip, '-j', externalTrafficChain);
      natRules.write('-A', fwChain, '-m', 'comment', '--comment', `"other traffic to ${name} will be dropped by KUBE-PROXY-FIREWALL"`);
    }

    if (usesClusterPolicyChain) {
      natChains.write(chainLine(clusterPolicyChain));
      activeNatChains.add(clusterPolicyChain);
      writeServiceToEndpointRules(natRules, sp, clusterPolicyChain, clusterEndpoints, comment);
    }
    if (usesLocalPolicyChain) {
      natChains.write(chainLine(localPolicyChain));
      activeNatChains.add(localPolicyChain);
      writeServiceToEndpointRules(natRules, sp, localPolicyChain, localEndpoints, comment);
    }

    for (const ep of allReachableEndpoints) {
      natChains.write(chainLine(ep.chain));
      activeNatChains.add(ep.chain);
      const head = ['-A', ep.chain, ...comment(name)];
      natRules.write(head, '-s', ep.ip, '-j', KUBE_MARK_MASQ);
      const affinity = sp.sessionAffinityClientIP ? ['-m', 'recent', '--name', ep.chain, '--set'] : [];
      natRules.write(head, affinity, proto, '-j', 'DNAT', '--to-destination', ep.endpoint);
    }
  }

  const deletedChains: string[] = [];
  if (scope.existingNatChains) {
    const stale = [...new Set(scope.existingNatChains)].filter((c) => isServiceChainName(c) && !activeNatChains.has(c)).sort();
    for (const chain of stale) {
      natChainsBuf.write(chainLine(chain));
      natRulesBuf.write('-X', chain);
      deletedChains.push(chain);
    }
  }

  const tailComment = '"kubernetes service nodeports; NOTE: this must be the last rule in this chain"';
  if (o.nodePortIPs === null) {
    const dest = ['-m', 'addrtype', '--dst-type', 'LOCAL'];
    if (isIPv6) dest.push('!', '-d', '::1/128');
    else if (!o.localhostNodePorts) dest.push('!', '-d', '127.0.0.0/8');
    natRulesBuf.write('-A', KUBE_SERVICES, '-m', 'comment', '--comment', tailComment, dest, '-j', KUBE_NODEPORTS);
  } else {
    for (const ipStr of o.nodePortIPs) {
      const ip = parseIP(ipStr);
      if (ip && isLoopback(ip) && (isIPv6 || !o.localhostNodePorts)) continue;
      natRulesBuf.write('-A', KUBE_SERVICES, '-m', 'comment', '--comment', tailComment, '-d', ipStr, '-j', KUBE_NODEPORTS);
    }
  }

  if (!o.conntrackTCPLiberal) {
    filterRules.write('-A', KUBE_FORWARD, '-m', 'conntrack', '--ctstate', 'INVALID', o.nfacct.ctStateInvalidDropped ? ['-m', 'nfacct', '--nfacct-name', NFACCT_CT_STATE_INVALID_DROPPED] : [], '-j', 'DROP');
  }
  filterRules.write('-A', KUBE_FORWARD, '-m', 'comment', '--comment', '"kubernetes forwarding rules"', '-m', 'mark', '--mark', `${mark}/${mark}`, '-j', 'ACCEPT');
  filterRules.write('-A', KUBE_FORWARD, '-m', 'comment', '--comment', '"kubernetes forwarding conntrack rule"', '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT');

  const text = ['*filter', ...filterChains.out, ...filterRules.out, 'COMMIT', '*nat', ...natChainsBuf.out, ...natRulesBuf.out, 'COMMIT', ''].join('\n');
  return {
    text,
    largeClusterMode,
    filterRules: filterRules.count,
    natRulesTotal: natRulesBuf.count + skippedRules.count - deletedChains.length,
    natRulesLast: natRulesBuf.count - deletedChains.length,
    deletedChains,
    activeNatChains,
    noLocalEndpoints: { internal: noLocalInternal, external: noLocalExternal },
    totalEndpoints,
  };
}

function writeServiceToEndpointRules(natRules: Lines, sp: ServicePortInfo, chain: string, endpoints: EndpointInfo[], comment: (t: string) => string[]): void {
  if (sp.sessionAffinityClientIP) {
    for (const ep of endpoints) {
      natRules.write('-A', chain, comment(`"${sp.name} -> ${ep.endpoint}"`), '-m', 'recent', '--name', ep.chain, '--rcheck', '--seconds', String(sp.stickyMaxAgeSeconds), '--reap', '-j', ep.chain);
    }
  }
  const n = endpoints.length;
  endpoints.forEach((ep, i) => {
    const stat = i < n - 1 ? ['-m', 'statistic', '--mode', 'random', '--probability', computeProbability(n - i)] : [];
    natRules.write('-A', chain, comment(`"${sp.name} -> ${ep.endpoint}"`), stat, '-j', ep.chain);
  });
}

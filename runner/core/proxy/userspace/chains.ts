// The chains of upstream's userspace proxier (pkg/proxy/userspace, removed in v1.26) and
// the jump rules to them that its iptablesInit() ensured on every sync. Two chains per
// path, because traffic from pods (nat PREROUTING) and from the node itself (nat OUTPUT)
// need different targets to reach the proxy's socket.
import type { JumpChain } from '../chains.ts';

/** nat, from PREROUTING: traffic from pods (and from outside) to service IPs. */
export const KUBE_PORTALS_CONTAINER = 'KUBE-PORTALS-CONTAINER';
/** nat, from OUTPUT: traffic from the node's own processes to service IPs. */
export const KUBE_PORTALS_HOST = 'KUBE-PORTALS-HOST';
/** nat, from PREROUTING: traffic arriving at a node port. */
export const KUBE_NODEPORT_CONTAINER = 'KUBE-NODEPORT-CONTAINER';
/** nat, from OUTPUT: the node's own traffic to a node port. */
export const KUBE_NODEPORT_HOST = 'KUBE-NODEPORT-HOST';
/** filter, from INPUT: lets node-port traffic reach the proxy port past a default-deny INPUT. */
export const KUBE_NODEPORT_NON_LOCAL = 'KUBE-NODEPORT-NON-LOCAL';

export const USERSPACE_NAT_CHAINS = [KUBE_PORTALS_CONTAINER, KUBE_PORTALS_HOST, KUBE_NODEPORT_CONTAINER, KUBE_NODEPORT_HOST] as const;
export const USERSPACE_FILTER_CHAINS = [KUBE_NODEPORT_NON_LOCAL] as const;
export const USERSPACE_CHAINS: readonly string[] = [...USERSPACE_NAT_CHAINS, ...USERSPACE_FILTER_CHAINS];

/** A jump rule and where upstream put it: "-I" (first in the chain) or "-A" (last). */
export interface UserspaceJump extends JumpChain {
  position: '-I' | '-A';
}

const PORTALS_COMMENT = 'handle ClusterIPs; NOTE: this must be before the NodePort rules';
const NODEPORTS_COMMENT = 'handle service NodePorts; NOTE: this must be the last rule in the chain';
const LOCAL = ['-m', 'addrtype', '--dst-type', 'LOCAL'];

/**
 * In upstream's order. The portal jumps go first and the node-port jumps last: a node-port
 * rule matches any local address, so a service IP that happens to be local (a load
 * balancer IP routed to the node) must be matched as a portal first.
 */
export const USERSPACE_JUMPS: UserspaceJump[] = [
  { table: 'nat', srcChain: 'PREROUTING', dstChain: KUBE_PORTALS_CONTAINER, position: '-I', comment: PORTALS_COMMENT, extraArgs: [] },
  { table: 'nat', srcChain: 'OUTPUT', dstChain: KUBE_PORTALS_HOST, position: '-I', comment: PORTALS_COMMENT, extraArgs: [] },
  { table: 'nat', srcChain: 'PREROUTING', dstChain: KUBE_NODEPORT_CONTAINER, position: '-A', comment: NODEPORTS_COMMENT, extraArgs: LOCAL },
  { table: 'nat', srcChain: 'OUTPUT', dstChain: KUBE_NODEPORT_HOST, position: '-A', comment: NODEPORTS_COMMENT, extraArgs: LOCAL },
  { table: 'filter', srcChain: 'INPUT', dstChain: KUBE_NODEPORT_NON_LOCAL, position: '-I', comment: 'Ensure that non-local NodePort traffic can flow', extraArgs: [] },
];

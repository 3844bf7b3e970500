/** The parts of a v1 Node the CNI agent reads. */
export interface NodeLike {
  metadata?: { name?: string };
  spec?: { podCIDR?: string; podCIDRs?: string[] };
  status?: { addresses?: { type?: string; address?: string }[] };
}

export interface Route {
  /** Destination pod CIDR of another node. */
  cidr: string;
  /** That node's InternalIP. */
  via: string;
  node: string;
}

export interface NodePlan {
  /** The CNI network configuration list for this node, or undefined until it has a podCIDR. */
  conflist?: string;
  /** Routes to every other node's pod CIDR through that node's InternalIP. */
  routes: Route[];
}

export const NETWORK_NAME = 'svclab';

function ipv4PodCIDR(n: NodeLike): string | undefined {
  const cidrs = n.spec?.podCIDRs?.length ? n.spec.podCIDRs : n.spec?.podCIDR ? [n.spec.podCIDR] : [];
  return cidrs.find((c) => !c.includes(':'));
}

function internalIPv4(n: NodeLike): string | undefined {
  return n.status?.addresses?.find((a) => a.type === 'InternalIP' && a.address && !a.address.includes(':'))?.address;
}

/**
 * What the node named `self` needs: a ptp + host-local + portmap config over its own
 * podCIDR (ptp and host-local ship with kind's node image and with Debian), and a
 * route to each other node's podCIDR. Pure: the agent applies it.
 */
export function planNode(nodes: NodeLike[], self: string, mtu = 1500): NodePlan {
  const me = nodes.find((n) => n.metadata?.name === self);
  const podCIDR = me ? ipv4PodCIDR(me) : undefined;
  const routes: Route[] = [];
  for (const n of nodes) {
    const name = n.metadata?.name;
    if (!name || name === self) continue;
    const cidr = ipv4PodCIDR(n);
    const via = internalIPv4(n);
    if (cidr && via) routes.push({ cidr, via, node: name });
  }
  routes.sort((a, b) => a.cidr.localeCompare(b.cidr));
  if (!podCIDR) return { routes };
  const conflist = {
    cniVersion: '0.4.0',
    name: NETWORK_NAME,
    plugins: [
      {
        type: 'ptp',
        ipMasq: false,
        mtu,
        ipam: {
          type: 'host-local',
          ranges: [[{ subnet: podCIDR }]],
          routes: [{ dst: '0.0.0.0/0' }],
        },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  };
  return { conflist: `${JSON.stringify(conflist, null, 2)}\n`, routes };
}

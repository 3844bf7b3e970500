// One full sync from a fixed set of API objects, nftables mode: what `svclab proxy render
// --proxy-mode nftables` prints. The first full sync's transaction is run on an empty
// in-memory table and the result printed in knftables' Dump order, the format of
// upstream's proxier_test.go goldens; it is also `nft -f` input for a node without the
// table. The ip6 table follows when the objects hold IPv6 services.
import type { IPFamily } from '../ip.ts';
import type { ProxySettings } from '../options.ts';
import type { KubeObjectLike } from '../snapshot.ts';
import { ProxyState } from '../tracker.ts';
import type { EndpointSlice, Node, Service, Warn } from '../types.ts';
import { FakeTable } from './fake.ts';
import { TABLE } from './names.ts';
import { nftRenderOptionsFor } from './options.ts';
import { NftSyncState, buildSyncTransaction, nftFamily, type ExistingObjects } from './sync.ts';

interface ServiceCIDRObject {
  spec?: { cidrs?: unknown } | null;
}

/** What an empty node holds before kube-proxy's first sync: nothing, and nothing to flush. */
export function emptyTable(): ExistingObjects {
  return { chains: new Set(), affinitySets: new Set(), elements: new Map(['cluster-ips', 'service-ips', 'firewall-ips', 'no-endpoint-services', 'no-endpoint-nodeports', 'service-nodeports'].map((n) => [n, new Map()])) };
}

export interface NftablesSnapshot {
  /** Per family rendered: the table after the sync, in Dump order. */
  tables: { family: IPFamily; text: string; transaction: string }[];
  serviceCIDRs: string[];
}

export function renderNftablesSnapshot(objects: KubeObjectLike[], settings: ProxySettings, warn: Warn): NftablesSnapshot {
  const states = { IPv4: new ProxyState('IPv4', settings.nodeName, warn), IPv6: new ProxyState('IPv6', settings.nodeName, warn) };
  let node: Node | null = null;
  const serviceCIDRs: string[] = [];
  for (const obj of objects) {
    if (obj.kind === 'Service' && obj.apiVersion === 'v1') for (const s of Object.values(states)) s.onService(null, obj as Service);
    else if (obj.kind === 'EndpointSlice' && obj.apiVersion === 'discovery.k8s.io/v1') for (const s of Object.values(states)) s.onEndpointSlice(obj as EndpointSlice, false);
    else if (obj.kind === 'Node' && obj.apiVersion === 'v1') {
      if (obj.metadata?.name === settings.nodeName) node = obj as Node;
    } else if (obj.kind === 'ServiceCIDR' && obj.apiVersion === 'networking.k8s.io/v1') {
      const cidrs = (obj as ServiceCIDRObject).spec?.cidrs;
      if (Array.isArray(cidrs)) for (const c of cidrs) if (typeof c === 'string') serviceCIDRs.push(c);
    } else if (obj.kind !== 'Namespace') {
      warn(`kind:${obj.apiVersion}/${obj.kind}`, `ignoring ${obj.apiVersion}/${obj.kind} objects (kube-proxy reads v1 Services, discovery.k8s.io/v1 EndpointSlices, v1 Nodes and networking.k8s.io/v1 ServiceCIDRs)`);
    }
  }
  const tables: NftablesSnapshot['tables'] = [];
  for (const family of ['IPv4', 'IPv6'] as const) {
    const state = states[family];
    state.update();
    const servicePorts = state.servicePorts();
    if (family === 'IPv6' && servicePorts.length === 0) continue;
    const options = nftRenderOptionsFor(settings, node, family, serviceCIDRs);
    const result = buildSyncTransaction({ servicePorts, endpointsFor: (k) => state.endpointsFor(k) }, options, new NftSyncState(), { full: true, now: 0 }, emptyTable());
    const table = new FakeTable(nftFamily(family), TABLE);
    table.run(result.tx);
    tables.push({ family, text: table.dump(), transaction: result.tx.toString() });
  }
  return { tables, serviceCIDRs };
}

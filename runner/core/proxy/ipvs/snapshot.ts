// One IPVS-mode sync from a fixed set of API objects: what `svclab proxy render --proxy-mode ipvs` prints.
import type { IPFamily } from '../ip.ts';
import { nodeHostIPs, type ProxySettings } from '../options.ts';
import { formatIP } from '../ip.ts';
import type { KubeObjectLike } from '../snapshot.ts';
import { ProxyState } from '../tracker.ts';
import type { EndpointSlice, Node, Service, Warn } from '../types.ts';
import { formatIpvsRender } from './format.ts';
import { ipvsRenderOptionsFor, type IpvsSettings } from './options.ts';
import { renderIpvs, type IpvsRenderOptions, type IpvsRenderResult } from './render.ts';

export interface IpvsSnapshot {
  result: IpvsRenderResult;
  options: IpvsRenderOptions;
  text: string;
}

/**
 * The node's addresses are --node-ip (settings.localAddresses) or, without any, its Node
 * object's InternalIP and ExternalIP addresses: on a real node, upstream reads its interfaces.
 */
export function renderIpvsSnapshot(objects: KubeObjectLike[], settings: ProxySettings, ipvs: IpvsSettings, warn: Warn, family: IPFamily = 'IPv4'): IpvsSnapshot {
  const state = new ProxyState(family, settings.nodeName, warn);
  let node: Node | null = null;
  for (const obj of objects) {
    if (obj.kind === 'Service' && obj.apiVersion === 'v1') state.onService(null, obj as Service);
    else if (obj.kind === 'EndpointSlice' && obj.apiVersion === 'discovery.k8s.io/v1') state.onEndpointSlice(obj as EndpointSlice, false);
    else if (obj.kind === 'Node' && obj.apiVersion === 'v1') {
      if (obj.metadata?.name === settings.nodeName) node = obj as Node;
    } else if (obj.kind !== 'Namespace') warn(`kind:${obj.apiVersion}/${obj.kind}`, `ignoring ${obj.apiVersion}/${obj.kind} objects (kube-proxy reads v1 Services, discovery.k8s.io/v1 EndpointSlices and v1 Nodes)`);
  }
  state.update();
  const addresses = settings.localAddresses.length > 0 ? settings.localAddresses : nodeHostIPs(node).map(formatIP);
  const options = ipvsRenderOptionsFor(settings, ipvs, node, { others: addresses, all: addresses }, family);
  const result = renderIpvs({ servicePorts: state.servicePorts(), endpointsFor: (k) => state.endpointsFor(k) }, options);
  return { result, options, text: formatIpvsRender(result, { nodeName: settings.nodeName, scheduler: ipvs.scheduler, nodePortIPs: options.nodePortIPs }) };
}

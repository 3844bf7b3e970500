// One IPVS-mode sync from a fixed set of API objects: what `svclab proxy render --proxy-mode ipvs` prints.
import type { IPFamily } from '../ip.ts';
import { nodeHostIPs, type ProxySettings } from '../options.ts';
import { formatIP } from '../ip.ts';
import { loadSnapshot, type KubeObjectLike } from '../snapshot.ts';
import type { Warn } from '../types.ts';
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
  const { state, node } = loadSnapshot(objects, settings, warn, family);
  const addresses = settings.localAddresses.length > 0 ? settings.localAddresses : nodeHostIPs(node).map(formatIP);
  const options = ipvsRenderOptionsFor(settings, ipvs, node, { others: addresses, all: addresses }, family);
  const result = renderIpvs({ servicePorts: state.servicePorts(), endpointsFor: (k) => state.endpointsFor(k) }, options);
  return { result, options, text: formatIpvsRender(result, { nodeName: settings.nodeName, scheduler: ipvs.scheduler, nodePortIPs: options.nodePortIPs }) };
}

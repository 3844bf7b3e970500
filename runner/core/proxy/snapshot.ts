// One full sync from a fixed set of API objects: what `svclab proxy render` prints.
import type { IPFamily } from './ip.ts';
import { renderOptionsFor, type ProxySettings } from './options.ts';
import { renderRules, type RenderResult } from './render.ts';
import { ProxyState } from './tracker.ts';
import type { EndpointSlice, Node, Service, Warn } from './types.ts';

export interface KubeObjectLike {
  kind?: string;
  apiVersion?: string;
  metadata?: { name?: string; namespace?: string };
}

/** A fixed set of API objects as a proxier's change tracker holds them after one update, and this node's Node. */
export function loadSnapshot(objects: KubeObjectLike[], settings: ProxySettings, warn: Warn, family: IPFamily = 'IPv4'): { state: ProxyState; node: Node | null } {
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
  return { state, node };
}

export function renderSnapshot(objects: KubeObjectLike[], settings: ProxySettings, warn: Warn, family: IPFamily = 'IPv4'): RenderResult {
  const { state, node } = loadSnapshot(objects, settings, warn, family);
  const options = renderOptionsFor(settings, node, family);
  return renderRules({ servicePorts: state.servicePorts(), endpointsFor: (k) => state.endpointsFor(k) }, options, { full: true });
}

// Which endpoints a service port uses on this node (upstream's CategorizeEndpoints):
// Cluster-policy endpoints (ready, topology-filtered, else serving+terminating) and
// Local-policy endpoints (local ready, else local serving+terminating).
import type { EndpointInfo } from './endpoints.ts';
import { LABEL_TOPOLOGY_ZONE } from './types.ts';
import { usesClusterEndpoints, usesLocalEndpoints, type ServicePortInfo } from './service-port.ts';

export interface CategorizedEndpoints {
  clusterEndpoints: EndpointInfo[];
  localEndpoints: EndpointInfo[];
  allReachableEndpoints: EndpointInfo[];
  hasAnyEndpoints: boolean;
}

type TopologyMode = '' | 'PreferSameNode' | 'PreferSameZone';

function topologyModeFromHints(endpoints: EndpointInfo[], nodeName: string, zone: string): TopologyMode {
  if (endpoints.length === 0) return '';
  let hasForNode = false;
  let allNodeHints = true;
  let hasForZone = false;
  let allZoneHints = true;
  for (const ep of endpoints) {
    if (!ep.ready) continue;
    if (ep.nodeHints.length === 0) allNodeHints = false;
    else if (ep.nodeHints.includes(nodeName)) hasForNode = true;
    if (ep.zoneHints.length === 0) allZoneHints = false;
    else if (ep.zoneHints.includes(zone)) hasForZone = true;
  }
  if (allNodeHints && hasForNode) return 'PreferSameNode';
  if (allZoneHints && hasForZone) return 'PreferSameZone';
  return '';
}

function availableForTopology(ep: EndpointInfo, mode: TopologyMode, nodeName: string, zone: string): boolean {
  if (mode === 'PreferSameNode') return ep.nodeHints.includes(nodeName);
  if (mode === 'PreferSameZone') return ep.zoneHints.includes(zone);
  return true;
}

export function categorizeEndpoints(endpoints: EndpointInfo[], sp: ServicePortInfo, nodeName: string, topologyLabels: Record<string, string>): CategorizedEndpoints {
  const result: CategorizedEndpoints = { clusterEndpoints: [], localEndpoints: [], allReachableEndpoints: [], hasAnyEndpoints: false };
  if (endpoints.length === 0) return result;
  let mode: TopologyMode = '';
  let useServingTerminating = false;

  if (usesClusterEndpoints(sp)) {
    const zone = topologyLabels[LABEL_TOPOLOGY_ZONE] ?? '';
    mode = topologyModeFromHints(endpoints, nodeName, zone);
    result.clusterEndpoints = endpoints.filter((ep) => ep.ready && availableForTopology(ep, mode, nodeName, zone));
    if (result.clusterEndpoints.length === 0) result.clusterEndpoints = endpoints.filter((ep) => ep.serving && ep.terminating);
    if (result.clusterEndpoints.length > 0) result.hasAnyEndpoints = true;
  }
  if (!usesLocalEndpoints(sp)) {
    result.allReachableEndpoints = result.clusterEndpoints;
    return result;
  }

  let localReady = false;
  let localServingTerminating = false;
  for (const ep of endpoints) {
    if (ep.ready) {
      result.hasAnyEndpoints = true;
      if (ep.isLocal) localReady = true;
    } else if (ep.serving && ep.terminating) {
      result.hasAnyEndpoints = true;
      if (ep.isLocal) localServingTerminating = true;
    }
  }
  if (localReady) {
    result.localEndpoints = endpoints.filter((ep) => ep.isLocal && ep.ready);
  } else if (localServingTerminating) {
    useServingTerminating = true;
    result.localEndpoints = endpoints.filter((ep) => ep.isLocal && ep.serving && ep.terminating);
  }

  if (!usesClusterEndpoints(sp)) {
    result.allReachableEndpoints = result.localEndpoints;
    return result;
  }
  if (mode === '' && !useServingTerminating) {
    result.allReachableEndpoints = result.clusterEndpoints;
    return result;
  }
  const union = new Map<string, EndpointInfo>();
  for (const ep of [...result.clusterEndpoints, ...result.localEndpoints]) union.set(ep.endpoint, ep);
  result.allReachableEndpoints = [...union.values()].sort((a, b) => (a.endpoint < b.endpoint ? -1 : a.endpoint > b.endpoint ? 1 : 0));
  return result;
}

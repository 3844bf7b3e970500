import type Docker from 'dockerode';
import { dockerForHost } from '../docker.ts';
import { restoreHostSysctls } from './host-sysctls.ts';
import { findKind, Kind } from './kind.ts';
import { forgetKindNetwork, kindNetworkIsOurs, knownClusters, kubeconfigPath, readRecord, removeClusterState } from './state.ts';

export interface DownResult {
  deleted: boolean;
  removedNetwork: boolean;
  restoredSysctls: Record<string, string>;
}

/**
 * Deletes a svclab cluster and everything it made: its node containers and volumes
 * (kind), its kubeconfig and state, the `kind` Docker network on its engine (if svclab's
 * first cluster there created it) once no kind cluster there uses it, and the host kernel settings the kubelet changed once no svclab cluster is left.
 */
export async function deleteCluster(docker: Docker, name: string, onLine?: (l: string) => void): Promise<DownResult> {
  const dockerHost = (await readRecord(name))?.dockerHost;
  const kind = new Kind(await findKind(onLine), onLine, dockerHost);
  const exists = (await kind.clusters()).includes(name);
  if (exists) await kind.delete(name, kubeconfigPath(name));
  await removeClusterState(name);
  let removedNetwork = false;
  // On the engine the cluster ran on (kind and the marker are per engine).
  if ((await kind.clusters()).length === 0 && (await kindNetworkIsOurs(dockerHost))) {
    try {
      const net = (dockerHost ? dockerForHost(dockerHost) : docker).getNetwork('kind');
      const info = await net.inspect();
      if (Object.keys(info.Containers ?? {}).length === 0) {
        await net.remove();
        removedNetwork = true;
      }
      await forgetKindNetwork(dockerHost);
    } catch {
      // no kind network: nothing to remove
    }
  }
  const restoredSysctls = (await knownClusters()).length === 0 ? await restoreHostSysctls() : {};
  return { deleted: exists, removedNetwork, restoredSysctls };
}

import { CoreV1Api, DiscoveryV1Api, type KubeConfig } from '@kubernetes/client-node';
import { UserError } from '../errors.ts';

/** One snapshot of what cluster DNS reads: Namespaces, Services, EndpointSlices (and Pods). */
export async function listClusterObjects(kc: KubeConfig, pods: boolean): Promise<{ kind: string }[]> {
  const core = kc.makeApiClient(CoreV1Api);
  const discovery = kc.makeApiClient(DiscoveryV1Api);
  try {
    const [ns, svc, eps, pod] = await Promise.all([
      core.listNamespace(),
      core.listServiceForAllNamespaces(),
      discovery.listEndpointSliceForAllNamespaces(),
      pods ? core.listPodForAllNamespaces() : Promise.resolve({ items: [] }),
    ]);
    return [...ns.items.map((o) => ({ ...o, kind: 'Namespace' })), ...svc.items.map((o) => ({ ...o, kind: 'Service' })), ...eps.items.map((o) => ({ ...o, kind: 'EndpointSlice' })), ...pod.items.map((o) => ({ ...o, kind: 'Pod' }))];
  } catch (err) {
    throw new UserError(`cannot read the cluster (${(err as Error).message.split('\n')[0]}): is it running? try 'svclab cluster status'`);
  }
}

import { CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { kubeconfigPath } from '../../runner/cluster/state.ts';
import { run } from '../../runner/exec.ts';
import { findKubectl } from '../../runner/kube/kubectl.ts';

export function kubeConfigFor(cluster: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath(cluster));
  return kc;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `pods(selector)` in `namespace` are all Running and ready, and returns them. */
export async function waitForPods(kc: KubeConfig, namespace: string, selector: string, count: number, timeoutMs = 120_000): Promise<V1Pod[]> {
  const core = kc.makeApiClient(CoreV1Api);
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const pods = (await core.listNamespacedPod({ namespace, labelSelector: selector })).items;
    const ready = pods.filter((p) => p.status?.phase === 'Running' && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    if (ready.length >= count) return ready;
    last = pods.map((p) => `${p.metadata?.name}=${p.status?.phase}`).join(', ');
    await sleep(1000);
  }
  throw new Error(`timed out waiting for ${count} ready pods ${selector} in ${namespace}: ${last}`);
}

/** Runs a command in a pod's container through kubectl's exec (the API server's exec endpoint). */
export async function execInPod(cluster: string, namespace: string, pod: string, cmd: string[]): Promise<string> {
  const kubectl = await findKubectl();
  if (!kubectl) throw new Error('no kubectl on PATH and none built by svclab');
  const r = await run(kubectl, ['--kubeconfig', kubeconfigPath(cluster), '-n', namespace, 'exec', pod, '--', ...cmd], { timeoutMs: 60_000 });
  return r.stdout;
}

/** The Docker containers, networks and volumes that belong to a kind cluster. */
export async function kindLeftovers(cluster: string): Promise<string[]> {
  const out: string[] = [];
  const containers = await run('docker', ['ps', '-a', '--filter', `label=io.x-k8s.kind.cluster=${cluster}`, '--format', '{{.Names}}']);
  out.push(...containers.stdout.split('\n').filter(Boolean).map((n) => `container ${n}`));
  return out;
}

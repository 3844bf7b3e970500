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

/** Runs a shell command in the cluster's toolbox pod (where a learner's shell runs). */
export async function toolboxExec(cluster: string, script: string): Promise<string> {
  const kc = kubeConfigFor(cluster);
  const [pod] = await waitForPods(kc, 'svclab', 'app.kubernetes.io/name=svclab-toolbox', 1);
  return execInPod(cluster, 'svclab', pod!.metadata!.name!, ['bash', '-c', script]);
}

/** Deploys `replicas` echo pods labelled app=<name> in `namespace` and waits until they are ready. */
export async function deployEcho(cluster: string, namespace: string, name: string, replicas: number, echoImage: string): Promise<V1Pod[]> {
  const kc = kubeConfigFor(cluster);
  const { AppsV1Api } = await import('@kubernetes/client-node');
  await kc.makeApiClient(AppsV1Api).createNamespacedDeployment({
    namespace,
    body: {
      metadata: { name },
      spec: {
        replicas,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: {
            terminationGracePeriodSeconds: 1,
            containers: [
              {
                name: 'echo',
                image: echoImage,
                imagePullPolicy: 'Never',
                env: [
                  { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                  { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
                  { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
                ],
                ports: [{ name: 'http', containerPort: 8080 }],
                readinessProbe: { httpGet: { path: '/', port: 8080 }, periodSeconds: 1 },
              },
            ],
          },
        },
      },
    },
  });
  return waitForPods(kc, namespace, `app=${name}`, replicas);
}

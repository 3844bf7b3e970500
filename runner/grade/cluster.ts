// The lab cluster as the grader sees it: objects through the API, bash in the learner's
// toolbox pod, each node's live iptables rules through its container. One `Round` caches
// what a pass over a lab's checks reads, so a 2-second check loop stays cheap.
import { CoreV1Api, KubernetesObjectApi, type KubeConfig } from '@kubernetes/client-node';
import type Docker from 'dockerode';
import { readRecord, kubeconfigPath } from '../cluster/state.ts';
import { execIn } from '../docker.ts';
import { enginesFrom } from '../server/classroom/provisioner.ts';
import { UserError } from '../errors.ts';
import { run } from '../exec.ts';
import { loadKubeConfig } from '../kube/client.ts';
import { findKubectl } from '../kube/kubectl.ts';
import { parseDump, type Dump } from '../core/proxy/iptables-dump.ts';
import type { KubeObj } from '../core/grade/object.ts';

/** apiVersion of the kinds labs talk about; others need an explicit apiVersion. */
const API_VERSIONS: Record<string, string> = {
  Service: 'v1', Pod: 'v1', Endpoints: 'v1', ConfigMap: 'v1', Secret: 'v1', Namespace: 'v1', Node: 'v1', ServiceAccount: 'v1',
  Deployment: 'apps/v1', StatefulSet: 'apps/v1', DaemonSet: 'apps/v1', ReplicaSet: 'apps/v1',
  EndpointSlice: 'discovery.k8s.io/v1', Job: 'batch/v1', Ingress: 'networking.k8s.io/v1', NetworkPolicy: 'networking.k8s.io/v1',
};

export function apiVersionOf(kind: string, explicit?: string): string {
  const v = explicit ?? API_VERSIONS[kind];
  if (!v) throw new UserError(`kind ${kind} needs an apiVersion in the check (svclab knows ${Object.keys(API_VERSIONS).join(', ')})`);
  return v;
}

export interface NodeInfo {
  name: string;
  roles: string[];
  internalIP?: string;
}

export interface ExecResult {
  code: number;
  out: string;
}

const TOOLBOX = ['-n', 'svclab', 'exec', 'deploy/toolbox', '-c', 'toolbox', '--'];

export class LabCluster {
  readonly objects: KubernetesObjectApi;
  readonly core: CoreV1Api;

  private constructor(
    readonly name: string,
    readonly kc: KubeConfig,
    readonly kubeconfig: string,
    readonly docker: Docker,
    private readonly kubectlPath: string,
  ) {
    this.objects = KubernetesObjectApi.makeApiClient(kc);
    this.core = kc.makeApiClient(CoreV1Api);
  }

  /** The svclab cluster of that name; a one-line error when it is not there. */
  static async open(name: string): Promise<LabCluster> {
    const rec = await readRecord(name);
    if (!rec) throw new UserError(`no lab cluster "${name}": run svclab cluster up${name === 'svclab' ? '' : ` --name ${name}`}`);
    const kubectl = await findKubectl();
    if (!kubectl) throw new UserError('kubectl is not on PATH and svclab has not built one: run svclab images build (or install kubectl)');
    const path = kubeconfigPath(name);
    const docker = enginesFrom(rec.dockerHost ? [rec.dockerHost] : [])[0]!.docker;
    return new LabCluster(name, loadKubeConfig(path), path, docker, kubectl);
  }

  async get(kind: string, name: string, namespace: string, apiVersion?: string): Promise<KubeObj | undefined> {
    try {
      return (await this.objects.read({ apiVersion: apiVersionOf(kind, apiVersion), kind, metadata: { name, namespace } })) as KubeObj;
    } catch (err) {
      if ((err as { code?: number }).code === 404) return undefined;
      throw err;
    }
  }

  async list(kind: string, namespace: string, labelSelector?: string, apiVersion?: string): Promise<KubeObj[]> {
    const r = await this.objects.list(apiVersionOf(kind, apiVersion), kind, namespace, undefined, undefined, undefined, undefined, labelSelector);
    return r.items as KubeObj[];
  }

  async nodes(): Promise<NodeInfo[]> {
    const r = await this.core.listNode();
    return r.items.map((n) => ({
      name: n.metadata!.name!,
      roles: Object.keys(n.metadata?.labels ?? {}).filter((l) => l.startsWith('node-role.kubernetes.io/')).map((l) => l.slice('node-role.kubernetes.io/'.length)),
      internalIP: n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address,
    })).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** kubectl with this cluster's kubeconfig. */
  kubectl(args: string[], opts: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<ExecResult> {
    return run(this.kubectlPath, ['--kubeconfig', this.kubeconfig, ...args], { allowFailure: true, timeoutMs: opts.timeoutMs ?? 60_000, input: opts.input, env: { ...process.env, ...opts.env } }).then((r) => ({ code: r.code ?? -1, out: r.stdout + (r.code === 0 ? '' : r.stderr) }));
  }

  /** bash -c in the learner's toolbox pod (kubectl, curl, dig, $ECHO_IMAGE there). */
  inPod(script: string, timeoutMs = 30_000): Promise<ExecResult> {
    return this.kubectl([...TOOLBOX, 'bash', '-c', script], { timeoutMs });
  }

  /** A script fed on stdin to bash in the toolbox pod (for solution scripts). */
  runInPod(script: string, timeoutMs = 600_000): Promise<ExecResult> {
    return this.kubectl(['-n', 'svclab', 'exec', '-i', 'deploy/toolbox', '-c', 'toolbox', '--', 'bash', '-s'], { input: script, timeoutMs });
  }

  async iptablesSave(node: string, table?: string): Promise<string> {
    return execIn(this.docker, node, ['iptables-save', ...(table ? ['-t', table] : [])]);
  }

  /** sh -c in a node's container (what `node-shell NODE` gives the learner). */
  async onNode(node: string, cmd: string): Promise<string> {
    return execIn(this.docker, node, ['sh', '-c', cmd]);
  }

  /** The learner's running toolbox pod, if there is one. */
  async toolboxPod(): Promise<KubeObj | undefined> {
    const pods = await this.list('Pod', 'svclab', 'app.kubernetes.io/name=svclab-toolbox');
    return pods.find((p) => (p.status as { phase?: string } | undefined)?.phase === 'Running');
  }

  /** The toolbox pod's IP (the source address of in-cluster traffic checks). */
  async toolboxIP(): Promise<string | undefined> {
    return ((await this.toolboxPod())?.status as { podIP?: string } | undefined)?.podIP;
  }

}

/** Reads shared by the checks of one evaluation pass. */
export class Round {
  private dumps = new Map<string, Promise<Dump>>();
  private nodeList?: Promise<NodeInfo[]>;
  constructor(readonly cluster: LabCluster) {}

  nodes(): Promise<NodeInfo[]> {
    return (this.nodeList ??= this.cluster.nodes());
  }

  rules(node: string): Promise<Dump> {
    let d = this.dumps.get(node);
    if (!d) {
      d = this.cluster.iptablesSave(node).then(parseDump);
      this.dumps.set(node, d);
    }
    return d;
  }
}

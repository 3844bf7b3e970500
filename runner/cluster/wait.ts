import { AppsV1Api, CoreV1Api, type KubeConfig, type KubernetesObject, type V1Node } from '@kubernetes/client-node';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function nodeReady(n: V1Node): boolean {
  return n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** Thrown from a check to stop waiting at once: waiting longer cannot help. */
export class HopelessError extends Error {}

/** Polls until `check` returns undefined (done) or the deadline passes; the last reason goes into the error. */
export async function waitFor(what: string, timeoutMs: number, check: () => Promise<string | undefined>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let reason = 'not checked yet';
  while (Date.now() < deadline) {
    try {
      const r = await check();
      if (r === undefined) return;
      reason = r;
    } catch (err) {
      if (err instanceof HopelessError) throw err;
      reason = (err as Error).message.split('\n')[0] ?? String(err);
    }
    await sleep(1000);
  }
  throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}: ${reason}`);
}

export async function waitForNodesReady(kc: KubeConfig, expected: number, timeoutMs: number): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  await waitFor(`${expected} Ready nodes`, timeoutMs, async () => {
    await failOnBrokenComponents(kc);
    const nodes = (await core.listNode()).items;
    const notReady = nodes.filter((n) => !nodeReady(n)).map((n) => n.metadata?.name);
    if (nodes.length < expected) return `${nodes.length} of ${expected} nodes registered`;
    if (notReady.length) return `not Ready: ${notReady.join(', ')}`;
    return undefined;
  });
}

/** Waits until every DaemonSet and Deployment among `objects` has all its pods available. */
export async function waitForWorkloads(kc: KubeConfig, objects: KubernetesObject[], timeoutMs: number): Promise<void> {
  const apps = kc.makeApiClient(AppsV1Api);
  const workloads = objects.filter((o) => o.kind === 'DaemonSet' || o.kind === 'Deployment');
  await waitFor(`${workloads.map((w) => w.metadata?.name).join(', ')} to be available`, timeoutMs, async () => {
    await failOnBrokenComponents(kc);
    for (const w of workloads) {
      const ns = w.metadata!.namespace ?? 'default';
      const name = w.metadata!.name!;
      if (w.kind === 'DaemonSet') {
        const s = (await apps.readNamespacedDaemonSet({ name, namespace: ns })).status;
        if (!s || s.desiredNumberScheduled === 0 || (s.numberAvailable ?? 0) < s.desiredNumberScheduled || (s.updatedNumberScheduled ?? 0) < s.desiredNumberScheduled) {
          return `daemonset ${ns}/${name}: ${s?.numberAvailable ?? 0}/${s?.desiredNumberScheduled ?? '?'} available`;
        }
      } else {
        const d = await apps.readNamespacedDeployment({ name, namespace: ns });
        const want = d.spec?.replicas ?? 1;
        const s = d.status;
        if ((s?.availableReplicas ?? 0) < want || (s?.updatedReplicas ?? 0) < want || (s?.observedGeneration ?? 0) < (d.metadata?.generation ?? 0)) {
          return `deployment ${ns}/${name}: ${s?.availableReplicas ?? 0}/${want} available`;
        }
      }
    }
    return undefined;
  });
}

const STUCK_REASONS = new Set(['CrashLoopBackOff', 'ErrImageNeverPull', 'ImagePullBackOff', 'ErrImagePull', 'CreateContainerConfigError', 'InvalidImageName']);

/**
 * Throws a HopelessError naming the pod, the reason and its last log lines if a svclab
 * component (label app.kubernetes.io/part-of=svclab) is crash-looping or has no image.
 */
export async function failOnBrokenComponents(kc: KubeConfig): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const pods = (await core.listPodForAllNamespaces({ labelSelector: 'app.kubernetes.io/part-of=svclab' })).items;
  for (const p of pods) {
    for (const cs of p.status?.containerStatuses ?? []) {
      const waiting = cs.state?.waiting?.reason;
      const crashing = (cs.restartCount ?? 0) >= 3 && waiting === 'CrashLoopBackOff';
      if (!crashing && !(waiting && STUCK_REASONS.has(waiting) && waiting !== 'CrashLoopBackOff')) continue;
      let logs = '';
      try {
        logs = await core.readNamespacedPodLog({ name: p.metadata!.name!, namespace: p.metadata!.namespace!, container: cs.name, previous: crashing, tailLines: 5 });
      } catch {
        // no logs to show
      }
      const last = logs.split('\n').map((l) => l.trim()).filter(Boolean).slice(-3).join(' | ');
      throw new HopelessError(`svclab component pod ${p.metadata?.namespace}/${p.metadata?.name} (${cs.name}) is failing: ${waiting}${cs.state?.waiting?.message ? ` (${cs.state.waiting.message})` : ''}${last ? `; last log lines: ${last}` : ''}`);
    }
  }
}

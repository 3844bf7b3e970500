// A lab's life on a cluster: back to the clean state, its setup, its solution.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError, oneLine } from '../errors.ts';
import { applyObjects, parseManifest, renderTemplate } from '../cluster/manifests.ts';
import { readRecord } from '../cluster/state.ts';
import type { LoadedLab } from '../core/lab/types.ts';
import { apiVersionOf, type LabCluster } from './cluster.ts';

/** What learners make in a lab namespace, in deletion order (owners before what they own). */
const LEARNER_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'Pod', 'Service', 'EndpointSlice', 'Endpoints', 'ConfigMap'];
/** What the control plane keeps in every namespace. */
const KEEP: Record<string, (name: string, labels: Record<string, string>) => boolean> = {
  Service: (n) => n === 'kubernetes',
  Endpoints: (n) => n === 'kubernetes',
  EndpointSlice: (n, l) => l['kubernetes.io/service-name'] === 'kubernetes',
  ConfigMap: (n) => n === 'kube-root-ca.crt',
};

/** Empties the lab's namespace of learner objects and waits until they are gone. */
export async function cleanup(cluster: LabCluster, namespace: string, timeoutMs = 120_000): Promise<void> {
  const doomed: { kind: string; name: string }[] = [];
  // What the control plane deletes itself once their Service is gone: the EndpointSlices
  // of its EndpointSlice controller, and the Endpoints of a Service with a selector.
  const selecting = new Set<string>();
  const followsItsService = (kind: string, name: string, labels: Record<string, string>) =>
    (kind === 'EndpointSlice' && labels['endpointslice.kubernetes.io/managed-by'] === 'endpointslice-controller.k8s.io' && selecting.has(labels['kubernetes.io/service-name'] ?? '')) ||
    (kind === 'Endpoints' && selecting.has(name));
  for (const kind of LEARNER_KINDS) {
    for (const o of await cluster.list(kind, namespace)) {
      const name = o.metadata?.name ?? '';
      const labels = o.metadata?.labels ?? {};
      if (KEEP[kind]?.(name, labels)) continue;
      if (kind === 'Service' && (o.spec as { selector?: object } | undefined)?.selector) selecting.add(name);
      if (followsItsService(kind, name, labels)) continue;
      doomed.push({ kind, name });
    }
  }
  // Kind by kind (owners first), a few requests at a time: a lab may leave a thousand
  // Services, and Services have no deletecollection.
  for (const kind of LEARNER_KINDS) {
    const names = doomed.filter((d) => d.kind === kind).map((d) => d.name);
    const next = () => names.pop();
    await Promise.all(
      Array.from({ length: Math.min(16, names.length) }, async () => {
        for (let name = next(); name !== undefined; name = next()) {
          await cluster.objects.delete({ apiVersion: apiVersionOf(kind), kind, metadata: { name, namespace } }, undefined, undefined, 0, undefined, 'Background').catch((err: unknown) => {
            if ((err as { code?: number }).code !== 404) throw err;
          });
        }
      }),
    );
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = (await cluster.list('Pod', namespace)).length + (await cluster.list('Service', namespace)).filter((s) => s.metadata?.name !== 'kubernetes').length;
    if (left === 0) return;
    if (Date.now() > deadline) throw new UserError(`namespace ${namespace} still has ${left} pods or services after ${timeoutMs / 1000} s of cleanup: look at kubectl get all -n ${namespace}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function echoImage(cluster: LabCluster): Promise<string> {
  return (await readRecord(cluster.name))?.components.echo ?? '';
}

/** Applies the lab's setup manifests (with ${ECHO_IMAGE} and ${NAMESPACE} substituted). */
export async function setup(cluster: LabCluster, lab: LoadedLab): Promise<void> {
  const vars = { ECHO_IMAGE: await echoImage(cluster), NAMESPACE: lab.namespace };
  for (const f of lab.setup ?? []) {
    const path = join(lab.dir, f);
    const objects = parseManifest(renderTemplate(await readFile(path, 'utf8'), vars, path), path).map((o) => ({ ...o, metadata: { namespace: lab.namespace, ...o.metadata } }));
    await applyObjects(cluster.kc, objects, 'svclab-lab');
  }
}

/** Runs the lab's solution script in the toolbox pod; a failure is a one-line error with its last output. */
export async function solve(cluster: LabCluster, lab: LoadedLab): Promise<void> {
  if (!lab.solution) throw new UserError(`lab ${lab.id} has no solution script`);
  const script = await readFile(join(lab.dir, lab.solution), 'utf8');
  const r = await cluster.runInPod(`set -euo pipefail\ncd /tmp\n${script}`);
  if (r.code !== 0) throw new UserError(`the solution of lab ${lab.id} failed (exit ${r.code}): ${oneLine(r.out.trim().split('\n').slice(-3).join(' | ') || 'no output')}`);
}

/** Cleanup, then setup: the lab's starting state. */
export async function startLab(cluster: LabCluster, lab: LoadedLab): Promise<void> {
  await cleanup(cluster, lab.namespace);
  await setup(cluster, lab);
}

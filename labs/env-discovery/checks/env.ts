// Shared by this lab's script checks: the running pods of a Deployment and their environment,
// which only `kubectl exec` shows (the kubelet adds the Service variables; they are not in
// the pod spec). Not a check itself: lab.yaml names web-env.ts and quiet-env.ts.
import type { ScriptContext } from '../../../runner/grade/checks.ts';

export const fail = (en: string, zh: string) => ({ pass: false, reason: { en, zh } });

export interface PodEnv {
  name: string;
  started: string;
  env: Map<string, string>;
}

interface PodJson {
  metadata: { name: string; deletionTimestamp?: string };
  status: { phase?: string; startTime?: string };
}

/** The Deployment's live pods (Running, not being deleted) with their environment; undefined: no such Deployment. */
export async function deploymentPods(ctx: ScriptContext, deployment: string): Promise<PodEnv[] | undefined> {
  const d = await ctx.kubectl(['-n', ctx.namespace, 'get', 'deployment', deployment, '-o', 'json']);
  if (d.code !== 0) return undefined;
  const labels = (JSON.parse(d.out) as { spec: { selector: { matchLabels?: Record<string, string> } } }).spec.selector.matchLabels ?? {};
  const sel = Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',');
  const p = await ctx.kubectl(['-n', ctx.namespace, 'get', 'pods', '-l', sel, '-o', 'json']);
  if (p.code !== 0) return [];
  const pods = (JSON.parse(p.out) as { items: PodJson[] }).items.filter((x) => x.status.phase === 'Running' && !x.metadata.deletionTimestamp);
  const out: PodEnv[] = [];
  for (const pod of pods) {
    const e = await ctx.kubectl(['-n', ctx.namespace, 'exec', pod.metadata.name, '--', 'env']);
    if (e.code !== 0) continue;
    const env = new Map<string, string>();
    for (const line of e.out.split('\n')) {
      const i = line.indexOf('=');
      if (i > 0) env.set(line.slice(0, i), line.slice(i + 1));
    }
    out.push({ name: pod.metadata.name, started: pod.status.startTime ?? '', env });
  }
  return out;
}

/** The Service's cluster IP, first port and creation time; undefined: no such Service. */
export async function service(ctx: ScriptContext, name: string): Promise<{ clusterIP: string; port: number; created: string } | undefined> {
  const s = await ctx.kubectl(['-n', ctx.namespace, 'get', 'service', name, '-o', 'json']);
  if (s.code !== 0) return undefined;
  const o = JSON.parse(s.out) as { metadata: { creationTimestamp: string }; spec: { clusterIP?: string; ports?: { port: number }[] } };
  return { clusterIP: o.spec.clusterIP ?? '', port: o.spec.ports?.[0]?.port ?? 0, created: o.metadata.creationTimestamp };
}

/** "12:04:31" from an RFC 3339 time, for sentences. */
export const clock = (t: string) => /T(\d\d:\d\d:\d\d)/.exec(t)?.[1] ?? t;

// The object check: an object exists (or not) and partially matches; for Services, how many
// ready endpoints they have, with the reason in learner terms when they have too few.
import type { Count, ObjectCheck } from '../lab/types.ts';
import { partialMatch, show } from './match.ts';
import { fail, pass, plural, selectorText, type Verdict } from './verdict.ts';

export interface KubeObj {
  kind?: string;
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  [k: string]: unknown;
}

export interface PodSummary {
  name: string;
  labels: Record<string, string>;
  ready: boolean;
}

export interface ObjectObservation {
  objects: KubeObj[];
  /** For a Service: ready endpoint count over its EndpointSlices, by Service name. */
  readyEndpoints?: Record<string, number>;
  /** The namespace's pods, to explain a selector that matches nothing. */
  pods?: PodSummary[];
}

export const countMin = (c: Count): number => (typeof c === 'number' ? c : c.min);
export const countOk = (c: Count, n: number): boolean => (typeof c === 'number' ? n === c : n >= c.min);

function describeWhat(check: ObjectCheck): { en: string; zh: string } {
  if (check.name) return { en: `${check.kind} ${check.name}`, zh: `${check.kind} ${check.name}` };
  return { en: `a ${check.kind} labelled ${selectorText(check.selector)}`, zh: `带有标签 ${selectorText(check.selector)} 的 ${check.kind}` };
}

const matches = (sel: Record<string, string>, labels: Record<string, string>) => Object.entries(sel).every(([k, v]) => labels[k] === v);

/** "run=my-nginx, app=db" — the label sets the pods carry, without controller noise. */
function podLabelSets(pods: PodSummary[]): string {
  const sets = new Map<string, number>();
  for (const p of pods) {
    const l = Object.fromEntries(Object.entries(p.labels).filter(([k]) => !['pod-template-hash', 'controller-revision-hash', 'statefulset.kubernetes.io/pod-name', 'apps.kubernetes.io/pod-index'].includes(k)));
    const s = selectorText(l) || '(no labels)';
    sets.set(s, (sets.get(s) ?? 0) + 1);
  }
  return [...sets].slice(0, 3).map(([s, n]) => `${s} ×${n}`).join('; ');
}

function explainEndpoints(svc: KubeObj, want: Count, ready: number, pods: PodSummary[] | undefined): Verdict {
  const name = svc.metadata?.name ?? '?';
  const need = typeof want === 'number' ? `${want}` : `at least ${want.min}`;
  const needZh = typeof want === 'number' ? `${want}` : `至少 ${want.min}`;
  const selector = svc.spec?.selector as Record<string, string> | undefined;
  if (!selector || Object.keys(selector).length === 0) {
    return fail(
      `Service ${name} has no selector, so its endpoints are only what its EndpointSlices list: ${ready} ready, ${need} expected.`,
      `Service ${name} 没有选择器，它的端点只来自手工编写的 EndpointSlice：现在就绪 ${ready} 个，应有 ${needZh} 个。`,
    );
  }
  const sel = selectorText(selector);
  const matching = (pods ?? []).filter((p) => matches(selector, p.labels));
  if (pods && matching.length === 0) {
    const others = pods.length ? ` (the pods here are labelled ${podLabelSets(pods)})` : ' (there are no pods in this namespace)';
    const othersZh = pods.length ? `（这里的 Pod 标签是 ${podLabelSets(pods)}）` : '（这个命名空间里还没有 Pod）';
    return fail(`Service ${name} selects ${sel}, but no pod has these labels${others}.`, `Service ${name} 选择 ${sel}，但没有 Pod 带这些标签${othersZh}。`);
  }
  if (pods && matching.filter((p) => p.ready).length < countMin(want)) {
    const readyPods = matching.filter((p) => p.ready).length;
    return fail(
      `Service ${name} selects ${plural(matching.length, 'pod')}, ${readyPods} of them ready; it needs ${need} ready endpoints (only ready pods become endpoints).`,
      `Service ${name} 选中了 ${matching.length} 个 Pod，其中 ${readyPods} 个就绪；需要 ${needZh} 个就绪端点（只有就绪的 Pod 才会成为端点）。`,
    );
  }
  return fail(`Service ${name} has ${plural(ready, 'ready endpoint')}; ${need} expected.`, `Service ${name} 有 ${ready} 个就绪端点，应有 ${needZh} 个。`);
}

export function evaluateObject(check: ObjectCheck, namespace: string, obs: ObjectObservation): Verdict {
  const what = describeWhat(check);
  if (check.absent) {
    if (obs.objects.length === 0) return pass();
    return fail(`${what.en} still exists in namespace ${namespace}; it should be gone.`, `命名空间 ${namespace} 中仍有 ${what.zh}，它应当被删除。`);
  }
  if (obs.objects.length === 0) {
    return fail(`There is no ${what.en} in namespace ${namespace} yet.`, `命名空间 ${namespace} 中还没有 ${what.zh}。`);
  }
  for (const o of obs.objects) {
    const label = `${check.kind} ${o.metadata?.name ?? '?'}`;
    if (check.match !== undefined) {
      const m = partialMatch(check.match, o)[0];
      if (m) {
        if (m.actual === undefined) return fail(`${label}: ${m.path} is not set; expected ${show(m.expected)}.`, `${label}：${m.path} 没有设置，应为 ${show(m.expected)}。`);
        return fail(`${label}: ${m.path} is ${show(m.actual)}, expected ${show(m.expected)}.`, `${label}：${m.path} 是 ${show(m.actual)}，应为 ${show(m.expected)}。`);
      }
    }
    if (check.readyEndpoints !== undefined) {
      const ready = obs.readyEndpoints?.[o.metadata?.name ?? ''] ?? 0;
      if (!countOk(check.readyEndpoints, ready)) return explainEndpoints(o, check.readyEndpoints, ready, obs.pods);
    }
  }
  return pass();
}

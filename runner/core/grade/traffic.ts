// The traffic check: N real requests through a Service, answered by the echo workload, and
// what their answers show (how many pods, always the same one, which client address).
import type { TrafficCheck } from '../lab/types.ts';
import { fail, pass, plural, type Verdict } from './verdict.ts';

export interface Reply {
  ok: boolean;
  /** The echo pod that answered. */
  pod?: string;
  /** The client address the pod saw (IP only). */
  client?: string;
  error?: string;
}

/** Reads an echo reply body ("pod: …\nclient: 10.244.1.5:40312\n…"). */
export function parseEchoReply(body: string): Reply {
  const field = (k: string) => new RegExp(`^${k}: (.*)$`, 'm').exec(body)?.[1]?.trim();
  const pod = field('pod');
  if (!pod) return { ok: false, error: body.trim().split('\n')[0]?.slice(0, 120) || 'an empty reply' };
  const client = field('client')?.replace(/^\[(.*)\]:\d+$/, '$1').replace(/:\d+$/, '');
  return { ok: true, pod, client };
}

export interface TrafficContext {
  /** What was requested, for sentences: "10.96.3.7:80", "172.18.0.3:30080". */
  target: string;
  /** The address the client sent from (pod IP, or the host's address on the kind network). */
  sourceIP?: string;
  /** Ready endpoints of the Service, for distinctPods: all. */
  readyEndpoints: number;
}

export function evaluateTraffic(check: TrafficCheck, replies: Reply[], ctx: TrafficContext): Verdict {
  const e = check.expect;
  const ok = replies.filter((r) => r.ok);
  const from = (check.from ?? 'pod') === 'pod' ? { en: 'from a pod', zh: '从 Pod 内' } : { en: 'from outside the cluster', zh: '从集群外' };
  if (e.refused) {
    if (ok.length === 0) return pass();
    return fail(`${plural(ok.length, 'request')} of ${replies.length} to ${ctx.target} were answered (by ${ok[0]!.pod}); expected none to get through.`, `发往 ${ctx.target} 的 ${replies.length} 个请求中有 ${ok.length} 个得到了应答（来自 ${ok[0]!.pod}）；应当一个都不通。`);
  }
  if (ok.length === 0) {
    const why = replies.find((r) => r.error)?.error ?? 'no answer';
    return fail(`None of ${plural(replies.length, 'request')} ${from.en} to ${ctx.target} got an answer (${why}).`, `${from.zh}发往 ${ctx.target} 的 ${replies.length} 个请求都没有应答（${why}）。`);
  }
  if (ok.length < replies.length) {
    return fail(`Only ${ok.length} of ${replies.length} requests ${from.en} to ${ctx.target} were answered.`, `${from.zh}发往 ${ctx.target} 的 ${replies.length} 个请求只有 ${ok.length} 个得到应答。`);
  }
  const pods = new Set(ok.map((r) => r.pod));
  if (e.distinctPods !== undefined) {
    const want = e.distinctPods === 'all' ? ctx.readyEndpoints : e.distinctPods;
    if (pods.size < want) return fail(`${replies.length} requests to ${ctx.target} were answered by ${plural(pods.size, 'pod')} (${[...pods].join(', ')}); expected at least ${want}.`, `发往 ${ctx.target} 的 ${replies.length} 个请求由 ${pods.size} 个 Pod 应答（${[...pods].join(', ')}）；应至少有 ${want} 个。`);
  }
  if (e.samePod && pods.size > 1) {
    return fail(`${replies.length} requests to ${ctx.target} were answered by ${pods.size} different pods (${[...pods].join(', ')}); with session affinity one client always reaches the same pod.`, `发往 ${ctx.target} 的 ${replies.length} 个请求由 ${pods.size} 个不同的 Pod 应答（${[...pods].join(', ')}）；开启会话亲和性后同一客户端应总是到达同一个 Pod。`);
  }
  if (e.clientPreserved !== undefined && ctx.sourceIP) {
    const seen = [...new Set(ok.map((r) => r.client))];
    const preserved = seen.every((c) => c === ctx.sourceIP);
    if (e.clientPreserved && !preserved) return fail(`The pods saw the client as ${seen.join(', ')}, not the real client ${ctx.sourceIP}: the source address was rewritten (SNAT).`, `Pod 看到的客户端地址是 ${seen.join(', ')}，而不是真正的客户端 ${ctx.sourceIP}：源地址被改写了（SNAT）。`);
    if (!e.clientPreserved && preserved) return fail(`The pods saw the real client address ${ctx.sourceIP}; expected it to be rewritten to a node's address.`, `Pod 看到的是真实客户端地址 ${ctx.sourceIP}；应当被改写为某个节点的地址。`);
  }
  return pass();
}

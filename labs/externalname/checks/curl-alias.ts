// Task in-cluster-target: curl http://web-alias/ from the learner's shell is answered by one
// of web's pods. The traffic check kind sends to a Service's own cluster IP or node port; an
// ExternalName Service has neither (the client follows the CNAME itself), hence this script.
import type { ScriptContext } from '../../../runner/grade/checks.ts';

const ALIAS = 'web-alias';
const TARGET = 'web';

const fail = (en: string, zh: string) => ({ pass: false, reason: { en, zh } });

export default async function curlAlias(ctx: ScriptContext) {
  const name = `${ALIAS}.${ctx.namespace}.svc.cluster.local`;
  const r = await ctx.inPod(`for i in 1 2 3; do curl -sS --connect-timeout 2 -m 3 http://${name}/ 2>&1; echo; echo ----; done`);
  const replies = r.out.split('----\n').slice(0, 3).map((s) => s.trim());
  const pods = replies.map((b) => /^pod: (.*)$/m.exec(b)?.[1]?.trim());
  if (pods.some((p) => !p)) {
    const bad = replies[pods.findIndex((p) => !p)] ?? '';
    if (/resolve/i.test(bad)) return fail(`curl http://${name}/ cannot resolve the name: is there an ExternalName Service ${ALIAS} whose target the cluster DNS server can answer?`, `curl http://${name}/ 无法解析这个名字：是否有 ExternalName Service ${ALIAS}，且它的目标是集群 DNS 能回答的名字？`);
    const why = bad.split('\n')[0]?.slice(0, 120) || 'no answer';
    return fail(`curl http://${name}/ got no answer from an echo pod (${why}).`, `curl http://${name}/ 没有得到 echo Pod 的应答（${why}）。`);
  }
  const eps = await ctx.kubectl(['-n', ctx.namespace, 'get', 'endpointslices', '-l', `kubernetes.io/service-name=${TARGET}`, '-o', 'jsonpath={.items[*].endpoints[*].targetRef.name}']);
  const webPods = new Set(eps.out.trim().split(/\s+/).filter(Boolean));
  const stranger = pods.find((p) => !webPods.has(p!));
  if (stranger) return fail(`curl http://${name}/ was answered by ${stranger}, which is not a pod of Service ${TARGET}: point ${ALIAS} at ${TARGET}.${ctx.namespace}.svc.cluster.local.`, `curl http://${name}/ 的应答来自 ${stranger}，它不是 Service ${TARGET} 的 Pod：让 ${ALIAS} 指向 ${TARGET}.${ctx.namespace}.svc.cluster.local。`);
  return { pass: true };
}

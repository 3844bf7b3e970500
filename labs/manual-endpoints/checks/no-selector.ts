// Task service-without-selector: the Service legacy-db exists and has no selector. The
// object check cannot say "this field is absent" (a partial match only asks for what is
// there), so this script does. With a selector the EndpointSlice controller would own the
// Service's endpoints, which is what the lab is about not having.
import type { ScriptContext } from '../../../runner/grade/checks.ts';

const fail = (en: string, zh: string) => ({ pass: false, reason: { en, zh } });

export default async function noSelector(ctx: ScriptContext) {
  const r = await ctx.kubectl(['-n', ctx.namespace, 'get', 'service', 'legacy-db', '-o', 'json']);
  if (r.code !== 0) {
    if (/NotFound|not found/.test(r.out)) return fail('There is no Service legacy-db yet.', '还没有 Service legacy-db。');
    return fail(`Could not read the Service legacy-db: ${r.out.trim().split('\n')[0]}`, `无法读取 Service legacy-db：${r.out.trim().split('\n')[0]}`);
  }
  const selector = (JSON.parse(r.out) as { spec?: { selector?: Record<string, string> } }).spec?.selector ?? {};
  const labels = Object.entries(selector).map(([k, v]) => `${k}=${v}`).join(',');
  if (labels) {
    return fail(
      `Service legacy-db has the selector ${labels}: the EndpointSlice controller keeps its endpoints, and they are whatever pods match it. Delete it and create it again without spec.selector (kubectl create service always adds one).`,
      `Service legacy-db 带有选择器 ${labels}：它的端点由 EndpointSlice 控制器维护，是匹配这个选择器的那些 Pod。删掉它，重新创建时不要写 spec.selector（kubectl create service 总会加上选择器）。`,
    );
  }
  return { pass: true };
}

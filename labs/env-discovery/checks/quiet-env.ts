// Task service-links-off: quiet's pods have no WEB_* variables although Service web exists,
// and still have KUBERNETES_SERVICE_HOST. Only kubectl exec shows a pod's environment, hence
// this script.
import type { ScriptContext } from '../../../runner/grade/checks.ts';
import { clock, deploymentPods, fail, service } from './env.ts';

export default async function quietEnv(ctx: ScriptContext) {
  const pods = await deploymentPods(ctx, 'quiet');
  if (!pods) return fail('There is no Deployment quiet yet.', '还没有 Deployment quiet。');
  if (pods.length === 0) return fail('Deployment quiet has no running pod yet.', 'Deployment quiet 还没有正在运行的 Pod。');
  const svc = await service(ctx, 'web');
  if (!svc) return fail('There is no Service web, so a missing WEB_SERVICE_HOST in quiet proves nothing: create web first (task 1).', '没有 Service web，所以 quiet 里没有 WEB_SERVICE_HOST 说明不了什么：先创建 web（第 1 个任务）。');
  for (const p of pods) {
    if (p.env.has('WEB_SERVICE_HOST')) return fail(`Pod ${p.name} still has WEB_SERVICE_HOST=${p.env.get('WEB_SERVICE_HOST')}: its pod spec does not turn the Service variables off.`, `Pod ${p.name} 仍然有 WEB_SERVICE_HOST=${p.env.get('WEB_SERVICE_HOST')}：它的 Pod 规约没有关掉 Service 变量。`);
    if (p.started && p.started < svc.created) return fail(`Pod ${p.name} started at ${clock(p.started)}, before Service web (${clock(svc.created)}): it would lack WEB_SERVICE_HOST anyway. Replace it.`, `Pod ${p.name} 在 ${clock(p.started)} 启动，早于 Service web（${clock(svc.created)}）：它本来就不会有 WEB_SERVICE_HOST。请替换它。`);
    if (!p.env.has('KUBERNETES_SERVICE_HOST')) return fail(`Pod ${p.name} has no KUBERNETES_SERVICE_HOST either: only enableServiceLinks: false should change, not the kubernetes Service's variables (did you override the environment?).`, `Pod ${p.name} 连 KUBERNETES_SERVICE_HOST 也没有：应该只是设置 enableServiceLinks: false，kubernetes Service 的变量不该受影响（是不是覆盖了环境变量？）。`);
  }
  return { pass: true };
}

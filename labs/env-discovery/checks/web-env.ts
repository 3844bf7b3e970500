// Task new-pods: every running pod of web has WEB_SERVICE_HOST = web's cluster IP and
// WEB_SERVICE_PORT = its port. Pod environments are only visible through kubectl exec, which
// no declarative check kind does, hence this script.
import type { ScriptContext } from '../../../runner/grade/checks.ts';
import { clock, deploymentPods, fail, service } from './env.ts';

export default async function webEnv(ctx: ScriptContext) {
  const svc = await service(ctx, 'web');
  if (!svc) return fail('There is no Service web yet: no pod can have its variables.', '还没有 Service web：任何 Pod 都不可能有它的变量。');
  const pods = await deploymentPods(ctx, 'web');
  if (!pods) return fail('There is no Deployment web: recreate it? (svclab lab start env-discovery restores the starting state.)', '没有 Deployment web 了：要重新创建吗？（svclab lab start env-discovery 可以恢复初始状态。）');
  if (pods.length === 0) return fail('Deployment web has no running pods right now.', 'Deployment web 现在没有正在运行的 Pod。');
  for (const p of pods) {
    const host = p.env.get('WEB_SERVICE_HOST');
    if (host === undefined) {
      if (p.started && p.started < svc.created) {
        return fail(
          `Pod ${p.name} has no WEB_SERVICE_HOST: it started at ${clock(p.started)}, before Service web was created at ${clock(svc.created)}, and a container's environment is fixed when it starts. Replace the pods.`,
          `Pod ${p.name} 没有 WEB_SERVICE_HOST：它在 ${clock(p.started)} 启动，早于 Service web 的创建时间 ${clock(svc.created)}，而容器的环境变量在启动时就固定了。请用新 Pod 替换它们。`,
        );
      }
      return fail(`Pod ${p.name} started after Service web, yet has no WEB_SERVICE_HOST: does its pod spec say enableServiceLinks: false?`, `Pod ${p.name} 在 Service web 之后启动，却没有 WEB_SERVICE_HOST：它的 Pod 规约里是不是写了 enableServiceLinks: false？`);
    }
    if (host !== svc.clusterIP) {
      return fail(
        `Pod ${p.name} has WEB_SERVICE_HOST=${host}, but web's cluster IP is now ${svc.clusterIP}: the pod started with an earlier Service web. Replace the pods.`,
        `Pod ${p.name} 的 WEB_SERVICE_HOST=${host}，但 web 现在的 ClusterIP 是 ${svc.clusterIP}：这个 Pod 启动时看到的是之前的 Service web。请用新 Pod 替换它们。`,
      );
    }
    const port = p.env.get('WEB_SERVICE_PORT');
    if (port !== String(svc.port)) return fail(`Pod ${p.name} has WEB_SERVICE_PORT=${port ?? '(not set)'}, expected ${svc.port}.`, `Pod ${p.name} 的 WEB_SERVICE_PORT=${port ?? '（未设置）'}，应为 ${svc.port}。`);
  }
  return { pass: true };
}

// Task back-to-iptables: every node is in iptables mode with nothing of another mode left,
// and, since the lab started, kube-proxy has run in nftables and in userspace mode on the
// worker nodes. kube-proxy's start event (reason Starting, action StartKubeProxy, on the
// Node) names its mode; the lab started when its `web` Deployment was created.
import { MODE_TRACES_SCRIPT, parseModeTraces } from '../../../runner/cluster/proxy-mode.ts';
import type { ScriptContext } from '../../../runner/grade/checks.ts';

const fail = (en: string, zh: string) => ({ pass: false, reason: { en, zh } });

interface StartEvent {
  regarding?: { kind?: string; name?: string };
  reason?: string;
  action?: string;
  note?: string;
  eventTime?: string;
  metadata?: { creationTimestamp?: string };
}

export default async function modesVisited(ctx: ScriptContext) {
  const nodes = await ctx.nodes();
  for (const node of nodes) {
    const t = parseModeTraces(await ctx.onNode(node.name, MODE_TRACES_SCRIPT));
    if (t.nftables) return fail(`${node.name} still has the nftables mode's table kube-proxy: set mode: iptables and restart kube-proxy.`, `${node.name} 上仍有 nftables 模式的 kube-proxy 表：设置 mode: iptables 并重启 kube-proxy。`);
    if (t.userspace > 0) return fail(`${node.name} still has the userspace mode's KUBE-PORTALS chains: set mode: iptables and restart kube-proxy.`, `${node.name} 上仍有 userspace 模式的 KUBE-PORTALS 链：设置 mode: iptables 并重启 kube-proxy。`);
    if (t.iptables === 0) return fail(`${node.name} has no KUBE-SVC chains: kube-proxy there is not (yet) in iptables mode.`, `${node.name} 上没有 KUBE-SVC 链：那里的 kube-proxy（还）不在 iptables 模式。`);
  }
  const web = await ctx.kubectl(['-n', ctx.namespace, 'get', 'deployment', 'web', '-o', 'jsonpath={.metadata.creationTimestamp}']);
  const since = Date.parse(web.out.trim());
  if (web.code !== 0 || Number.isNaN(since)) return fail('The lab\'s Deployment web is gone: reset the lab.', '实验的 Deployment web 不见了：请重置实验。');
  const got = await ctx.kubectl(['get', 'events.events.k8s.io', '-n', 'default', '--field-selector', 'reason=Starting', '-o', 'json']);
  const events = got.code === 0 ? ((JSON.parse(got.out) as { items: StartEvent[] }).items ?? []) : [];
  const workers = nodes.filter((n) => !n.roles.includes('control-plane')).map((n) => n.name);
  for (const mode of ['nftables', 'userspace']) {
    const missing = workers.filter((w) => !events.some((e) => e.action === 'StartKubeProxy' && e.regarding?.kind === 'Node' && e.regarding.name === w && e.note === `proxy mode ${mode}` && Date.parse(e.eventTime ?? e.metadata?.creationTimestamp ?? '') >= since));
    if (missing.length) return fail(`kube-proxy on ${missing.join(', ')} has not run in ${mode} mode since the lab started: switch to it first (tasks nftables and userspace).`, `自实验开始以来，${missing.join('、')} 上的 kube-proxy 还没有以 ${mode} 模式运行过：先切换过去（nftables 和 userspace 两个任务）。`);
  }
  return { pass: true };
}

// Task source-ranges: on every node, web-lb-private's address jumps to a KUBE-FW- chain that
// sends the pod network (10.244.0.0/16) on to KUBE-EXT, and KUBE-PROXY-FIREWALL (filter
// table) drops whatever else is still addressed to it. The iptables check kind has no key
// for the firewall chain, hence this script.
import type { ScriptContext } from '../../../runner/grade/checks.ts';

const SERVICE = 'web-lb-private';
const RANGE = '10.244.0.0/16';

const fail = (en: string, zh: string) => ({ pass: false, reason: { en, zh } });

export default async function firewall(ctx: ScriptContext) {
  const got = await ctx.kubectl(['-n', ctx.namespace, 'get', 'service', SERVICE, '-o', 'jsonpath={.status.loadBalancer.ingress[0].ip}']);
  if (got.code !== 0) return fail(`There is no Service ${SERVICE} yet, so no node has firewall rules for it.`, `还没有 Service ${SERVICE}，所以任何节点上都不会有它的防火墙规则。`);
  const ip = got.out.trim();
  if (!ip) return fail(`Service ${SERVICE} has no load balancer address yet (EXTERNAL-IP <pending>): is its type LoadBalancer?`, `Service ${SERVICE} 还没有负载均衡地址（EXTERNAL-IP 为 <pending>）：它的类型是 LoadBalancer 吗？`);
  const comment = `"${ctx.namespace}/${SERVICE} loadbalancer IP"`;
  for (const node of await ctx.nodes()) {
    const lines = (await ctx.iptablesSave(node.name)).split('\n');
    const jump = lines.find((l) => l.startsWith('-A KUBE-SERVICES ') && l.includes(` -d ${ip}/32 `) && l.includes(comment));
    if (!jump) return fail(`On ${node.name}, KUBE-SERVICES has no rule for ${SERVICE}'s address ${ip} yet.`, `在 ${node.name} 上，KUBE-SERVICES 中还没有 ${SERVICE} 的地址 ${ip} 的规则。`);
    const fw = / -j (\S+)/.exec(jump)?.[1] ?? '';
    if (!fw.startsWith('KUBE-FW-')) {
      return fail(
        `On ${node.name}, the rule for ${ip} jumps straight to ${fw}, not to a KUBE-FW- chain: ${SERVICE} has no spec.loadBalancerSourceRanges.`,
        `在 ${node.name} 上，${ip} 的规则直接跳到 ${fw}，而不是 KUBE-FW- 链：${SERVICE} 没有设置 spec.loadBalancerSourceRanges。`,
      );
    }
    const chain = lines.filter((l) => l.startsWith(`-A ${fw} `));
    if (!chain.some((l) => l.includes(` -s ${RANGE} `) && / -j KUBE-EXT-\S+$/.test(l))) {
      const allowed = chain.map((l) => / -s (\S+) /.exec(l)?.[1]).filter(Boolean);
      return fail(
        `On ${node.name}, ${fw} lets ${allowed.length ? allowed.join(', ') : 'no source range'} through to KUBE-EXT, not the pod network ${RANGE}.`,
        `在 ${node.name} 上，${fw} 放行到 KUBE-EXT 的是 ${allowed.length ? allowed.join('、') : '（没有任何源网段）'}，而不是 Pod 网络 ${RANGE}。`,
      );
    }
    if (!lines.some((l) => l.startsWith('-A KUBE-PROXY-FIREWALL ') && l.includes(` -d ${ip}/32 `) && / -j DROP$/.test(l))) {
      return fail(`On ${node.name}, KUBE-PROXY-FIREWALL (filter table) has no DROP rule for ${ip}.`, `在 ${node.name} 上，filter 表的 KUBE-PROXY-FIREWALL 中没有针对 ${ip} 的 DROP 规则。`);
    }
  }
  return { pass: true };
}

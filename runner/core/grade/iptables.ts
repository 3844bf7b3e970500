// The iptables check: reads a node's nat and filter rules the way a learner would walk them
// (KUBE-SERVICES → KUBE-SVC → KUBE-SEP, KUBE-NODEPORTS → KUBE-EXT …) and says, in their
// terms, what is there and what is missing.
import { servicePortChains } from '../proxy/chains.ts';
import { findChain, type Dump, type DumpRule } from '../proxy/iptables-dump.ts';
import { computeProbability } from '../proxy/probability.ts';
import { servicePortNameString } from '../proxy/service-port.ts';
import type { IptablesCheck } from '../lab/types.ts';
import { fail, pass, plural, type Verdict } from './verdict.ts';

export interface ServicePortView {
  name: string;
  port: number;
  protocol: string;
  nodePort?: number;
}

/** What the API says about the Service, reduced to what the rules depend on. */
export interface ServiceView {
  namespace: string;
  name: string;
  clusterIP?: string;
  ports: ServicePortView[];
  ingressIPs: string[];
  externalIPs: string[];
}

export interface NodeRules {
  node: string;
  dump: Dump;
}

/** The service port a check is about: by name or number, else the first. */
export function pickPort(svc: ServiceView, port: string | number | undefined): ServicePortView | undefined {
  if (port === undefined) return svc.ports[0];
  return svc.ports.find((p) => p.name === String(port) || p.port === Number(port));
}

export function chainsOf(svc: ServiceView, p: ServicePortView) {
  return servicePortChains(servicePortNameString(`${svc.namespace}/${svc.name}`, p.name), p.protocol.toLowerCase());
}

/** iptables-save prints "-d 10.96.0.5/32"; restore input (and our renderer) may omit the /32. */
const sameWord = (a: string, w: string) => a === w || a === w.replace(/\/(32|128)$/, '');
const has = (r: DumpRule, ...words: string[]) => words.every((w) => r.args.some((a) => sameWord(a, w)));
const after = (r: DumpRule, flag: string) => {
  const i = r.args.indexOf(flag);
  return i >= 0 ? r.args[i + 1] : undefined;
};
const target = (r: DumpRule) => after(r, '-j');
const dest = (ip: string) => (ip.includes(':') ? `${ip}/128` : `${ip}/32`);

function rules(dump: Dump, table: string, chain: string): DumpRule[] {
  return findChain(dump, table, chain)?.rules ?? [];
}

/** Evaluates the expectations on one node's rules. */
function onNode(check: IptablesCheck, svc: ServiceView, p: ServicePortView, nr: NodeRules): Verdict {
  const { node, dump } = nr;
  const ch = chainsOf(svc, p);
  const proto = p.protocol.toLowerCase();
  const e = check.expect;
  const label = `${svc.name}:${p.port}/${p.protocol}`;
  const svcRules = rules(dump, 'nat', ch.svc);
  const services = rules(dump, 'nat', 'KUBE-SERVICES');
  const toServiceFor = (ip: string) => services.find((r) => has(r, '-d', dest(ip), '-p', proto, '--dport', String(p.port)) && (target(r) === ch.svc || target(r) === ch.ext || target(r) === ch.fw));

  if (e.clusterIP) {
    if (!svc.clusterIP || svc.clusterIP === 'None') return fail(`Service ${svc.name} has no cluster IP (it is headless), so no KUBE-SERVICES rule can lead to it.`, `Service ${svc.name} 没有 Cluster IP（它是 Headless Service），所以 KUBE-SERVICES 里不会有指向它的规则。`);
    if (!toServiceFor(svc.clusterIP)) {
      const rejectedHere = rules(dump, 'filter', 'KUBE-SERVICES').some((r) => has(r, '-d', dest(svc.clusterIP!)) && target(r) === 'REJECT');
      if (rejectedHere) return fail(`On ${node}, traffic to ${svc.clusterIP}:${p.port} is REJECTed in the filter table: Service ${svc.name} has no ready endpoints, so there is no KUBE-SVC jump yet.`, `在 ${node} 上，发往 ${svc.clusterIP}:${p.port} 的流量在 filter 表中被 REJECT：Service ${svc.name} 没有就绪端点，所以还没有跳到 KUBE-SVC 的规则。`);
      return fail(`On ${node}, KUBE-SERVICES has no rule for ${svc.clusterIP}:${p.port} (${label}) jumping to ${ch.svc}.`, `在 ${node} 上，KUBE-SERVICES 中没有把 ${svc.clusterIP}:${p.port}（${label}）跳转到 ${ch.svc} 的规则。`);
    }
  }
  if (e.endpoints !== undefined) {
    const seps = svcRules.filter((r) => target(r)?.startsWith('KUBE-SEP-') && !has(r, '--rcheck'));
    if (seps.length !== e.endpoints) {
      if (seps.length === 0 && !findChain(dump, 'nat', ch.svc)) return fail(`On ${node}, there is no chain ${ch.svc} for ${label} yet: the Service needs ready endpoints first.`, `在 ${node} 上还没有 ${label} 的链 ${ch.svc}：这个 Service 需要先有就绪端点。`);
      return fail(`On ${node}, ${ch.svc} (${label}) spreads over ${plural(seps.length, 'endpoint')} (KUBE-SEP chains), not ${e.endpoints}.`, `在 ${node} 上，${ch.svc}（${label}）分发到 ${seps.length} 个端点（KUBE-SEP 链），而不是 ${e.endpoints} 个。`);
    }
    for (let i = 0; i < seps.length; i++) {
      const want = i < seps.length - 1 ? computeProbability(seps.length - i) : undefined;
      const got = after(seps[i]!, '--probability');
      // iptables-save prints 11 decimals where kube-proxy wrote 10: compare the numbers.
      if (got === undefined ? want !== undefined : want === undefined || Math.abs(Number(got) - Number(want)) > 1e-9) {
        return fail(
          `On ${node}, rule ${i + 1} of ${ch.svc} has probability ${got ?? '(none)'}; with ${seps.length} endpoints kube-proxy writes ${want ?? '(none: the last rule takes what is left)'}.`,
          `在 ${node} 上，${ch.svc} 的第 ${i + 1} 条规则概率是 ${got ?? '（无）'}；有 ${seps.length} 个端点时 kube-proxy 写的是 ${want ?? '（无：最后一条接住剩下的流量）'}。`,
        );
      }
    }
  }
  if (e.nodePort !== undefined && e.nodePort !== false) {
    const port = e.nodePort === true ? p.nodePort : e.nodePort;
    if (!p.nodePort) return fail(`Service ${svc.name} has no node port: its type must be NodePort or LoadBalancer.`, `Service ${svc.name} 没有 NodePort：它的类型应为 NodePort 或 LoadBalancer。`);
    if (port !== p.nodePort) return fail(`Service ${svc.name} uses node port ${p.nodePort}, not ${port}.`, `Service ${svc.name} 使用的 NodePort 是 ${p.nodePort}，而不是 ${port}。`);
    const np = rules(dump, 'nat', 'KUBE-NODEPORTS').find((r) => has(r, '-p', proto, '--dport', String(port)) && (target(r) === ch.ext || target(r) === ch.svc));
    if (!np) return fail(`On ${node}, KUBE-NODEPORTS has no rule for port ${port} jumping to ${ch.ext}.`, `在 ${node} 上，KUBE-NODEPORTS 中没有把端口 ${port} 跳转到 ${ch.ext} 的规则。`);
  }
  if (e.loadBalancer) {
    if (svc.ingressIPs.length === 0) return fail(`Service ${svc.name} has no LoadBalancer ingress IP yet (kubectl get svc shows EXTERNAL-IP <pending>).`, `Service ${svc.name} 还没有 LoadBalancer 入口 IP（kubectl get svc 显示 EXTERNAL-IP 为 <pending>）。`);
    for (const ip of svc.ingressIPs) {
      if (!toServiceFor(ip)) return fail(`On ${node}, KUBE-SERVICES has no rule for the load balancer address ${ip}:${p.port}.`, `在 ${node} 上，KUBE-SERVICES 中没有负载均衡地址 ${ip}:${p.port} 的规则。`);
    }
  }
  if (e.externalIP) {
    if (!svc.externalIPs.includes(e.externalIP)) return fail(`Service ${svc.name} does not list ${e.externalIP} in spec.externalIPs.`, `Service ${svc.name} 的 spec.externalIPs 中没有 ${e.externalIP}。`);
    if (!toServiceFor(e.externalIP)) return fail(`On ${node}, KUBE-SERVICES has no rule for the external IP ${e.externalIP}:${p.port}.`, `在 ${node} 上，KUBE-SERVICES 中没有外部 IP ${e.externalIP}:${p.port} 的规则。`);
  }
  if (e.masqueradeOffCluster) {
    const m = svcRules.find((r) => target(r) === 'KUBE-MARK-MASQ' && svc.clusterIP && has(r, '-d', dest(svc.clusterIP)));
    if (!m) return fail(`On ${node}, ${ch.svc} does not send traffic from outside the pod network to KUBE-MARK-MASQ.`, `在 ${node} 上，${ch.svc} 没有把来自 Pod 网络之外的流量交给 KUBE-MARK-MASQ。`);
  }
  if (e.affinity !== undefined && e.affinity !== false) {
    const sticky = svcRules.filter((r) => has(r, '-m', 'recent', '--rcheck'));
    if (sticky.length === 0) return fail(`On ${node}, ${ch.svc} has no "-m recent --rcheck" rules: session affinity is not on for ${label}.`, `在 ${node} 上，${ch.svc} 中没有 "-m recent --rcheck" 规则：${label} 没有开启会话亲和性。`);
    if (e.affinity !== true) {
      const secs = sticky.map((r) => after(r, '--seconds'));
      if (!secs.every((s) => s === String(e.affinity))) return fail(`On ${node}, the affinity rules of ${ch.svc} remember clients for ${secs[0]} s, not ${e.affinity} s.`, `在 ${node} 上，${ch.svc} 的亲和性规则记住客户端 ${secs[0]} 秒，而不是 ${e.affinity} 秒。`);
    }
  }
  if (e.localOnly) {
    const ext = rules(dump, 'nat', ch.ext);
    if (ext.length === 0) return fail(`On ${node}, there is no ${ch.ext} chain: Service ${svc.name} is not reachable from outside (NodePort or LoadBalancer).`, `在 ${node} 上没有 ${ch.ext} 链：Service ${svc.name} 无法从集群外访问（需要 NodePort 或 LoadBalancer）。`);
    // A node without a local endpoint has no KUBE-SVL jump: it drops external traffic instead.
    const dropsHere = rules(dump, 'filter', 'KUBE-EXTERNAL-SERVICES').some((r) => target(r) === 'DROP' && r.args.includes(`${svc.namespace}/${svc.name}${p.name ? `:${p.name}` : ''} has no local endpoints`));
    if (!dropsHere && !ext.some((r) => target(r) === ch.svl)) return fail(`On ${node}, ${ch.ext} jumps to ${ext.map(target).filter((t) => t?.startsWith('KUBE-')).pop() ?? '?'} instead of ${ch.svl}: externalTrafficPolicy is not Local.`, `在 ${node} 上，${ch.ext} 跳转到的是 ${ext.map(target).filter((t) => t?.startsWith('KUBE-')).pop() ?? '?'} 而不是 ${ch.svl}：externalTrafficPolicy 不是 Local。`);
  }
  if (e.rejected) {
    const rej = rules(dump, 'filter', 'KUBE-SERVICES').some((r) => svc.clusterIP && has(r, '-d', dest(svc.clusterIP)) && target(r) === 'REJECT');
    if (!rej) return fail(`On ${node}, traffic to ${svc.clusterIP ?? svc.name}:${p.port} is not rejected: the Service still has endpoints.`, `在 ${node} 上，发往 ${svc.clusterIP ?? svc.name}:${p.port} 的流量没有被拒绝：这个 Service 仍有端点。`);
  }
  return pass();
}

/** `mode` "all": every node must pass; "any": one is enough. */
export function evaluateIptables(check: IptablesCheck, svc: ServiceView | undefined, nodes: NodeRules[], mode: 'all' | 'any'): Verdict {
  const name = check.service.split('/').pop()!;
  if (!svc) return fail(`There is no Service ${name} yet, so no node has rules for it.`, `还没有 Service ${name}，所以任何节点上都不会有它的规则。`);
  const p = pickPort(svc, check.port);
  if (!p) return fail(`Service ${svc.name} has no port ${check.port}.`, `Service ${svc.name} 没有端口 ${check.port}。`);
  if (nodes.length === 0) return fail('No node matched this check.', '没有匹配这项检查的节点。');
  let last: Verdict = pass();
  for (const n of nodes) {
    const v = onNode(check, svc, p, n);
    if (mode === 'all' && !v.pass) return v;
    if (mode === 'any' && v.pass) return v;
    last = v;
  }
  return last;
}

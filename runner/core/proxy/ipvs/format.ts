// `svclab proxy render --proxy-mode ipvs`: one sync of the IPVS mode as four sections,
// each headed by comment lines and each valid input for the tool its header names.
import { planJumpRules } from '../jump-rules.ts';
import { formatInterfaceBatch } from './interface.ts';
import { formatIpsetRestore } from './ipset.ts';
import { DUMMY_DEVICE, IPVS_JUMP_CHAINS } from './names.ts';
import type { IpvsRenderResult } from './render.ts';
import { formatIpvsRestore } from './virtual-servers.ts';

/** The jump rules from the built-in chains, as iptables-restore --noflush input for a node that has none yet. */
export function jumpRulesText(): string {
  return planJumpRules(new Map(), IPVS_JUMP_CHAINS).text;
}

export function formatIpvsRender(r: IpvsRenderResult, about: { nodeName: string; scheduler: string; nodePortIPs: string[] }): string {
  const header = (title: string, ...notes: string[]) => [`# ==== ${title} ====`, ...notes.map((n) => `# ${n}`)].join('\n') + '\n';
  const out: string[] = [
    `# kube-proxy --proxy-mode=ipvs, one full sync on node ${JSON.stringify(about.nodeName)} (upstream v1.34.4's syncProxyRules).\n` +
      '# Four sections; each is input for the tool its header names, and # lines are comments to all of them.\n',
    header(
      `1. ${DUMMY_DEVICE}: ip -force -batch -`,
      `The dummy interface and every service address that is not already the node's, so that the kernel`,
      `accepts packets to them as local and IPVS (on LOCAL_IN) picks them up. The addresses are also the KUBE-IPVS-IPS set.`,
    ) + formatInterfaceBatch(r.bindAddresses),
    header(
      '2. IPVS virtual servers: ipvsadm-restore (ipvsadm -R)',
      `One per service address and port: cluster IP, external IPs, load-balancer IPs, and each node IP for a NodePort`,
      `(${about.nodePortIPs.length ? about.nodePortIPs.join(', ') : 'none known: pass --node-ip'}). Scheduler ${about.scheduler}; ClientIP affinity is -p TIMEOUT;`,
      'real servers masqueraded (-m), weight 1 (weight 0 only while a removed one drains its connections).',
    ) + formatIpvsRestore(r.virtualServers),
    header('3. ipsets: ipset restore -exist', 'Every set upstream creates, empty ones included; the iptables rules below match them.') + formatIpsetRestore(r.ipsets),
    header('4. iptables: iptables-restore --noflush', 'The jump rules from the built-in chains (upstream ensures each one with iptables -C, then -I):') +
      jumpRulesText() +
      '# The rules of one sync (upstream\'s iptables-restore input):\n' +
      r.iptables,
  ];
  return out.join('\n');
}

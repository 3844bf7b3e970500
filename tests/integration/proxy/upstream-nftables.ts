// Runs upstream kube-proxy in nftables mode in a network namespace against a local API
// server and returns, once the first full sync of each asked-for family is done, the
// transaction it logged (-v=9 "Running nftables transaction") and `nft list table FAMILY
// kube-proxy` as the kernel holds it. Also what the API server serves to a kube-proxy,
// ServiceCIDRs included.
import type { KubeObject } from '../../../runner/kube/state-file.ts';
import { NetnsLab } from '../../support/netns.ts';
import { upstreamBinary, type ControlPlane } from '../../support/control-plane.ts';

export type Family = 'ip' | 'ip6';

export interface UpstreamNftables {
  /** The first transaction of each family, as nft -f input (one operation a line). */
  transaction: Partial<Record<Family, string>>;
  /** `nft list table FAMILY kube-proxy` after it was applied. */
  listing: Partial<Record<Family, string>>;
}

/** What a kube-proxy in nftables mode reads: Services, EndpointSlices, Nodes and ServiceCIDRs. */
export async function readNftablesState(cp: ControlPlane): Promise<KubeObject[]> {
  const out = await cp.kubectl(['get', 'services,endpointslices,nodes,servicecidrs', '--all-namespaces', '-o', 'json']);
  return (JSON.parse(out) as { items: KubeObject[] }).items;
}

export async function upstreamNftables(cp: ControlPlane, flags: string[], addresses: string[], families: Family[] = ['ip'], timeoutMs = 60_000): Promise<UpstreamNftables> {
  const lab = new NetnsLab('kpn');
  try {
    const ns = await lab.netns('node');
    const peer = await lab.netns('peer');
    await lab.link(ns, 'eth0', '169.254.77.1/30', peer, 'eth0', '169.254.77.2/30');
    for (const a of addresses) await ns.exec(['ip', 'addr', 'add', a.includes(':') ? `${a}/64` : `${a}/24`, 'dev', 'eth0']);
    await lab.forwardLoopbackPort(ns, cp.port);
    const child = ns.spawn([
      upstreamBinary('kube-proxy'), `--kubeconfig=${cp.kubeconfig}`, '--proxy-mode=nftables', '--v=9',
      '--healthz-bind-address=127.0.0.1:10256', '--metrics-bind-address=127.0.0.1:10249',
      '--conntrack-max-per-core=0', '--conntrack-tcp-timeout-established=0', '--conntrack-tcp-timeout-close-wait=0',
      ...flags,
    ]);
    const transaction = await new Promise<Partial<Record<Family, string>>>((resolve, reject) => {
      let buf = '';
      let tail = '';
      let tx: string[] | null = null;
      const captured: Partial<Record<Family, string>> = {};
      const complete = new Set<Family>();
      const timer = setTimeout(() => reject(new Error(`upstream kube-proxy did not finish a full sync of ${families.join(' and ')} within ${timeoutMs} ms; last log: ${tail.slice(-1500)}`)), timeoutMs);
      const onLine = (line: string) => {
        tail = (tail + line.slice(0, 300) + '\n').slice(-3000);
        if (tx) {
          if (line === ' >') {
            const text = `${tx.join('\n')}\n`;
            const family = /^add table (ip6?) kube-proxy/.exec(text)?.[1] as Family | undefined;
            if (family && captured[family] === undefined) captured[family] = text;
            tx = null;
          } else tx.push(line.replace(/^\t/, ''));
          return;
        }
        const done = /"SyncProxyRules complete" ipFamily="IPv(4|6)"/.exec(line);
        if (line.includes('"Running nftables transaction" transaction=<')) tx = [];
        else if (done) {
          const family: Family = done[1] === '4' ? 'ip' : 'ip6';
          if (captured[family] !== undefined) complete.add(family);
          if (families.every((f) => complete.has(f))) {
            clearTimeout(timer);
            resolve(captured);
          }
        } else if (/"nftables sync failed"/.test(line)) {
          clearTimeout(timer);
          reject(new Error(`upstream kube-proxy's nftables sync failed: ${line}`));
        }
      };
      const onData = (d: Buffer) => {
        buf += d.toString();
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          onLine(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
        }
      };
      child.stderr!.on('data', onData);
      child.stdout!.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`upstream kube-proxy exited (${code}); last log: ${tail.slice(-1500)}`));
      });
    });
    const listing: Partial<Record<Family, string>> = {};
    for (const f of families) listing[f] = (await ns.exec(['nft', 'list', 'table', f, 'kube-proxy'])).stdout;
    return { transaction, listing };
  } finally {
    await lab.dispose();
  }
}

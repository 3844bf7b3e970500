// Runs upstream kube-proxy in nftables mode in a network namespace against a local API
// server and returns, once its first IPv4 full sync is done, the transaction it logged
// (-v=9 "Running nftables transaction") and `nft list table ip kube-proxy` as the kernel
// holds it. Also what the API server serves to a kube-proxy, ServiceCIDRs included.
import type { KubeObject } from '../../../runner/kube/state-file.ts';
import { NetnsLab } from '../../support/netns.ts';
import { upstreamBinary, type ControlPlane } from '../../support/control-plane.ts';

export interface UpstreamNftables {
  /** The first IPv4 transaction, as nft -f input (one operation a line). */
  transaction: string;
  /** `nft list table ip kube-proxy` after it was applied. */
  listing: string;
}

/** What a kube-proxy in nftables mode reads: Services, EndpointSlices, Nodes and ServiceCIDRs. */
export async function readNftablesState(cp: ControlPlane): Promise<KubeObject[]> {
  const out = await cp.kubectl(['get', 'services,endpointslices,nodes,servicecidrs', '--all-namespaces', '-o', 'json']);
  return (JSON.parse(out) as { items: KubeObject[] }).items;
}

export async function upstreamNftables(cp: ControlPlane, flags: string[], addresses: string[], timeoutMs = 60_000): Promise<UpstreamNftables> {
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
    const transaction = await new Promise<string>((resolve, reject) => {
      let buf = '';
      let tail = '';
      let tx: string[] | null = null;
      let captured: string | null = null;
      const timer = setTimeout(() => reject(new Error(`upstream kube-proxy did not finish an IPv4 nftables sync within ${timeoutMs} ms; last log: ${tail.slice(-1500)}`)), timeoutMs);
      const onLine = (line: string) => {
        tail = (tail + line.slice(0, 300) + '\n').slice(-3000);
        if (tx) {
          if (line === ' >') {
            const text = `${tx.join('\n')}\n`;
            if (captured === null && text.startsWith('add table ip kube-proxy')) captured = text;
            tx = null;
          } else tx.push(line.replace(/^\t/, ''));
          return;
        }
        if (line.includes('"Running nftables transaction" transaction=<')) tx = [];
        else if (captured !== null && /"SyncProxyRules complete" ipFamily="IPv4"/.test(line)) {
          clearTimeout(timer);
          resolve(captured);
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
    const listing = (await ns.exec(['nft', 'list', 'table', 'ip', 'kube-proxy'])).stdout;
    return { transaction, listing };
  } finally {
    await lab.dispose();
  }
}

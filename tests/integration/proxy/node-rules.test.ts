// A node's whole IPv4 ruleset (filter, nat, mangle: jump rules in built-in chains, kubelet's
// chains, canaries, service chains) after svclab's first sync equals upstream kube-proxy's
// on the same node state, on iptables-nft and on iptables-legacy; a second full sync adds
// nothing. svclab decides its jump rules from one iptables-save where upstream runs
// `iptables -C/-I` per rule: this is the proof that the result is the same.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DEFAULT_SETTINGS } from '../../../runner/core/proxy/options.ts';
import { sortRulesTextByServicePort } from '../../../runner/core/proxy/iptables-dump.ts';
import type { KubeObject } from '../../../runner/kube/state-file.ts';
import { loadKubeConfig } from '../../../runner/kube/client.ts';
import { prefixedExec } from '../../../runner/proxy/exec.ts';
import { runProxy } from '../../../runner/proxy/run.ts';
import type { Proxier } from '../../../runner/proxy/proxier.ts';
import { canUseNetns, KUBELET_RULES, NetnsLab, type Netns } from '../../support/netns.ts';
import { controlPlaneUnavailable, startControlPlane, type ControlPlane } from '../../support/control-plane.ts';
import { CLUSTER_CIDR, endpoints, NODE_IP, PODS, svc } from './topology.ts';
import { loadState, startUpstreamProxy } from './upstream.ts';

const missing = controlPlaneUnavailable(['kube-proxy']);
const skip = missing ? `upstream binaries missing: ${missing}` : (await canUseNetns()) ? false : 'needs root and ip netns';
if (skip) console.log(`# skipping: ${skip}`);

let cp: ControlPlane;
before(async () => {
  if (skip) return;
  cp = await startControlPlane();
  await loadState(cp, [
    { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a' }, status: { addresses: [{ type: 'InternalIP', address: NODE_IP }] } },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'lab' } },
    svc('web', '10.96.0.10'),
    svc('np', '10.96.0.20', (s) => { s.spec!.type = 'NodePort'; s.spec!.ports![0]!.nodePort = 30080; }),
    svc('empty', '10.96.0.30'),
    endpoints('web', PODS),
    endpoints('np', PODS.slice(0, 2)),
  ] as unknown as KubeObject[]);
});
after(async () => {
  await cp?.stop();
});


async function node(lab: NetnsLab, name: string, backend: string): Promise<Netns> {
  const ns = await lab.netns(name);
  await lab.link(ns, 'eth0', `${NODE_IP}/24`, await lab.netns(`${name}p`), 'eth0', '192.168.8.1/24');
  await ns.exec([`iptables-${backend}-restore`, '--noflush'], { input: KUBELET_RULES });
  return ns;
}

/** iptables-save, canonical: no comments or counters, upstream's sort (service order does not matter). */
async function rules(ns: Netns, backend: string): Promise<string> {
  const r = await ns.exec([`iptables-${backend}-save`]);
  const text = r.stdout.split('\n').filter((l) => !l.startsWith('#')).map((l) => l.replace(/\[\d+:\d+\]/g, '[0:0]')).join('\n');
  return sortRulesTextByServicePort(text);
}

async function eventuallyEqual(a: () => Promise<string>, b: () => Promise<string>, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [x, y] = [await a(), await b()];
    if ((x === y && x.includes('KUBE-PROXY-CANARY') && x.includes('KUBE-SVC-')) || Date.now() > deadline) {
      assert.equal(x, y);
      return x;
    }
    await new Promise((r) => setTimeout(r, 300));
  }
}

for (const backend of ['nft', 'legacy'] as const) {
  test(`iptables-${backend}: svclab leaves the same ruleset as upstream kube-proxy, and a full resync adds nothing`, { skip, timeout: 120_000 }, async () => {
    const lab = new NetnsLab('kpj');
    const logs: string[] = [];
    let running: Awaited<ReturnType<typeof runProxy>> | undefined;
    try {
      const ours = await node(lab, 'svl', backend);
      const theirs = await node(lab, 'up', backend);
      const upstream = await startUpstreamProxy(lab, theirs, cp, ['--hostname-override=node-a', `--cluster-cidr=${CLUSTER_CIDR}`], { backend });
      running = await runProxy({
        kubeconfig: loadKubeConfig(cp.kubeconfig),
        settings: { ...DEFAULT_SETTINGS, nodeName: 'node-a', clusterCIDRs: [CLUSTER_CIDR] },
        syncPeriodMs: 30_000,
        minSyncPeriodMs: 1000,
        healthzBindAddress: '',
        metricsBindAddress: '',
        exec: prefixedExec(ours.prefix),
        backend,
        nodeWaitMs: 10_000,
        log: (l) => logs.push(l),
      });
      const first = await eventuallyEqual(() => rules(ours, backend), () => rules(theirs, backend));
      // Kubelet's jumps are not duplicated; kube-proxy's come first in upstream's order.
      const input = first.split('\n').filter((l) => l.startsWith('-A INPUT '));
      assert.deepEqual(input.map((l) => l.split(' -j ')[1]), ['KUBE-PROXY-FIREWALL', 'KUBE-NODEPORTS', 'KUBE-EXTERNAL-SERVICES', 'KUBE-FIREWALL']);

      assert.equal(await (running.proxier as Proxier).forceSync(), true, logs.join('\n'));
      assert.equal(await rules(ours, backend), first, 'a second full sync changes nothing');
      await upstream.stop();
    } finally {
      await running?.stop();
      await lab.dispose();
    }
  });
}

// Switching a node between proxy modes leaves no rule of the old mode: svclab's proxy
// runs in the node's network namespace against a real kube-apiserver, one mode after the
// other (as a DaemonSet pod is replaced after `svclab cluster set-proxy-mode`); after each
// start the Service answers through the new mode and the other modes' traces are gone.
// `--cleanup` at the end leaves nothing of any mode.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, test } from 'node:test';
import type { KubeObject } from '../../../runner/kube/state-file.ts';
import { svclab, repoRoot } from '../../support/cli.ts';
import { controlPlaneUnavailable, startControlPlane, type ControlPlane } from '../../support/control-plane.ts';
import { canUseNetns, KUBELET_RULES, NetnsLab } from '../../support/netns.ts';
import { buildTopology, CLUSTER_CIDR, endpoints, NODE_IP, PODS, svc, tally, type Topology } from './topology.ts';
import { loadState } from './upstream.ts';

const missing = controlPlaneUnavailable();
const skip = missing ? `needs the Kubernetes binaries: ${missing}` : (await canUseNetns()) ? false : 'needs root and ip netns';
if (skip) console.log(`# skipping: ${skip}`);
const ipvsSkip = existsSync('/proc/net/ip_vs') ? false : 'this kernel has no IP_VS (no /proc/net/ip_vs): the IPVS step is left out';
if (ipvsSkip) console.log(`# ${ipvsSkip}`);

let cp: ControlPlane;
let lab: NetnsLab;
let top: Topology;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  if (skip) return;
  cp = await startControlPlane();
  lab = new NetnsLab('kpms');
  top = await buildTopology(lab);
  await top.node.exec(['iptables-nft-restore', '--noflush'], { input: KUBELET_RULES });
  await lab.forwardLoopbackPort(top.node, cp.port);
  const node = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a' }, status: { addresses: [{ type: 'InternalIP', address: NODE_IP }] } };
  await loadState(cp, [node, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'lab' } }, svc('web', '10.96.0.10'), endpoints('web', PODS)] as unknown as KubeObject[]);
});

after(async () => {
  await lab?.dispose();
  await cp?.stop();
});

/** What each mode leaves on the node. */
async function traces(): Promise<Record<string, boolean>> {
  const nat = (await top.node.exec(['iptables-nft-save', '-t', 'nat'])).stdout;
  const nft = await top.node.exec(['nft', 'list', 'table', 'ip', 'kube-proxy'], { allowFail: true });
  const ipvs = await top.node.exec(['ip', 'link', 'show', 'kube-ipvs0'], { allowFail: true });
  return {
    iptables: /^:KUBE-SVC-/m.test(nat) || /^:KUBE-SERVICES /m.test(nat),
    nftables: nft.code === 0,
    userspace: /^:KUBE-PORTALS-/m.test(nat),
    ipvs: ipvs.code === 0,
  };
}

async function runMode(mode: string): Promise<string[]> {
  const logs: string[] = [];
  const proxy: ChildProcess = top.node.spawn([
    process.execPath, `${repoRoot}/bin/svclab.js`, 'proxy', 'run', '--proxy-mode', mode,
    '--kubeconfig', cp.kubeconfig, '--hostname-override', 'node-a', `--cluster-cidr=${CLUSTER_CIDR}`,
    '--iptables-min-sync-period=200ms', '--healthz-bind-address=127.0.0.1:10256', '--metrics-bind-address=127.0.0.1:10249',
  ]);
  proxy.stderr!.on('data', (d: Buffer) => logs.push(...d.toString().split('\n').filter(Boolean)));
  try {
    const deadline = Date.now() + 60_000;
    // The old mode's rules may still answer until the new proxy has synced: wait for the
    // new mode's own traces first, then for an answer.
    for (;;) {
      const own = (await traces())[mode];
      const answers = own ? await top.tcp(top.podClient, '10.96.0.10', 80, 3) : ['ERR not synced yet'];
      if (tally(answers).errors.length === 0) break;
      if (proxy.exitCode !== null) throw new Error(`the ${mode} proxy exited (${proxy.exitCode}): ${logs.slice(-5).join(' | ')}`);
      if (Date.now() > deadline) throw new Error(`web did not answer through ${mode} mode: ${answers.join(', ')}; log: ${logs.slice(-5).join(' | ')}`);
      await sleep(300);
    }
    return logs;
  } finally {
    proxy.kill('SIGTERM');
    await Promise.race([new Promise((r) => proxy.once('exit', r)), sleep(10_000)]);
  }
}

const modes = ['iptables', 'nftables', 'userspace', ...(ipvsSkip ? [] : ['ipvs']), 'iptables'];
for (const [i, mode] of modes.entries()) {
  test(`${i === 0 ? 'start' : `${modes[i - 1]} → ${mode}`}: the Service answers through ${mode} mode and no other mode's rules are left`, { skip }, async () => {
    const logs = await runMode(mode);
    const t = await traces();
    assert.equal(t[mode], true, `${mode} mode's own traces are there`);
    for (const other of ['iptables', 'nftables', 'userspace', 'ipvs'].filter((m) => m !== mode)) {
      assert.equal(t[other], false, `after starting in ${mode} mode, ${other} mode left something: ${JSON.stringify(t)}; log: ${logs.filter((l) => l.includes('leftovers')).join(' | ')}`);
    }
    if (i > 0) assert.ok(logs.some((l) => l.includes(`leftovers of ${modes[i - 1]} mode`)), `the proxy says what it removed: ${logs.slice(0, 6).join(' | ')}`);
  });
}

test('svclab proxy run --cleanup removes what every mode left, and kubelet\'s rules stay', { skip }, async () => {
  const r = await svclab(['proxy', 'run', '--cleanup', '--netns', top.node.name], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /removed iptables: nat\/KUBE-SVC-/);
  assert.deepEqual(await traces(), { iptables: false, nftables: false, userspace: false, ipvs: false });
  const save = (await top.node.exec(['iptables-nft-save'])).stdout;
  for (const kubelet of [':KUBE-FIREWALL', ':KUBE-KUBELET-CANARY', ':KUBE-IPTABLES-HINT']) assert.ok(save.includes(kubelet), `${kubelet} stays`);
  const again = await svclab(['proxy', 'run', '--cleanup', '--netns', top.node.name], { timeoutMs: 60_000 });
  assert.match(again.stdout, /nothing to clean up/);
});

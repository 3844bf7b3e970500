// Switching the lab cluster's kube-proxy between modes (`svclab cluster set-proxy-mode`):
// in each mode a pod reaches every endpoint of a ClusterIP Service and the host reaches a
// NodePort, every node runs that mode alone, and the cluster ends back in iptables mode.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import { run } from '../../../runner/exec.ts';
import { svclab } from '../../support/cli.ts';
import { deployEcho, kubeConfigFor, toolboxExec } from '../../support/cluster.ts';
import { TEST_CLUSTER, testCluster } from '../../support/test-cluster.ts';

const NS = 'modes-e2e';
const NODES = [`${TEST_CLUSTER}-control-plane`, `${TEST_CLUSTER}-worker`, `${TEST_CLUSTER}-worker2`];

async function traces(node: string) {
  const sh = (c: string) => run('docker', ['exec', node, 'sh', '-c', c], { allowFailure: true });
  return {
    iptables: Number((await sh('iptables-save -t nat | grep -c "^:KUBE-SVC-"')).stdout.trim() || 0),
    nftables: (await sh('nft list table ip kube-proxy')).code === 0,
    userspace: Number((await sh('iptables-save -t nat | grep -c "^:KUBE-PORTALS-"')).stdout.trim() || 0),
  };
}

describe('kube-proxy modes in the lab cluster', { concurrency: false }, () => {
  let clusterIP = '';
  let nodePort = 0;
  let pods: string[] = [];
  const core = () => kubeConfigFor(TEST_CLUSTER).makeApiClient(CoreV1Api);

  before(async () => {
    const rec = await testCluster();
    const start = await svclab(['cluster', 'set-proxy-mode', 'iptables', '--name', TEST_CLUSTER], { timeoutMs: 240_000 });
    assert.equal(start.code, 0, start.stderr);
    await core().createNamespace({ body: { metadata: { name: NS } } });
    pods = (await deployEcho(TEST_CLUSTER, NS, 'web', 2, rec.components.echo!)).map((p) => p.metadata!.name!);
    const svc = await core().createNamespacedService({
      namespace: NS,
      body: { metadata: { name: 'web' }, spec: { type: 'NodePort', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] } },
    });
    clusterIP = svc.spec!.clusterIP!;
    nodePort = svc.spec!.ports![0]!.nodePort!;
  });
  after(async () => {
    // Leave the shared cluster as the other tests expect it.
    await svclab(['cluster', 'set-proxy-mode', 'iptables', '--name', TEST_CLUSTER], { timeoutMs: 240_000 });
    await core().deleteNamespace({ name: NS }).catch(() => {});
  });

  for (const mode of ['nftables', 'userspace', 'iptables']) {
    test(`set-proxy-mode ${mode}: every node runs it alone, and ClusterIP and NodePort traffic flow`, async () => {
      const r = await svclab(['cluster', 'set-proxy-mode', mode, '--name', TEST_CLUSTER], { timeoutMs: 240_000 });
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.match(r.stdout, new RegExp(`kube-proxy now runs in ${mode} mode`));
      for (const node of NODES) {
        const t = await traces(node);
        assert.equal(t.iptables > 0, mode === 'iptables', `${node} KUBE-SVC chains in ${mode} mode: ${JSON.stringify(t)}`);
        assert.equal(t.nftables, mode === 'nftables', `${node} nft table in ${mode} mode: ${JSON.stringify(t)}`);
        assert.equal(t.userspace > 0, mode === 'userspace', `${node} portal chains in ${mode} mode: ${JSON.stringify(t)}`);
      }
      const cm = await core().readNamespacedConfigMap({ name: 'kube-proxy', namespace: 'kube-system' });
      assert.match(cm.data!['config.conf']!, new RegExp(`^mode: ${mode}$`, 'm'), 'the ConfigMap holds the mode, as on a kubeadm cluster');

      const out = await toolboxExec(TEST_CLUSTER, `for i in $(seq 1 20); do curl -sS --max-time 3 http://${clusterIP}/ | grep '^pod:'; done`);
      const seen = new Set(out.split('\n').filter(Boolean).map((l) => l.replace('pod: ', '')));
      assert.deepEqual([...seen].sort(), [...pods].sort(), `${mode}: a pod reaches every endpoint`);
      const worker = (await core().readNode({ name: `${TEST_CLUSTER}-worker` })).status!.addresses!.find((a) => a.type === 'InternalIP')!.address;
      const np = await run('curl', ['-sS', '--max-time', '5', `http://${worker}:${nodePort}/`]);
      assert.match(np.stdout, /^pod: web-/m, `${mode}: NodePort ${worker}:${nodePort} from the host`);
    });
  }

  test('set-proxy-mode ipvs on a kernel without IP_VS is refused, and the mode stays', { skip: existsSync('/proc/net/ip_vs') ? 'this kernel has IP_VS' : false }, async () => {
    const r = await svclab(['cluster', 'set-proxy-mode', 'ipvs', '--name', TEST_CLUSTER], { timeoutMs: 60_000 });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /cannot switch to ipvs mode: this kernel has no IP_VS support .*; kube-proxy stays in iptables mode/);
    assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    const cm = await core().readNamespacedConfigMap({ name: 'kube-proxy', namespace: 'kube-system' });
    assert.match(cm.data!['config.conf']!, /^mode: iptables$/m);
  });

  test('an unknown mode is a one-line error', async () => {
    const r = await svclab(['cluster', 'set-proxy-mode', 'ebpf', '--name', TEST_CLUSTER], { timeoutMs: 60_000 });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /unknown proxy mode "ebpf": use one of iptables, nftables, ipvs, userspace/);
  });
});

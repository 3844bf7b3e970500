// svclab's kube-proxy DaemonSet in the real lab cluster: the rules it writes on every node
// carry ClusterIP traffic from a pod and NodePort traffic from outside the cluster.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import { run } from '../../../runner/exec.ts';
import { deployEcho, kubeConfigFor, toolboxExec } from '../../support/cluster.ts';
import { TEST_CLUSTER, testCluster } from '../../support/test-cluster.ts';

const NS = 'proxy-e2e';

describe('kube-proxy in the lab cluster', { concurrency: false }, () => {
  let clusterIP = '';
  let nodePort = 0;
  let pods: string[] = [];
  const core = () => kubeConfigFor(TEST_CLUSTER).makeApiClient(CoreV1Api);

  before(async () => {
    const rec = await testCluster();
    await core().createNamespace({ body: { metadata: { name: NS } } });
    pods = (await deployEcho(TEST_CLUSTER, NS, 'web', 3, rec.components.echo!)).map((p) => p.metadata!.name!);
    const svc = await core().createNamespacedService({
      namespace: NS,
      body: { metadata: { name: 'web' }, spec: { type: 'NodePort', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] } },
    });
    clusterIP = svc.spec!.clusterIP!;
    nodePort = svc.spec!.ports![0]!.nodePort!;
  });
  after(async () => {
    await core().deleteNamespace({ name: NS }).catch(() => {});
  });

  test('every node has the service\'s chains, with upstream\'s comments and a 3-way spread', async () => {
    for (const node of [`${TEST_CLUSTER}-control-plane`, `${TEST_CLUSTER}-worker`, `${TEST_CLUSTER}-worker2`]) {
      let rules = '';
      for (let i = 0; i < 20 && !rules.includes('--probability 0.33333333349'); i++) {
        rules = (await run('docker', ['exec', node, 'iptables-save', '-t', 'nat'])).stdout.split('\n').filter((l) => l.includes(`${NS}/web:http`)).join('\n');
        if (!rules.includes('--probability 0.33333333349')) await new Promise((r) => setTimeout(r, 500));
      }
      assert.match(rules, new RegExp(`-A KUBE-SERVICES -d ${clusterIP.replace(/\./g, '\\.')}/32 -p tcp -m comment --comment "${NS}/web:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-[A-Z2-7]{16}`), node);
      assert.match(rules, new RegExp(`-A KUBE-NODEPORTS -p tcp -m comment --comment "${NS}/web:http" -m tcp --dport ${nodePort} -j KUBE-EXT-[A-Z2-7]{16}`), node);
      assert.match(rules, /-m statistic --mode random --probability 0\.33333333349 -j KUBE-SEP-/);
      assert.match(rules, /-m statistic --mode random --probability 0\.50000000000 -j KUBE-SEP-/);
      assert.equal((rules.match(/-j DNAT --to-destination 10\.244\.\d+\.\d+:8080/g) ?? []).length, 3, node);
    }
  });

  test('ClusterIP traffic from a pod reaches every endpoint', async () => {
    const out = await toolboxExec(TEST_CLUSTER, `for i in $(seq 1 30); do curl -sS --max-time 3 http://${clusterIP}/ | grep '^pod:'; done`);
    const seen = new Set(out.split('\n').filter(Boolean).map((l) => l.replace('pod: ', '')));
    assert.deepEqual([...seen].sort(), [...pods].sort());
  });

  test('NodePort traffic from outside the cluster (the host) is answered, through every node', async () => {
    const nodes = (await core().listNode()).items;
    const gateway = JSON.parse((await run('docker', ['network', 'inspect', 'kind'])).stdout)[0].IPAM.Config.find((c: { Gateway?: string }) => c.Gateway && !c.Gateway.includes(':')).Gateway as string;
    for (const n of nodes) {
      const ip = n.status!.addresses!.find((a) => a.type === 'InternalIP')!.address;
      const r = await run('curl', ['-sS', '--max-time', '5', `http://${ip}:${nodePort}/`]);
      assert.match(r.stdout, /^pod: web-/m, `${n.metadata?.name} ${ip}:${nodePort}`);
      // From outside, the default Cluster policy masquerades: the pod sees a node's address, not the host's.
      assert.match(r.stdout, /^client: /m);
      assert.doesNotMatch(r.stdout, new RegExp(`^client: ${gateway.replace(/\./g, '\\.')}:`, 'm'));
    }
  });
});

// The node image holds kind's node-image contract (../shared/research/kind-offline.md §1),
// checked inside a running node of the shared test cluster: what kind and kubeadm read from
// a node, and what svclab's own code and lessons use there. On this machine that node image
// is svclab's offline build; with a registry it is kindest/node of the same version, and
// the same checks hold for it, so either image serves svclab the same way.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { run } from '../../../runner/exec.ts';
import { findKind } from '../../../runner/cluster/kind.ts';
import { debianBaseRef } from '../../../runner/images/debian-base.ts';
import { versions } from '../../../runner/images/versions.ts';
import { TEST_CLUSTER, testCluster } from '../../support/test-cluster.ts';

const NODE = `${TEST_CLUSTER}-control-plane`;
const onNode = async (script: string) => (await run('docker', ['exec', NODE, 'bash', '-c', script])).stdout.trim();

describe(`the node image (${NODE})`, { concurrency: false }, () => {
  test('/kind/version is one line with the Kubernetes version, the tag of the control-plane images', async () => {
    await testCluster();
    assert.equal(await onNode('cat /kind/version'), versions.kubernetes);
    assert.equal(await onNode('kubelet --version'), `Kubernetes ${versions.kubernetes}`);
    assert.match(await onNode('kubeadm version -o short'), new RegExp(`^${versions.kubernetes.replace(/\./g, '\\.')}$`));
  });

  test("every image kubeadm asks for (but kube-proxy's and CoreDNS's, which svclab replaces) and the sandbox image are in containerd", async () => {
    const wanted = (await onNode(`kubeadm config images list --kubernetes-version "$(cat /kind/version)" 2>/dev/null`)).split('\n').filter((i) => !/kube-proxy|coredns/.test(i));
    assert.ok(wanted.length >= 4, wanted.join(' '));
    const sandbox = await onNode(`sed -n 's/^ *sandbox_image *= *"\\(.*\\)"/\\1/p' /etc/containerd/config.toml`);
    assert.match(sandbox, /^registry\.k8s\.io\/pause:/);
    const have = await onNode('ctr -n k8s.io images ls -q');
    for (const ref of [...wanted, sandbox]) assert.ok(have.split('\n').includes(ref), `${ref} is not in the node's containerd:\n${have}`);
  });

  test('the binaries and tools kind, kubeadm and svclab run on a node are there', async () => {
    const tools = ['kubeadm', 'kubelet', 'kubectl', 'containerd', 'ctr', 'runc', 'crictl', 'iptables', 'iptables-save', 'iptables-legacy', 'iptables-nft', 'nft', 'ipset', 'conntrack', 'ip', 'ethtool', 'socat', 'jq', 'pgrep', 'findmnt', 'getent', 'update-alternatives', 'systemd-machine-id-setup'];
    const missing = await onNode(`for t in ${tools.join(' ')}; do command -v "$t" >/dev/null || echo "$t"; done`);
    assert.equal(missing, '', `missing on the node: ${missing}`);
    const plugins = await onNode('ls /opt/cni/bin');
    for (const p of ['bridge', 'host-local', 'loopback', 'portmap']) assert.ok(plugins.split('\n').includes(p), `CNI plugin ${p} in /opt/cni/bin: ${plugins}`);
    assert.match(await onNode('crictl info >/dev/null && echo ok'), /ok/, 'crictl reaches containerd through /etc/crictl.yaml');
  });

  test('systemd runs containerd and the kubelet as kind sets them up, and the node is configured by kubeadm', async () => {
    assert.equal(await onNode('readlink -f /sbin/init'), '/usr/lib/systemd/systemd');
    assert.equal(await onNode('systemctl is-active containerd kubelet | sort -u'), 'active');
    assert.match(await onNode('systemctl show kubelet -p Slice --value'), /^kubelet\.slice$/);
    assert.match(await onNode('systemctl show containerd -p Delegate --value'), /^yes$/);
    assert.match(await onNode('cat /kind/kubeadm.conf'), /kind: InitConfiguration/);
    assert.match(await onNode('ls /etc/kubernetes/manifests'), /kube-apiserver\.yaml[\s\S]*kube-scheduler\.yaml/);
    assert.equal(await onNode('sysctl -n net.ipv4.conf.all.route_localnet'), '1', 'route_localnet, as kindest/node sets it (NodePorts on 127.0.0.1)');
  });

  test('`kind load docker-image` puts an image into the node where the kubelet sees it (how changed components reach a cluster)', async () => {
    const probe = 'svclab/node-contract-probe:1';
    await run('docker', ['tag', debianBaseRef((await testCluster()).imageSource), probe]);
    try {
      await run(await findKind(), ['load', 'docker-image', probe, '--name', TEST_CLUSTER, '--nodes', NODE]);
      assert.match(await onNode(`crictl inspecti -o go-template --template '{{.status.repoTags}}' docker.io/${probe}`), /node-contract-probe:1/);
    } finally {
      await run('docker', ['exec', NODE, 'crictl', 'rmi', `docker.io/${probe}`], { allowFailure: true });
      await run('docker', ['rmi', probe], { allowFailure: true });
    }
  });
});

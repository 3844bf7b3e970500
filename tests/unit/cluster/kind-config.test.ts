import assert from 'node:assert/strict';
import { test } from 'node:test';
import { componentProfile, defaultSpec, LEAN_CONTROLLERS, dnsServiceIP, LEAN_STATIC_POD_PATCHES, LEAN_STATIC_POD_PATCHES_DIR, renderKindConfig, validateClusterName, validateWorkers } from '../../../runner/core/cluster/kind-config.ts';
import { parseManifest, renderTemplate } from '../../../runner/cluster/manifests.ts';
import { parse } from 'yaml';

test('the kind config disables kube-proxy, the default CNI and CoreDNS, and keeps preflight skipped', () => {
  const cfg = parse(renderKindConfig(defaultSpec('lab', 2)));
  assert.equal(cfg.networking.kubeProxyMode, 'none');
  assert.equal(cfg.networking.disableDefaultCNI, true);
  assert.equal(cfg.networking.podSubnet, '10.244.0.0/16');
  assert.equal(cfg.networking.serviceSubnet, '10.96.0.0/16');
  assert.deepEqual(parse(cfg.kubeadmConfigPatches[0]).skipPhases, ['preflight', 'addon/kube-proxy', 'addon/coredns']);
  assert.deepEqual(cfg.nodes.map((n: { role: string }) => n.role), ['control-plane', 'worker', 'worker']);
  assert.deepEqual(cfg.featureGates, { RelaxedServiceNameValidation: true });
});

test('a cluster with no workers is one control-plane node', () => {
  assert.deepEqual(parse(renderKindConfig(defaultSpec('solo', 0))).nodes, [{ role: 'control-plane' }]);
});

test('kube-dns sits at the 10th address of the service subnet, where kubeadm points the kubelet', () => {
  assert.equal(dnsServiceIP('10.96.0.0/16'), '10.96.0.10');
  assert.equal(dnsServiceIP('10.100.0.0/16'), '10.100.0.10');
});

test('cluster names and worker counts are checked before anything is created', () => {
  assert.equal(validateClusterName('svclab'), undefined);
  assert.equal(validateClusterName('class-1-alice'), undefined);
  for (const bad of ['Svclab', 'a_b', '-a', 'a-', '', 'x'.repeat(41)]) assert.ok(validateClusterName(bad), bad);
  assert.equal(validateWorkers('0'), 0);
  assert.equal(validateWorkers('2'), 2);
  assert.match(validateWorkers('-1') as string, /whole number/);
  assert.match(validateWorkers('1.5') as string, /whole number/);
  assert.match(validateWorkers('11') as string, /at most 10/);
});

test('manifest placeholders are filled in, and an unknown one is an error instead of an empty string', () => {
  assert.equal(renderTemplate('image: ${IMAGE}\nhost: ${API_SERVER_HOST}', { IMAGE: 'svclab/x:1', API_SERVER_HOST: '172.18.0.2' }, 'm.yaml'), 'image: svclab/x:1\nhost: 172.18.0.2');
  assert.throws(() => renderTemplate('x: ${NOPE}', {}, 'm.yaml'), /m\.yaml: unknown placeholder \$\{NOPE\}/);
  const objs = parseManifest('kind: A\napiVersion: v1\nmetadata: {name: a}\n---\n---\nkind: B\napiVersion: v1\nmetadata: {name: b}\n', 'm.yaml');
  assert.deepEqual(objs.map((o) => o.kind), ['A', 'B']);
});

test('the lean profile adds kubeadm patches: the API server probed every 10 s, no leader election in the controller manager and scheduler, no kubelet local-storage isolation', () => {
  const plain = parse(renderKindConfig(defaultSpec('lab', 0)));
  assert.equal(plain.kubeadmConfigPatches.length, 1, 'the default cluster has only the InitConfiguration patch');
  const cfg = parse(renderKindConfig({ ...defaultSpec('learner', 2), lean: true }));
  const patches = (cfg.kubeadmConfigPatches as string[]).map((p) => parse(p));
  // The InitConfiguration patch and everything else stays as in the default cluster.
  assert.deepEqual(patches[0].skipPhases, ['preflight', 'addon/kube-proxy', 'addon/coredns']);
  assert.deepEqual({ ...cfg, kubeadmConfigPatches: undefined }, { ...parse(renderKindConfig(defaultSpec('learner', 2))), kubeadmConfigPatches: undefined });
  const cluster = patches.find((p) => p.kind === 'ClusterConfiguration');
  // extraArgs values are strings (kubeadm v1beta3's map[string]string, which kind v0.31 generates for v1.34),
  // and no apiVersion, so that kind matches the kubeadm config whichever version it generates.
  assert.deepEqual(cluster, {
    kind: 'ClusterConfiguration',
    controllerManager: { extraArgs: { 'leader-elect': 'false', controllers: LEAN_CONTROLLERS } },
    scheduler: { extraArgs: { 'leader-elect': 'false' } },
  });
  const kubelet = patches.find((p) => p.kind === 'KubeletConfiguration');
  assert.deepEqual(kubelet, { kind: 'KubeletConfiguration', localStorageCapacityIsolation: false });
  // kubeadm's own controllers stay; the volume controllers go.
  assert.match(LEAN_CONTROLLERS, /^\*,bootstrapsigner,tokencleaner,-persistentvolume-attach-detach-controller,/);
  // kubeadm reads the static pod patches from the lab node image's directory.
  const kubeletArgs = { kubeletExtraArgs: { 'housekeeping-interval': '60s' } };
  assert.deepEqual(patches.filter((p) => p.patches), [{ kind: 'InitConfiguration', patches: { directory: LEAN_STATIC_POD_PATCHES_DIR }, nodeRegistration: kubeletArgs }]);
  // Every node's kubelet, the control plane's (init) and the workers' (join).
  assert.deepEqual(patches.find((p) => p.kind === 'JoinConfiguration'), { kind: 'JoinConfiguration', nodeRegistration: kubeletArgs });
  assert.deepEqual(parse(LEAN_STATIC_POD_PATCHES['kube-apiserver+strategic.yaml']!), { spec: { containers: [{ name: 'kube-apiserver', readinessProbe: { periodSeconds: 10 } }] } });
  assert.equal(patches.length, 5);
  assert.deepEqual(cfg.nodes.map((n: { role: string }) => n.role), ['control-plane', 'worker', 'worker']);
});

test('lean clusters run one DNS replica and renew the LoadBalancer controller\'s Lease every 15 s; the default keeps two and kube-controller-manager\'s timings', () => {
  assert.deepEqual(componentProfile(false), { DNS_REPLICAS: '2', LB_LEASE_DURATION: '15s', LB_RENEW_DEADLINE: '10s', LB_RETRY_PERIOD: '2s' });
  assert.deepEqual(componentProfile(true), { DNS_REPLICAS: '1', LB_LEASE_DURATION: '60s', LB_RENEW_DEADLINE: '40s', LB_RETRY_PERIOD: '15s' });
  // Every placeholder of the manifests that use them is filled in, with numbers where YAML wants them.
  const dns = parseManifest(renderTemplate('spec:\n  replicas: ${DNS_REPLICAS}\n', componentProfile(true), 'm.yaml'), 'm.yaml')[0] as unknown as { spec: { replicas: unknown } };
  assert.equal(dns.spec.replicas, 1);
});

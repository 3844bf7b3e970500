// kube-proxy's --config file: a KubeProxyConfiguration mapped onto the flags it replaces.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from 'yaml';
import { configFileValues } from '../../../runner/proxy/config-file.ts';

const doc = (extra: string) => parse(`apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n${extra}`);

test('the settings a kubeadm-style file holds become the flags they stand for', () => {
  const { values, ignored } = configFileValues(doc(`mode: nftables
clusterCIDR: 10.244.0.0/16
healthzBindAddress: 0.0.0.0:10256
metricsBindAddress: 0.0.0.0:10249
nodePortAddresses: [primary]
iptables: {masqueradeAll: true, masqueradeBit: 14, minSyncPeriod: 2s, syncPeriod: 1m, localhostNodePorts: false}
ipvs: {scheduler: lc}
conntrack: {maxPerCore: 0}
featureGates: {}
`), 'f');
  assert.deepEqual(values, {
    proxyMode: 'nftables', clusterCidr: '10.244.0.0/16', healthzBindAddress: '0.0.0.0:10256', metricsBindAddress: '0.0.0.0:10249', nodeportAddresses: ['primary'],
    masqueradeAll: true, iptablesMasqueradeBit: '14', iptablesMinSyncPeriod: '2s', iptablesSyncPeriod: '1m', iptablesLocalhostNodeports: false, ipvsScheduler: 'lc',
  });
  assert.deepEqual(ignored, ['conntrack', 'featureGates'], 'what svclab does not use is named');
});

test('an empty mode is iptables, as upstream picks on Linux; top-level sync periods are read', () => {
  assert.deepEqual(configFileValues(doc('mode: ""\nsyncPeriod: 30s\nminSyncPeriod: 1s\n'), 'f').values, { proxyMode: 'iptables', iptablesSyncPeriod: '30s', iptablesMinSyncPeriod: '1s' });
});

test('bad files are one-line errors naming the field', () => {
  assert.throws(() => configFileValues(doc('mode: ebpf\n'), '--config x'), /--config x: mode "ebpf" is not one of iptables, nftables, ipvs, userspace/);
  assert.throws(() => configFileValues(doc('iptables: {masqueradeAll: "yes"}\n'), 'f'), /iptables.masqueradeAll must be true or false/);
  assert.throws(() => configFileValues(parse('apiVersion: v1\nkind: ConfigMap\n'), 'f'), /expected apiVersion kubeproxy.config.k8s.io\/v1alpha1 and kind KubeProxyConfiguration, got v1 ConfigMap/);
  assert.throws(() => configFileValues('just text', 'f'), /expected a KubeProxyConfiguration/);
});

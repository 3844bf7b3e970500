import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planNode, type NodeLike } from '../../../runner/core/cni/plan.ts';

const node = (name: string, podCIDR: string | undefined, ip: string | undefined): NodeLike => ({
  metadata: { name },
  spec: podCIDR ? { podCIDR, podCIDRs: [podCIDR] } : {},
  status: { addresses: ip ? [{ type: 'InternalIP', address: ip }, { type: 'Hostname', address: name }] : [] },
});

test('a node gets a ptp + host-local config over its own podCIDR and a route to every other node', () => {
  const nodes = [node('cp', '10.244.0.0/24', '172.18.0.2'), node('w1', '10.244.1.0/24', '172.18.0.3'), node('w2', '10.244.2.0/24', '172.18.0.4')];
  const plan = planNode(nodes, 'w1');
  const conf = JSON.parse(plan.conflist!);
  assert.equal(conf.plugins[0].type, 'ptp');
  assert.equal(conf.plugins[0].ipMasq, false, 'pod-to-pod traffic must keep its source address');
  assert.deepEqual(conf.plugins[0].ipam.ranges, [[{ subnet: '10.244.1.0/24' }]]);
  assert.equal(conf.plugins[1].type, 'portmap');
  assert.deepEqual(plan.routes, [
    { cidr: '10.244.0.0/24', via: '172.18.0.2', node: 'cp' },
    { cidr: '10.244.2.0/24', via: '172.18.0.4', node: 'w2' },
  ]);
});

test('no config until the node has a podCIDR, and no route to nodes without a podCIDR or address yet', () => {
  const nodes = [node('cp', '10.244.0.0/24', '172.18.0.2'), node('new', undefined, '172.18.0.5'), node('w1', '10.244.1.0/24', undefined)];
  assert.equal(planNode(nodes, 'new').conflist, undefined);
  assert.deepEqual(planNode(nodes, 'cp').routes, []);
});

test('dual-stack nodes: the IPv4 pod CIDR is used', () => {
  const n = node('cp', undefined, '172.18.0.2');
  n.spec = { podCIDR: 'fd00:10:244::/64', podCIDRs: ['fd00:10:244::/64', '10.244.0.0/24'] };
  assert.deepEqual(JSON.parse(planNode([n], 'cp').conflist!).plugins[0].ipam.ranges, [[{ subnet: '10.244.0.0/24' }]]);
});

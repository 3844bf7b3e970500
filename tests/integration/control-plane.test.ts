import assert from 'node:assert/strict';
import { test } from 'node:test';
import { controlPlaneUnavailable, startControlPlane } from '../support/control-plane.ts';

test('the local control plane serves what a test creates, statuses included', { skip: controlPlaneUnavailable() }, async () => {
  const cp = await startControlPlane();
  try {
    await cp.apply([
      { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' }, status: { addresses: [{ type: 'InternalIP', address: '10.1.0.1' }] } },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'shop' }, spec: { type: 'LoadBalancer', ports: [{ port: 80 }] }, status: { loadBalancer: { ingress: [{ ip: '192.0.2.10' }] } } },
    ]);
    const node = JSON.parse(await cp.kubectl(['get', 'node', 'n1', '-o', 'json']));
    assert.equal(node.status.addresses[0].address, '10.1.0.1');
    const svc = JSON.parse(await cp.kubectl(['-n', 'shop', 'get', 'service', 'web', '-o', 'json']));
    assert.match(svc.spec.clusterIP, /^10\.96\./);
    assert.equal(svc.status.loadBalancer.ingress[0].ip, '192.0.2.10');
  } finally {
    await cp.stop();
  }
});

// CoreDNS's DNS programming latency (coredns_kubernetes_dns_programming_duration_seconds):
// observed when an EndpointSlice event of a headless service arrives from the informers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClusterIndex } from '../../../runner/core/dns/cluster-index.ts';
import { DnsMetrics } from '../../../runner/dns/metrics.ts';
import { applyEvent } from '../../../runner/dns/sources.ts';
import { objects, slice } from './fixtures.ts';

const NOW = Date.parse('2025-06-01T12:00:05Z');
const http = [{ name: 'http', protocol: 'TCP', port: 80 }];
const triggeredAt = (o: ReturnType<typeof slice>, at: string) => ({ ...o, metadata: { ...o.metadata, annotations: { 'endpoints.kubernetes.io/last-change-trigger-time': at } } });

/** The histogram's lines: the buckets either side of 1.5 s, the sum and the count. */
async function programming(metrics: DnsMetrics): Promise<string[]> {
  const lines = (await metrics.registry.metrics()).split('\n').filter((l) => l.startsWith('coredns_kubernetes_dns_programming_duration_seconds'));
  return lines.filter((l) => !l.includes('_bucket') || /_bucket\{le="(1\.024|2\.048)"/.test(l));
}

test('a headless service\'s EndpointSlice with a last-change-trigger-time: the time until the server has it, as service_kind="headless_with_selector"', async () => {
  const index = new ClusterIndex();
  index.replaceAll(objects);
  const metrics = new DnsMetrics();
  assert.deepEqual(await programming(metrics), [], 'nothing observed before any slice arrives');

  const changed = triggeredAt(slice('testns', 'hdls1', 'hdls1-2', 'IPv4', http, [{ addresses: ['172.0.0.50'], conditions: { ready: true } }]), '2025-06-01T12:00:03.500000000Z');
  applyEvent(index, 'EndpointSlice', { type: 'add', object: changed }, metrics, NOW);
  assert.ok(index.endpointsByIP('172.0.0.50').length === 1, 'the slice is in the index');
  assert.deepEqual(await programming(metrics), [
    'coredns_kubernetes_dns_programming_duration_seconds_bucket{le="1.024",service_kind="headless_with_selector"} 0',
    'coredns_kubernetes_dns_programming_duration_seconds_bucket{le="2.048",service_kind="headless_with_selector"} 1',
    'coredns_kubernetes_dns_programming_duration_seconds_sum{service_kind="headless_with_selector"} 1.5',
    'coredns_kubernetes_dns_programming_duration_seconds_count{service_kind="headless_with_selector"} 1',
  ]);

  // Deleting it is a change the server programs too (CoreDNS records non-tombstone deletes).
  applyEvent(index, 'EndpointSlice', { type: 'delete', object: changed }, metrics, NOW + 1000);
  assert.equal(index.endpointsByIP('172.0.0.50').length, 0);
  assert.match((await programming(metrics)).at(-1)!, /_count\{service_kind="headless_with_selector"\} 2$/);
});

test('no observation for a ClusterIP service, a slice without the annotation, a malformed one, or a service not known yet', async () => {
  const index = new ClusterIndex();
  index.replaceAll(objects);
  const metrics = new DnsMetrics();
  const at = '2025-06-01T12:00:04Z';
  for (const o of [
    triggeredAt(slice('testns', 'svc1', 'svc1-2', 'IPv4', http, [{ addresses: ['172.0.0.51'] }]), at),
    slice('testns', 'hdls1', 'hdls1-3', 'IPv4', http, [{ addresses: ['172.0.0.52'] }]),
    triggeredAt(slice('testns', 'hdls1', 'hdls1-4', 'IPv4', http, [{ addresses: ['172.0.0.53'] }]), 'yesterday'),
    triggeredAt(slice('testns', 'not-yet', 'not-yet-1', 'IPv4', http, [{ addresses: ['172.0.0.54'] }]), at),
  ]) {
    applyEvent(index, 'EndpointSlice', { type: 'add', object: o }, metrics, NOW);
  }
  assert.equal(index.counts.endpointSlices, objects.filter((o) => o.kind === 'EndpointSlice').length + 4, 'every slice still reaches the index');
  assert.deepEqual(await programming(metrics), []);
});

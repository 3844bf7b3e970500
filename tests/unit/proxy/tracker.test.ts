import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProxyState } from '../../../runner/core/proxy/tracker.ts';
import { noWarn, service, slice } from './fixtures.ts';

test('a change that is undone before the sync is no change', () => {
  const st = new ProxyState('IPv4', 'node-a', noWarn);
  const a = service('a', 'web', '10.96.0.1');
  assert.equal(st.onService(null, a), true);
  st.update();
  const b = service('a', 'web', '10.96.0.1', (s) => { s.spec!.ports![0]!.port = 81; });
  assert.equal(st.onService(a, b), true);
  assert.equal(st.onService(b, a), false);
  assert.equal(st.update().updatedServices.size, 0);
  // Metadata-only updates do not change the service ports either.
  assert.equal(st.onService(a, { ...a, metadata: { ...a.metadata, resourceVersion: '42' } }), false);
});

test('endpoints merge across slices; the local copy of a duplicate wins; sorted by ip:port', () => {
  const st = new ProxyState('IPv4', 'node-a', noWarn);
  st.onService(null, service('a', 'web', '10.96.0.1'));
  st.onEndpointSlice(slice('a', 'web', [['10.244.1.11', 'node-b'], ['10.244.0.9', 'node-b']], 8080, 'web-x'), false);
  st.onEndpointSlice(slice('a', 'web', [['10.244.1.1', 'node-c'], ['10.244.0.9', 'node-a']], 8080, 'web-y'), false);
  st.update();
  const eps = st.endpointsFor(st.servicePorts()[0]!.key);
  assert.deepEqual(eps.map((e) => e.endpoint), ['10.244.0.9:8080', '10.244.1.11:8080', '10.244.1.1:8080']);
  assert.equal(eps[0]!.isLocal, true);
});

test('deleting the last slice removes the endpoints; UDP changes ask for conntrack cleanup', () => {
  const st = new ProxyState('IPv4', 'node-a', noWarn);
  const tcp = slice('a', 'web', [['10.244.1.1', 'node-b']]);
  const udp = slice('a', 'dns', [['10.244.1.2', 'node-b']], 53, 'dns-1', 'dns', 'UDP');
  st.onEndpointSlice(tcp, false);
  assert.equal(st.update().conntrackCleanupRequired, false);
  st.onEndpointSlice(udp, false);
  assert.equal(st.update().conntrackCleanupRequired, true);
  assert.equal(st.onEndpointSlice(udp, false), false, 'an identical slice is no change');
  st.onEndpointSlice(udp, true);
  const r = st.update();
  assert.deepEqual([...r.updatedServices], ['a/dns']);
  assert.equal(r.conntrackCleanupRequired, true);
  assert.equal(st.endpointsFor('a/dns:dns/UDP').length, 0);
  assert.equal(st.onEndpointSlice(udp, true), false, 'deleting an unknown slice is no change');
});

test('conditions default like the API: missing ready means ready, serving follows ready', () => {
  const st = new ProxyState('IPv4', 'node-a', noWarn);
  st.onEndpointSlice(slice('a', 'web', [{ addresses: ['10.244.1.1'] }, { addresses: ['10.244.1.2'], conditions: { ready: false, serving: true, terminating: true } }]), false);
  st.update();
  const [a, b] = st.endpointsFor('a/web:http/TCP');
  assert.deepEqual([a!.ready, a!.serving, a!.terminating], [true, true, false]);
  assert.deepEqual([b!.ready, b!.serving, b!.terminating], [false, true, true]);
});

test('services and slices labelled for another proxy, or headless, are ignored', () => {
  const st = new ProxyState('IPv4', 'node-a', noWarn);
  assert.equal(st.onService(null, service('a', 'x', '10.96.0.1', (s) => { s.metadata!.labels = { 'service.kubernetes.io/service-proxy-name': 'other' }; })), false);
  const sl = slice('a', 'x', [['10.244.1.1', 'node-b']]);
  sl.metadata!.labels!['service.kubernetes.io/headless'] = '';
  assert.equal(st.onEndpointSlice(sl, false), false);
});

test('bad input is reported once per problem through warn', () => {
  const seen: string[] = [];
  const st = new ProxyState('IPv4', 'node-a', (key) => seen.push(key));
  st.onService(null, service('a', 'x', 'banana'));
  assert.equal(st.servicePorts().length, 0);
  assert.equal(seen.length, 1);
  st.onEndpointSlice({ ...slice('a', 'x', [['10.244.1.1', 'node-b']]), addressType: 'FQDN' }, false);
  assert.equal(seen.length, 2);
});

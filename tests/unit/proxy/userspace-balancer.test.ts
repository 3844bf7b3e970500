// The userspace proxy's load balancer: round-robin in a (shuffled) order, ClientIP
// affinity with its timeout, endpoint changes. The clock and the shuffle are injected.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_AFFINITY_TIMEOUT_SECONDS, RoundRobinBalancer } from '../../../runner/core/proxy/userspace/balancer.ts';

/** random() just under 1 makes the Fisher-Yates shuffle keep the order. */
const keepOrder = () => 0.999999;
const EPS = ['10.244.1.2:8080', '10.244.2.2:8080', '10.244.3.2:8080'];
const NONE = { clientIP: false, timeoutSeconds: 0 };

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

test('each new connection takes the next endpoint in turn, whoever the client is', () => {
  const lb = new RoundRobinBalancer({ random: keepOrder });
  lb.setService('web', NONE);
  lb.setEndpoints('web', EPS);
  const picks = ['10.244.9.2', '10.244.9.2', '10.244.9.3', '10.244.9.2', '10.244.9.4', '10.244.9.2', '10.244.9.2'].map((c) => lb.next('web', c));
  assert.deepEqual(picks, [EPS[0], EPS[1], EPS[2], EPS[0], EPS[1], EPS[2], EPS[0]]);
});

test('a new endpoint list is shuffled once; every endpoint still gets exactly one turn per round', () => {
  let seed = 7;
  const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  const eps = Array.from({ length: 8 }, (_, i) => `10.244.${i}.2:80`);
  const lb = new RoundRobinBalancer({ random });
  lb.setService('s', NONE);
  lb.setEndpoints('s', eps);
  const order = lb.endpoints('s');
  assert.deepEqual([...order].sort(), [...eps].sort());
  assert.notDeepEqual([...order], eps, 'this seed moves something');
  const rounds = Array.from({ length: 3 }, () => eps.map(() => lb.next('s', '1.1.1.1')));
  for (const r of rounds) assert.deepEqual(r, [...order]);
});

test('services are balanced independently', () => {
  const lb = new RoundRobinBalancer({ random: keepOrder });
  lb.setEndpoints('a', EPS);
  lb.setEndpoints('b', EPS.slice(0, 2));
  assert.equal(lb.next('a', 'c'), EPS[0]);
  assert.equal(lb.next('a', 'c'), EPS[1]);
  assert.equal(lb.next('b', 'c'), EPS[0]);
  assert.equal(lb.next('b', 'c'), EPS[1]);
  assert.equal(lb.next('b', 'c'), EPS[0]);
  assert.equal(lb.next('a', 'c'), EPS[2]);
});

test('no endpoint, or an unknown service port: nothing to connect to', () => {
  const lb = new RoundRobinBalancer({ random: keepOrder });
  assert.equal(lb.next('nope', '1.2.3.4'), null);
  lb.setService('empty', NONE);
  assert.equal(lb.next('empty', '1.2.3.4'), null);
  lb.setEndpoints('empty', EPS);
  lb.setEndpoints('empty', []);
  assert.equal(lb.next('empty', '1.2.3.4'), null);
  lb.deleteService('empty');
  assert.equal(lb.hasService('empty'), false);
});

test('ClientIP affinity: a client keeps its endpoint, others continue the turn', () => {
  const c = clock();
  const lb = new RoundRobinBalancer({ random: keepOrder, now: c.now });
  lb.setService('sticky', { clientIP: true, timeoutSeconds: 60 });
  lb.setEndpoints('sticky', EPS);
  assert.equal(lb.next('sticky', '10.0.0.1'), EPS[0]);
  assert.equal(lb.next('sticky', '10.0.0.2'), EPS[1]);
  for (let i = 0; i < 5; i++) assert.equal(lb.next('sticky', '10.0.0.1'), EPS[0]);
  assert.equal(lb.next('sticky', '10.0.0.3'), EPS[2]);
  assert.equal(lb.next('sticky', '10.0.0.2'), EPS[1]);
  assert.deepEqual(lb.stickyClients('sticky'), new Map([['10.0.0.1', EPS[0]], ['10.0.0.2', EPS[1]], ['10.0.0.3', EPS[2]]]));
});

test('the affinity lasts timeoutSeconds after the last use, and each use restarts it', () => {
  const c = clock();
  const lb = new RoundRobinBalancer({ random: keepOrder, now: c.now });
  lb.setService('s', { clientIP: true, timeoutSeconds: 10 });
  lb.setEndpoints('s', EPS);
  assert.equal(lb.next('s', 'a'), EPS[0]);
  c.advance(9_999);
  assert.equal(lb.next('s', 'a'), EPS[0], 'just within the timeout');
  c.advance(9_999);
  assert.equal(lb.next('s', 'a'), EPS[0], 'the previous use restarted it');
  c.advance(10_000);
  assert.equal(lb.next('s', 'a'), EPS[1], 'expired: the next endpoint in turn, and the client sticks to it now');
  c.advance(1_000);
  assert.equal(lb.next('s', 'a'), EPS[1]);
});

test('a timeout of 0 means upstream\'s default of 3 hours', () => {
  const c = clock();
  const lb = new RoundRobinBalancer({ random: keepOrder, now: c.now });
  lb.setService('s', { clientIP: true, timeoutSeconds: 0 });
  lb.setEndpoints('s', EPS);
  assert.equal(DEFAULT_AFFINITY_TIMEOUT_SECONDS, 10800);
  assert.equal(lb.next('s', 'a'), EPS[0]);
  c.advance(10800 * 1000 - 1);
  assert.equal(lb.next('s', 'a'), EPS[0]);
  c.advance(10800 * 1000);
  assert.equal(lb.next('s', 'a'), EPS[1]);
});

test('resetting the affinity after a failed connection moves the client to the next endpoint', () => {
  const lb = new RoundRobinBalancer({ random: keepOrder });
  lb.setService('s', { clientIP: true, timeoutSeconds: 60 });
  lb.setEndpoints('s', EPS);
  assert.equal(lb.next('s', 'a'), EPS[0]);
  assert.equal(lb.next('s', 'a', true), EPS[1]);
  assert.equal(lb.next('s', 'a'), EPS[1]);
});

test('without affinity nothing is remembered; turning it off forgets the clients', () => {
  const lb = new RoundRobinBalancer({ random: keepOrder });
  lb.setService('s', NONE);
  lb.setEndpoints('s', EPS);
  lb.next('s', 'a');
  assert.equal(lb.stickyClients('s').size, 0);
  lb.setService('s', { clientIP: true, timeoutSeconds: 60 });
  lb.next('s', 'a');
  assert.equal(lb.stickyClients('s').size, 1);
  lb.setService('s', NONE);
  assert.equal(lb.stickyClients('s').size, 0);
});

test('the same endpoints in another order change nothing: the turn and the affinities stay', () => {
  const lb = new RoundRobinBalancer({ random: keepOrder });
  lb.setService('s', { clientIP: true, timeoutSeconds: 60 });
  lb.setEndpoints('s', EPS);
  assert.equal(lb.next('s', 'a'), EPS[0]);
  assert.equal(lb.setEndpoints('s', [...EPS].reverse()), null);
  assert.equal(lb.next('s', 'b'), EPS[1], 'the turn went on');
  assert.equal(lb.next('s', 'a'), EPS[0]);
});

test('a removed endpoint loses its clients; the others keep theirs; the turn restarts', () => {
  const lb = new RoundRobinBalancer({ random: keepOrder });
  lb.setService('s', { clientIP: true, timeoutSeconds: 60 });
  lb.setEndpoints('s', EPS);
  lb.next('s', 'a'); // EPS[0]
  lb.next('s', 'b'); // EPS[1]
  lb.next('s', 'c'); // EPS[2]
  assert.deepEqual(lb.setEndpoints('s', [EPS[0]!, EPS[2]!]), [EPS[1]]);
  assert.deepEqual(lb.stickyClients('s'), new Map([['a', EPS[0]], ['c', EPS[2]]]));
  assert.equal(lb.next('s', 'b'), EPS[0], 'b starts over at the beginning of the new list');
  assert.equal(lb.next('s', 'd'), EPS[2]);
  assert.equal(lb.next('s', 'a'), EPS[0]);
});

test('an emptied service forgets every client', () => {
  const lb = new RoundRobinBalancer({ random: keepOrder });
  lb.setService('s', { clientIP: true, timeoutSeconds: 60 });
  lb.setEndpoints('s', EPS);
  lb.next('s', 'a');
  assert.deepEqual(lb.setEndpoints('s', []), EPS);
  assert.equal(lb.stickyClients('s').size, 0);
  lb.setEndpoints('s', EPS.slice(1));
  assert.equal(lb.next('s', 'a'), EPS[1]);
});

test('the stale-session cleanup drops exactly the expired affinities', () => {
  const c = clock();
  const lb = new RoundRobinBalancer({ random: keepOrder, now: c.now });
  lb.setService('s', { clientIP: true, timeoutSeconds: 5 });
  lb.setEndpoints('s', EPS);
  lb.next('s', 'old');
  c.advance(3_000);
  lb.next('s', 'new');
  c.advance(2_000);
  lb.cleanupStaleStickySessions();
  assert.deepEqual([...lb.stickyClients('s').keys()], ['new']);
});

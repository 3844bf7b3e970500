import assert from 'node:assert/strict';
import { test } from 'node:test';
import { computeProbability, formatFixed10 } from '../../../runner/core/proxy/probability.ts';

test('probabilities are 1/n with 10 decimals, like Go %0.10f', () => {
  const want: Record<number, string> = {
    1: '1.0000000000', 2: '0.5000000000', 3: '0.3333333333', 4: '0.2500000000', 6: '0.1666666667', 10: '0.1000000000',
    100: '0.0100000000', 1000: '0.0010000000', 10000: '0.0001000000', 100000: '0.0000100000', 100001: '0.0000099999',
  };
  for (const [n, s] of Object.entries(want)) assert.equal(computeProbability(Number(n)), s, `n=${n}`);
});

test('an exact tie rounds to even, as Go does (1/2048), where toFixed would round up', () => {
  assert.equal(computeProbability(2048), '0.0004882812');
  assert.equal((1 / 2048).toFixed(10), '0.0004882813');
  assert.equal(formatFixed10(0.00000000005), '0.0000000001'); // not a tie in binary: above the half
});

test('probabilities never increase as n grows', () => {
  let prev = computeProbability(2);
  for (let n = 3; n <= 20000; n++) {
    const p = computeProbability(n);
    assert.ok(Number(p) <= Number(prev), `n=${n}: ${p} > ${prev}`);
    prev = p;
  }
});

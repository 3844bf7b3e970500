import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalIP, cidrContains, formatCIDR, joinHostPort, parseCIDR, parseIP } from '../../../runner/core/proxy/ip.ts';

test('IPs parse sloppily (leading zeros are decimal) and print like Go', () => {
  const cases: [string, string | null][] = [
    ['10.0.0.1', '10.0.0.1'], ['172.30.0.041', '172.30.0.41'], ['010.001.000.009', '10.1.0.9'],
    ['256.1.1.1', null], ['1.2.3', null], ['1.2.3.4.5', null], ['', null], ['banana', null], [' 1.2.3.4', null],
    ['2001:DB8::1', '2001:db8::1'], ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], ['::', '::'], ['::1', '::1'],
    ['fd00:10:0:0:0:0:0:5', 'fd00:10::5'], ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], ['::ffff:1.2.3.4', '1.2.3.4'], ['1::2::3', null],
  ];
  for (const [input, want] of cases) assert.equal(canonicalIP(input), want, JSON.stringify(input));
});

test('CIDRs are masked and printed canonically; containment respects the family', () => {
  assert.equal(formatCIDR(parseCIDR('203.0.113.000/025')!), '203.0.113.0/25');
  assert.equal(formatCIDR(parseCIDR('10.244.1.5/16')!), '10.244.0.0/16');
  assert.equal(formatCIDR(parseCIDR('fd00:10::99/64')!), 'fd00:10::/64');
  assert.equal(parseCIDR('10.0.0.0/33'), null);
  assert.equal(parseCIDR('10.0.0.0'), null);
  const c = parseCIDR('192.168.0.0/16')!;
  assert.ok(cidrContains(c, parseIP('192.168.200.1')!));
  assert.ok(!cidrContains(c, parseIP('192.169.0.1')!));
  assert.ok(cidrContains(parseCIDR('0.0.0.0/0')!, parseIP('127.0.0.1')!));
  assert.ok(!cidrContains(parseCIDR('0.0.0.0/0')!, parseIP('::1')!));
});

test('host:port joins bracket IPv6', () => {
  assert.equal(joinHostPort('10.0.0.1', 80), '10.0.0.1:80');
  assert.equal(joinHostPort('fd00::1', 80), '[fd00::1]:80');
});

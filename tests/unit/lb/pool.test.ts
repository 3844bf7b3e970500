import assert from 'node:assert/strict';
import { test } from 'node:test';
import { choosePoolBlock, formatPool, intToIPv4, ipv4ToInt, parsePool, parseSubnet, poolBlocks, poolInSubnet } from '../../../runner/core/lb/pool.ts';

test('IPv4 addresses round-trip through numbers; anything else is null', () => {
  for (const ip of ['0.0.0.0', '172.18.255.200', '255.255.255.255', '10.0.0.1']) assert.equal(intToIPv4(ipv4ToInt(ip)!), ip);
  for (const bad of ['', 'abc', '172.18.255', '172.18.255.256', 'fd00::1', ' ', undefined, null, 42, {}]) assert.equal(ipv4ToInt(bad), null, String(bad));
});

test('pools are FIRST-LAST or a CIDR; a wrong one is a sentence saying how to write it', () => {
  const cases: [string, string | RegExp][] = [
    ['172.18.255.200-172.18.255.250', '172.18.255.200-172.18.255.250'],
    [' 10.0.0.5 - 10.0.0.5 ', '10.0.0.5-10.0.0.5'],
    ['172.18.255.192/27', '172.18.255.193-172.18.255.222'],
    ['10.1.2.3/32', '10.1.2.3-10.1.2.3'],
    ['172.18.255.250-172.18.255.200', /starts after it ends/],
    ['172.18.255.200-nope', /not FIRST-LAST with two IPv4 addresses/],
    ['pool', /neither FIRST-LAST nor an IPv4 CIDR/],
    ['fd00::/64', /neither FIRST-LAST nor an IPv4 CIDR/],
  ];
  for (const [text, want] of cases) {
    const p = parsePool(text);
    if (typeof want === 'string') assert.equal('error' in p ? p.error : formatPool(p), want, text);
    else assert.match('error' in p ? p.error : formatPool(p), want, text);
  }
});

test('pool blocks sit at the top of the kind network, .200-.250 of one /24 each, never in its lower half', () => {
  const blocks = poolBlocks(parseSubnet('172.18.0.0/16')!);
  assert.deepEqual(blocks.slice(0, 3).map(formatPool), ['172.18.255.200-172.18.255.250', '172.18.254.200-172.18.254.250', '172.18.253.200-172.18.253.250']);
  assert.equal(blocks.length, 128);
  assert.ok(blocks.every((b) => b.first >= ipv4ToInt('172.18.128.0')!));
  assert.ok(blocks.every((b) => poolInSubnet(b, parseSubnet('172.18.0.0/16')!)));
  // The host bits of a node's own address do not matter.
  assert.deepEqual(poolBlocks(parseSubnet('172.19.0.3/16')!)[0], parsePool('172.19.255.200-172.19.255.250'));
  assert.deepEqual(poolBlocks(parseSubnet('192.168.5.0/24')!).map(formatPool), ['192.168.5.200-192.168.5.250']);
  assert.deepEqual(poolBlocks(parseSubnet('192.168.5.0/26')!).map(formatPool), ['192.168.5.32-192.168.5.62']);
  assert.deepEqual(poolBlocks(parseSubnet('192.168.5.0/29')!), []);
});

test('each cluster on one Docker network gets the first block no other cluster holds', () => {
  const net = parseSubnet('172.18.0.0/16')!;
  const p = (s: string) => parsePool(s) as { first: number; last: number };
  assert.equal(formatPool(choosePoolBlock(net, [])!), '172.18.255.200-172.18.255.250');
  assert.equal(formatPool(choosePoolBlock(net, [p('172.18.255.200-172.18.255.250')])!), '172.18.254.200-172.18.254.250');
  // A freed block is reused; a custom pool that overlaps a block makes it taken.
  assert.equal(formatPool(choosePoolBlock(net, [p('172.18.254.200-172.18.254.250')])!), '172.18.255.200-172.18.255.250');
  assert.equal(formatPool(choosePoolBlock(net, [p('172.18.255.240-172.18.255.241')])!), '172.18.254.200-172.18.254.250');
  assert.equal(choosePoolBlock(parseSubnet('10.0.0.0/24')!, [p('10.0.0.200-10.0.0.250')]), undefined);
});

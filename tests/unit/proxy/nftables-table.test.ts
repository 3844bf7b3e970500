// The nftables plumbing under the renderer: transaction text in knftables' format, reading
// it back, the in-memory table's kernel-like rules, element diffs, and reading nft's
// JSON and text listings.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ElementStorage } from '../../../runner/core/proxy/nftables/elements.ts';
import { FakeTable, NftError } from '../../../runner/core/proxy/nftables/fake.ts';
import { normalizeListing, parseTableJson } from '../../../runner/core/proxy/nftables/listing.ts';
import { parseLine, parseTransactionText } from '../../../runner/core/proxy/nftables/parse.ts';
import { Transaction, operationLine } from '../../../runner/core/proxy/nftables/transaction.ts';

const LINES = [
  'add table ip kube-proxy { comment "rules for kube-proxy" ; }',
  'add chain ip kube-proxy filter-input { type filter hook input priority 0 ; }',
  'add chain ip kube-proxy reject-chain { comment "helper for @no-endpoint-services / @no-endpoint-nodeports" ; }',
  'add chain ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80',
  'flush chain ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80',
  'delete chain ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80',
  'add set ip kube-proxy affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80 { type ipv4_addr ; flags dynamic,timeout ; timeout 10800s ; }',
  'add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }',
  'delete set ip kube-proxy nodeport-ips',
  'add rule ip kube-proxy cluster-ips-check ip daddr @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs"',
  'add rule ip kube-proxy firewall-x ip saddr != { 198.51.100.0/24 , 192.168.8.0/24 } drop',
  'add element ip kube-proxy no-endpoint-services { 10.96.0.1 . tcp . 443 comment "default/kubernetes:https" : goto reject-chain }',
  'add element ip6 kube-proxy service-ips { fd00::1 . tcp . 80 : goto service-X-a/b/tcp/http }',
  'delete element ip kube-proxy cluster-ips { 10.96.0.1 }',
];

test('every operation kube-proxy writes reads back to the same line', () => {
  for (const line of LINES) {
    const p = parseLine(line);
    assert.ok(!(p instanceof Error), String(p));
    assert.equal(operationLine(p, p.family, p.table), line);
  }
  assert.ok(parseLine('add frobnicator ip kube-proxy x') instanceof Error);
  assert.throws(() => parseTransactionText('add table ip kube-proxy\nnonsense here\n'), /not an nftables operation: nonsense here/);
});

function table(): FakeTable {
  const t = new FakeTable('ip', 'kube-proxy');
  t.runText(`add table ip kube-proxy
add chain ip kube-proxy services
add chain ip kube-proxy endpoint-a/b
add chain ip kube-proxy service-a/b
add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }
add rule ip kube-proxy service-a/b goto endpoint-a/b
add element ip kube-proxy service-ips { 10.96.0.5 . tcp . 80 : goto service-a/b }
add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips
`);
  return t;
}

test('the in-memory table refuses what the kernel refuses, and a failed transaction changes nothing', () => {
  const t = table();
  const before = t.dump();
  // Still referenced by the map element, and the endpoint chain by the service chain's rule.
  assert.throws(() => t.runText('delete chain ip kube-proxy service-a/b\n'), /still referenced/);
  assert.throws(() => t.runText('flush chain ip kube-proxy service-a/b\ndelete chain ip kube-proxy endpoint-a/b\ndelete chain ip kube-proxy nope\n'), (e: unknown) => e instanceof NftError && e.operation === 3);
  assert.throws(() => t.runText('add element ip kube-proxy service-ips { 10.96.0.5 . tcp . 80 : goto endpoint-a/b }\n'), /has another value/);
  assert.throws(() => t.runText('delete element ip kube-proxy service-ips { 10.96.0.6 . tcp . 80 }\n'), /no element/);
  assert.throws(() => t.runText('add rule ip kube-proxy services ip daddr @missing drop\n'), /no such set missing/);
  assert.throws(() => t.runText('delete map ip kube-proxy service-ips\n'), /still referenced/);
  assert.equal(t.dump(), before);
  // Removing the element first, then the chain (its own rules go with it), is fine.
  t.runText('delete element ip kube-proxy service-ips { 10.96.0.5 . tcp . 80 }\ndelete chain ip kube-proxy service-a/b\ndelete chain ip kube-proxy endpoint-a/b\n');
  assert.deepEqual(t.chains(), ['services']);
  assert.deepEqual(t.elements('service-ips'), []);
});

test('dump: objects by name, then rules in order, then sorted elements', () => {
  const t = new FakeTable('ip', 'kube-proxy');
  t.runText(`add table ip kube-proxy
add chain ip kube-proxy z
add chain ip kube-proxy a
add set ip kube-proxy s { type ipv4_addr ; }
add rule ip kube-proxy z ip daddr @s drop
add rule ip kube-proxy z accept
add element ip kube-proxy s { 10.0.0.9 }
add element ip kube-proxy s { 10.0.0.10 }
`);
  assert.equal(
    t.dump(),
    `add table ip kube-proxy
add chain ip kube-proxy a
add chain ip kube-proxy z
add set ip kube-proxy s { type ipv4_addr ; }
add rule ip kube-proxy z ip daddr @s drop
add rule ip kube-proxy z accept
add element ip kube-proxy s { 10.0.0.10 }
add element ip kube-proxy s { 10.0.0.9 }
`,
  );
});

test('element storage writes only differences: new, changed (delete + add), and leftovers', () => {
  const s = new ElementStorage('map', 'service-ips');
  let tx = new Transaction('ip', 'kube-proxy');
  s.readOrReset(tx, new Map([['10.96.0.1 . tcp . 80', 'goto a'], ['10.96.0.2 . tcp . 80', 'goto b'], ['10.96.0.3 . tcp . 80', 'goto c']]));
  s.ensure(tx, ['10.96.0.1', 'tcp', '80'], ['goto a']);
  s.ensure(tx, ['10.96.0.2', 'tcp', '80'], ['goto b2']);
  s.ensure(tx, ['10.96.0.4', 'tcp', '80'], ['goto d']);
  s.cleanupLeftovers(tx);
  assert.equal(
    tx.toString(),
    `delete element ip kube-proxy service-ips { 10.96.0.2 . tcp . 80 }
add element ip kube-proxy service-ips { 10.96.0.2 . tcp . 80 : goto b2 }
add element ip kube-proxy service-ips { 10.96.0.4 . tcp . 80 : goto d }
delete element ip kube-proxy service-ips { 10.96.0.3 . tcp . 80 }
`,
  );
  // Next sync: everything is known; an unchanged set of wishes writes nothing.
  tx = new Transaction('ip', 'kube-proxy');
  for (const [k, v] of [['10.96.0.1', 'goto a'], ['10.96.0.2', 'goto b2'], ['10.96.0.4', 'goto d']] as const) s.ensure(tx, [k, 'tcp', '80'], [v]);
  s.cleanupLeftovers(tx);
  assert.equal(tx.numOperations, 0);
  // Unreadable current contents: flush and write all.
  tx = new Transaction('ip', 'kube-proxy');
  s.readOrReset(tx, null);
  s.ensure(tx, ['10.96.0.1', 'tcp', '80'], ['goto a']);
  assert.equal(tx.toString(), 'flush map ip kube-proxy service-ips\nadd element ip kube-proxy service-ips { 10.96.0.1 . tcp . 80 : goto a }\n');
});

test('nft -j list table: chains, sets and elements of kube-proxy only, as transaction text', () => {
  const json = JSON.stringify({
    nftables: [
      { metainfo: { version: '1.0.6' } },
      { table: { family: 'ip', name: 'kube-proxy', handle: 3 } },
      { chain: { family: 'ip', table: 'kube-proxy', name: 'services', handle: 9 } },
      { chain: { family: 'ip', table: 'other', name: 'mine', handle: 2 } },
      { set: { family: 'ip', name: 'cluster-ips', table: 'kube-proxy', type: 'ipv4_addr', elem: ['10.96.0.1', '10.96.10.10'] } },
      { set: { family: 'ip', name: 'affinity-X-a/b/tcp/http__10.0.0.1/80', table: 'kube-proxy', type: 'ipv4_addr', flags: ['timeout'], timeout: 300 } },
      {
        map: {
          family: 'ip', name: 'no-endpoint-services', table: 'kube-proxy', type: ['ipv4_addr', 'inet_proto', 'inet_service'], map: 'verdict',
          elem: [
            [{ elem: { val: { concat: ['10.96.0.1', 'tcp', 443] }, comment: 'default/kubernetes:https' } }, { goto: { target: 'reject-chain' } }],
            [{ elem: { val: { concat: ['10.96.10.120', 'tcp', 80] }, comment: 'shop/itp:http' } }, { drop: null }],
          ],
        },
      },
      { map: { family: 'ip', name: 'service-nodeports', table: 'kube-proxy', type: ['inet_proto', 'inet_service'], map: 'verdict', elem: [[{ concat: ['tcp', 30080] }, { goto: { target: 'external-X-shop/np/tcp/http' } }]] } },
    ],
  });
  const l = parseTableJson(json, 'kube-proxy');
  assert.deepEqual([...l.chains], ['services']);
  assert.deepEqual([...l.sets], ['cluster-ips', 'affinity-X-a/b/tcp/http__10.0.0.1/80']);
  assert.deepEqual([...l.elements.get('cluster-ips')!.keys()], ['10.96.0.1', '10.96.10.10']);
  assert.deepEqual([...l.elements.get('no-endpoint-services')!], [['10.96.0.1 . tcp . 443', 'goto reject-chain'], ['10.96.10.120 . tcp . 80', 'drop']]);
  assert.deepEqual([...l.elements.get('service-nodeports')!], [['tcp . 30080', 'goto external-X-shop/np/tcp/http']]);
  assert.throws(() => parseTableJson('{"nftables": [{"map": {"table": "kube-proxy", "name": "m", "elem": [[{"weird": 1}, {"drop": null}]]}}]}', 'kube-proxy'), /cannot read an element of map m/);
});

test('listing normalization: blocks by name, elements one a line and sorted, dynamic sets emptied, rules untouched', () => {
  const listing = `table ip kube-proxy {
	comment "rules for kube-proxy"
	set cluster-ips {
		type ipv4_addr
		elements = { 10.96.0.1, 10.96.10.10,
			     10.96.10.53 }
	}

	set affinity-A-x/y/tcp/p__10.0.0.1/80 {
		type ipv4_addr
		size 65535
		flags dynamic,timeout
		timeout 5m
		elements = { 10.0.0.7 timeout 5m expires 4m59s }
	}

	chain services {
		ip daddr . meta l4proto . th dport vmap @service-ips
		ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports
	}

	chain masquerading {
		meta mark & 0x00004000 == 0x00000000 return
		masquerade fully-random
	}
}
`;
  assert.equal(
    normalizeListing(listing),
    `table ip kube-proxy {
	comment "rules for kube-proxy"
	set affinity-A-x/y/tcp/p__10.0.0.1/80 {
		type ipv4_addr
		size 65535
		flags dynamic,timeout
		timeout 5m
	}
	set cluster-ips {
		type ipv4_addr
		elements = {
			10.96.0.1
			10.96.10.10
			10.96.10.53
		}
	}
	chain masquerading {
		meta mark & 0x00004000 == 0x00000000 return
		masquerade fully-random
	}
	chain services {
		ip daddr . meta l4proto . th dport vmap @service-ips
		ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports
	}
}
`,
  );
});

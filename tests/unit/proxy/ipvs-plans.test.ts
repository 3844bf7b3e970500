// What an IPVS sync changes on a node that already has some state: the virtual and real
// server commands (upstream syncService, syncEndpoint, graceful termination and
// cleanLegacyService), the ipset restore input and the kube-ipvs0 addresses.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAddressesByDevice, planAddresses, validForFamily } from '../../../runner/core/proxy/ipvs/interface.ts';
import { compatible, parseIpsetSave, planIpsetRestore, type IpsetSpec } from '../../../runner/core/proxy/ipvs/ipset.ts';
import { parseCIDR, type CIDR } from '../../../runner/core/proxy/ip.ts';
import {
  parseIpvsList, parseIpvsSave, planIpvs, planRemovals, vsKey, type IpvsPlanOptions, type VirtualServerSpec,
} from '../../../runner/core/proxy/ipvs/virtual-servers.ts';

const SAVE = `-A -t 10.96.0.10:80 -s rr
-a -t 10.96.0.10:80 -r 10.244.1.5:8080 -m -w 1
-a -t 10.96.0.10:80 -r 10.244.2.5:8080 -m -w 1
-A -u 10.96.0.53:53 -s rr -p 10800
-a -u 10.96.0.53:53 -r 10.244.1.6:53 -m -w 1
-A --sctp-service 10.96.0.60:3868 -s mh -b mh-port
-A -t [fd00::10]:80 -s rr
-a -t [fd00::10]:80 -r [fd00:244::5]:8080 -m -w 1
-A -f 7 -s rr
-A -t 192.168.99.1:443 -s wlc
`;

const spec = (address: string, port: number, protocol: 'TCP' | 'UDP' | 'SCTP', servers: string[], over: Partial<VirtualServerSpec> = {}): VirtualServerSpec => ({
  address, port, protocol, scheduler: 'rr', persistent: false, timeout: 0, sourceHash: false, comment: 'test',
  realServers: servers.map((s) => ({ address: s.slice(0, s.lastIndexOf(':')), port: Number(s.slice(s.lastIndexOf(':') + 1)), weight: 1 })),
  ...over,
});
const opts = (over: Partial<IpvsPlanOptions> = {}): IpvsPlanOptions => ({ family: 'IPv4', excludeCIDRs: [], graceful: new Set(), initialSync: false, ...over });

test('ipvsadm -Sn is read back: services with scheduler, persistence and flags, their real servers; firewall-mark services are not ours', () => {
  const t = parseIpvsSave(SAVE);
  assert.deepEqual([...t.keys()], ['10.96.0.10:80/TCP', '10.96.0.53:53/UDP', '10.96.0.60:3868/SCTP', '[fd00::10]:80/TCP', '192.168.99.1:443/TCP']);
  assert.deepEqual(t.get('10.96.0.53:53/UDP')!.vs, { address: '10.96.0.53', port: 53, protocol: 'UDP', scheduler: 'rr', persistent: true, timeout: 10800, sourceHash: false });
  assert.equal(t.get('10.96.0.60:3868/SCTP')!.vs.sourceHash, true);
  assert.deepEqual([...t.get('10.96.0.10:80/TCP')!.realServers.values()].map((r) => `${r.address}:${r.port} ${r.forward} ${r.weight}`), ['10.244.1.5:8080 -m 1', '10.244.2.5:8080 -m 1']);
  assert.deepEqual([...t.get('[fd00::10]:80/TCP')!.realServers.keys()], ['[fd00:244::5]:8080']);
});

test('nothing changed: no ipvsadm command at all', () => {
  const p = planIpvs([spec('10.96.0.10', 80, 'TCP', ['10.244.1.5:8080', '10.244.2.5:8080']), spec('10.96.0.53', 53, 'UDP', ['10.244.1.6:53'], { persistent: true, timeout: 10800 }), spec('10.96.0.60', 3868, 'SCTP', [], { scheduler: 'mh', sourceHash: true }), spec('192.168.99.1', 443, 'TCP', [], { scheduler: 'wlc' })], parseIpvsSave(SAVE), opts());
  assert.deepEqual(p.commands, []);
  assert.deepEqual(p.removals, []);
  assert.deepEqual(p.staleServices, []);
});

test('new virtual servers and real servers are added; a removed endpoint becomes a removal; unwanted services of this family are stale', () => {
  const p = planIpvs([spec('10.96.0.10', 80, 'TCP', ['10.244.1.5:8080', '10.244.3.5:8080']), spec('10.96.0.20', 80, 'TCP', ['10.244.1.7:80'])], parseIpvsSave(SAVE), opts());
  assert.deepEqual(p.commands, ['-a -t 10.96.0.10:80 -r 10.244.3.5:8080 -m -w 1', '-A -t 10.96.0.20:80 -s rr', '-a -t 10.96.0.20:80 -r 10.244.1.7:80 -m -w 1']);
  assert.deepEqual(p.removals.map((r) => r.name), ['10.96.0.10:80/TCP/10.244.2.5:8080']);
  // The IPv6 service is another proxier's; the firewall-mark one is not kube-proxy's.
  assert.deepEqual(p.staleServices.map(vsKey), ['10.96.0.53:53/UDP', '10.96.0.60:3868/SCTP', '192.168.99.1:443/TCP']);
  const excluded = planIpvs([], parseIpvsSave(SAVE), opts({ excludeCIDRs: [parseCIDR('192.168.99.0/24') as CIDR] }));
  assert.ok(!excluded.staleServices.some((v) => v.address === '192.168.99.1'), '--ipvs-exclude-cidrs are never deleted');
});

test('a changed scheduler or timeout is edited in place; dropping persistence or the mh flag needs delete and add', () => {
  const t = parseIpvsSave(SAVE);
  assert.deepEqual(planIpvs([spec('10.96.0.10', 80, 'TCP', ['10.244.1.5:8080', '10.244.2.5:8080'], { scheduler: 'lc' })], t, opts()).commands, ['-E -t 10.96.0.10:80 -s lc']);
  assert.deepEqual(planIpvs([spec('10.96.0.53', 53, 'UDP', ['10.244.1.6:53'], { persistent: true, timeout: 60 })], t, opts()).commands, ['-E -u 10.96.0.53:53 -s rr -p 60']);
  assert.deepEqual(planIpvs([spec('10.96.0.53', 53, 'UDP', ['10.244.1.6:53'])], t, opts()).commands, ['-D -u 10.96.0.53:53', '-A -u 10.96.0.53:53 -s rr', '-a -u 10.96.0.53:53 -r 10.244.1.6:53 -m -w 1']);
  assert.deepEqual(planIpvs([spec('10.96.0.60', 3868, 'SCTP', [])], t, opts()).commands, ['-D --sctp-service 10.96.0.60:3868', '-A --sctp-service 10.96.0.60:3868 -s rr']);
});

test('a real server drained at weight 0 that is wanted again is deleted and added afresh; the first sync resets weights to 1', () => {
  const drained = `-A -t 10.96.0.10:80 -s rr\n-a -t 10.96.0.10:80 -r 10.244.1.5:8080 -m -w 0\n`;
  const want = [spec('10.96.0.10', 80, 'TCP', ['10.244.1.5:8080'])];
  const revived = planIpvs(want, parseIpvsSave(drained), opts({ graceful: new Set(['10.96.0.10:80/TCP/10.244.1.5:8080']) }));
  assert.deepEqual(revived.commands, ['-d -t 10.96.0.10:80 -r 10.244.1.5:8080', '-a -t 10.96.0.10:80 -r 10.244.1.5:8080 -m -w 1']);
  assert.deepEqual(revived.revived, ['10.96.0.10:80/TCP/10.244.1.5:8080']);
  assert.deepEqual(planIpvs(want, parseIpvsSave(drained), opts({ initialSync: true })).commands, ['-e -t 10.96.0.10:80 -r 10.244.1.5:8080 -m -w 1']);
  // Later syncs leave a weight someone set by hand, as upstream.
  assert.deepEqual(planIpvs(want, parseIpvsSave(drained), opts()).commands, []);
});

const LIST = `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  10.96.0.10:80 rr
  -> 10.244.1.5:8080              Masq    1      2          1
  -> 10.244.2.5:8080              Masq    1      0          0
UDP  10.96.0.53:53 rr persistent 10800
  -> 10.244.1.6:53                Masq    1      0          4
FWM  7 rr
  -> 10.244.9.9:80                Masq    1      0          0
TCP  [fd00::10]:80 rr
  -> [fd00:244::5]:8080           Masq    0      3          0
`;

test('ipvsadm -Ln is read for each real server\'s weight and connections', () => {
  const c = parseIpvsList(LIST);
  assert.deepEqual(c.get('10.96.0.10:80/TCP/10.244.1.5:8080'), { weight: 1, active: 2, inactive: 1 });
  assert.deepEqual(c.get('[fd00::10]:80/TCP/[fd00:244::5]:8080'), { weight: 0, active: 3, inactive: 0 });
  assert.equal(c.size, 4, 'the firewall-mark service is skipped');
});

test('removed real servers: TCP with connections drains at weight 0, without connections (or UDP) is deleted, a gone one is forgotten (GracefulDeleteRS)', () => {
  const table = parseIpvsSave(SAVE);
  const removals = [
    ...planIpvs([spec('10.96.0.10', 80, 'TCP', [])], table, opts()).removals,
    ...planIpvs([spec('10.96.0.53', 53, 'UDP', [], { persistent: true, timeout: 10800 })], table, opts()).removals,
  ];
  assert.deepEqual(removals.map((r) => r.name), ['10.96.0.10:80/TCP/10.244.1.5:8080', '10.96.0.10:80/TCP/10.244.2.5:8080', '10.96.0.53:53/UDP/10.244.1.6:53']);
  const r = planRemovals(removals, parseIpvsList(LIST));
  assert.deepEqual(r.commands, ['-e -t 10.96.0.10:80 -r 10.244.1.5:8080 -m -w 0', '-d -t 10.96.0.10:80 -r 10.244.2.5:8080', '-d -u 10.96.0.53:53 -r 10.244.1.6:53']);
  assert.deepEqual(r.draining.map((d) => d.name), ['10.96.0.10:80/TCP/10.244.1.5:8080']);
  // A minute later its connections are gone: deleted.
  const later = planRemovals(r.draining, parseIpvsList(LIST.replace('Masq    1      2          1', 'Masq    0      0          0')));
  assert.deepEqual(later.commands, ['-d -t 10.96.0.10:80 -r 10.244.1.5:8080']);
  assert.deepEqual(planRemovals(r.draining, new Map()).gone, ['10.96.0.10:80/TCP/10.244.1.5:8080']);
});

const set = (name: string, type: IpsetSpec['type'], entries: string[]): IpsetSpec => ({ name, type, family: 'IPv4', comment: 'c', entries });

test('ipset save is read back, and a sync only adds and deletes the entries that differ', () => {
  const saved = parseIpsetSave(`create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 4096 maxelem 65536 bucketsize 12 initval 0x1c4c1a1e
add KUBE-CLUSTER-IP 10.96.0.10,tcp:80
add KUBE-CLUSTER-IP 10.96.0.11,tcp:80
create KUBE-NODE-PORT-TCP bitmap:port range 0-65535
add KUBE-NODE-PORT-TCP 30080
`);
  const p = planIpsetRestore([set('KUBE-CLUSTER-IP', 'hash:ip,port', ['10.96.0.10,tcp:80', '10.96.0.12,udp:53']), set('KUBE-NODE-PORT-TCP', 'bitmap:port', ['30080']), set('KUBE-IPVS-IPS', 'hash:ip', ['10.96.0.10'])], saved);
  assert.equal(p.text, [
    'del KUBE-CLUSTER-IP 10.96.0.11,tcp:80',
    'add KUBE-CLUSTER-IP 10.96.0.12,udp:53',
    'create KUBE-IPVS-IPS hash:ip family inet hashsize 1024 maxelem 65536',
    'add KUBE-IPVS-IPS 10.96.0.10',
    '',
  ].join('\n'));
  assert.deepEqual([p.created, p.added, p.deleted], [['KUBE-IPVS-IPS'], 2, 1]);
  // A grown hash (hashsize 4096) is still the set upstream creates; nothing to do when all agree.
  assert.equal(planIpsetRestore([set('KUBE-CLUSTER-IP', 'hash:ip,port', ['10.96.0.10,tcp:80', '10.96.0.11,tcp:80'])], saved).text, '');
});

test('a set made with other parameters is rebuilt and swapped in; one of another type is destroyed and created again', () => {
  const saved = parseIpsetSave(`create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 100
add KUBE-CLUSTER-IP 10.96.0.10,tcp:80
create KUBE-LOOP-BACK hash:ip,port,ip family inet hashsize 1024 maxelem 65536 comment
create KUBE-IPVS-IPS hash:ip,port family inet hashsize 1024 maxelem 65536
create KUBE-LOAD-BALANCER-SOURCE-CIDR-NEW hash:ip family inet hashsize 1024 maxelem 65536
`);
  assert.equal(compatible(saved.get('KUBE-CLUSTER-IP')!, 'hash:ip,port', 'IPv4'), false, 'maxelem differs');
  assert.equal(compatible(saved.get('KUBE-LOOP-BACK')!, 'hash:ip,port,ip', 'IPv4'), false, 'comment extension');
  const p = planIpsetRestore([set('KUBE-CLUSTER-IP', 'hash:ip,port', ['10.96.0.10,tcp:80']), set('KUBE-IPVS-IPS', 'hash:ip', ['10.96.0.10'])], saved);
  assert.equal(p.text, [
    'create KUBE-CLUSTER-IP-NEW hash:ip,port family inet hashsize 1024 maxelem 65536',
    'add KUBE-CLUSTER-IP-NEW 10.96.0.10,tcp:80',
    'swap KUBE-CLUSTER-IP-NEW KUBE-CLUSTER-IP',
    'destroy KUBE-CLUSTER-IP-NEW',
    'destroy KUBE-IPVS-IPS',
    'create KUBE-IPVS-IPS hash:ip family inet hashsize 1024 maxelem 65536',
    'add KUBE-IPVS-IPS 10.96.0.10',
    '',
  ].join('\n'));
  assert.deepEqual([p.swapped, p.recreated], [['KUBE-CLUSTER-IP'], ['KUBE-IPVS-IPS']]);
  // A temporary set left by an interrupted rebuild is destroyed first; the name stays within 31 characters.
  const long = planIpsetRestore([set('KUBE-LOAD-BALANCER-SOURCE-CIDR', 'hash:ip,port,net', [])], parseIpsetSave(`create KUBE-LOAD-BALANCER-SOURCE-CIDR hash:ip,port,net family inet hashsize 1024 maxelem 10\ncreate KUBE-LOAD-BALANCER-SOURCE-C-NEW hash:ip,port,net family inet\n`));
  assert.equal(long.text.split('\n')[0], 'destroy KUBE-LOAD-BALANCER-SOURCE-C-NEW');
  assert.ok(long.text.split('\n').every((l) => (l.split(' ')[1] ?? '').length <= 31));
});

test('kube-ipvs0 addresses: the missing ones are bound, the superfluous ones unbound, as /32 or /128', () => {
  const p = planAddresses(['10.96.0.10', '10.96.0.11', 'fd00::10'], ['10.96.0.10', '10.96.0.99']);
  assert.deepEqual([p.bind, p.unbind], [['10.96.0.11', 'fd00::10'], ['10.96.0.99']]);
  assert.equal(p.bindText, 'addr add 10.96.0.11/32 dev kube-ipvs0\naddr add fd00::10/128 dev kube-ipvs0\n');
  assert.equal(p.unbindText, 'addr del 10.96.0.99/32 dev kube-ipvs0\n');
  assert.deepEqual(planAddresses(['10.96.0.10'], ['10.96.0.10']), { bind: [], unbind: [], bindText: '', unbindText: '' });
});

test('ip -o addr show is read per interface; loopback and IPv6 link-local addresses do not count (upstream isValidForSet)', () => {
  const byDev = parseAddressesByDevice(`1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
1: lo    inet6 ::1/128 scope host \\       valid_lft forever preferred_lft forever
2: eth0@if7    inet 192.168.8.2/24 brd 192.168.8.255 scope global eth0\\       valid_lft forever preferred_lft forever
2: eth0@if7    inet6 fe80::1/64 scope link \\       valid_lft forever preferred_lft forever
3: kube-ipvs0    inet 10.96.0.10/32 scope global kube-ipvs0\\       valid_lft forever preferred_lft forever
`);
  assert.deepEqual([...byDev.keys()], ['lo', 'eth0', 'kube-ipvs0']);
  assert.deepEqual(byDev.get('eth0'), ['192.168.8.2', 'fe80::1']);
  assert.deepEqual(['127.0.0.1', '::1', '192.168.8.2', 'fe80::1', '2001:db8::1'].map((a) => [validForFamily(a, 'IPv4'), validForFamily(a, 'IPv6')]), [[null, null], [null, null], ['192.168.8.2', null], [null, null], [null, '2001:db8::1']]);
});

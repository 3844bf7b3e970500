// The IPVS mode's host parts, applied for real in a network namespace by svclab's IPVS
// proxier: kube-ipvs0 and its addresses (ip), the ipsets (ipset restore), the jump rules
// and fixed iptables rules (iptables-restore), read back with ip, ipset and iptables-save;
// cleanup removes all of it. Where the kernel has no IP_VS (this machine), the proxier's
// ipvsadm is an in-memory IPVS table (tests/support/ipvs-memory.ts) and the tests that need real IPVS
// skip, saying why; on a kernel with IP_VS they drive the real ipvsadm.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DEFAULT_IPVS_SETTINGS } from '../../../runner/core/proxy/ipvs/options.ts';
import { IPSET_INFO } from '../../../runner/core/proxy/ipvs/names.ts';
import { parseIpsetSave } from '../../../runner/core/proxy/ipvs/ipset.ts';
import type { IpvsRenderResult } from '../../../runner/core/proxy/ipvs/render.ts';
import { formatIpvsRestore } from '../../../runner/core/proxy/ipvs/virtual-servers.ts';
import { DEFAULT_SETTINGS, type ProxySettings } from '../../../runner/core/proxy/options.ts';
import type { EndpointSlice, Node, Service } from '../../../runner/core/proxy/types.ts';
import { UserError } from '../../../runner/errors.ts';
import { prefixedExec, type Exec } from '../../../runner/proxy/exec.ts';
import { newIptables, type Iptables } from '../../../runner/proxy/iptables.ts';
import { ipvsMode } from '../../../runner/proxy/ipvs/mode.ts';
import { IpvsProxier } from '../../../runner/proxy/ipvs/proxier.ts';
import { ipvsUnavailable } from '../../../runner/proxy/ipvs/support.ts';
import { newIpLinks, newIpset, newIpvsadm, type Ipvsadm } from '../../../runner/proxy/ipvs/tools.ts';
import { controlPlaneUnavailable, startControlPlane, upstreamBinary } from '../../support/control-plane.ts';
import { canUseNetns, NetnsLab, type Netns } from '../../support/netns.ts';
import { memoryIpvsadm, type MemoryIpvsadm } from '../../support/ipvs-memory.ts';

const root = new URL('../../..', import.meta.url).pathname;
const canNetns = await canUseNetns();
const skip = canNetns ? false : 'needs root and ip netns';

/** Probes the kernel once, in a throw-away namespace. */
async function probeKernel(): Promise<{ ipvs: string | null; dummy: boolean }> {
  if (!canNetns) return { ipvs: 'needs root', dummy: false };
  const lab = new NetnsLab('kpp');
  try {
    const ns = await lab.netns('probe');
    const dummy = (await ns.exec(['ip', 'link', 'add', 'probe0', 'type', 'dummy'], { allowFail: true })).code === 0;
    return { ipvs: await ipvsUnavailable(prefixedExec(ns.prefix)), dummy };
  } finally {
    await lab.dispose();
  }
}
const kernel = await probeKernel();
const needsIpvs = skip || (kernel.ipvs ? `needs IP_VS in the kernel: ${kernel.ipvs}` : false);
const needsNoIpvs = skip || (kernel.ipvs ? false : 'this kernel has IP_VS, so the mode is not refused');

const NODE = 'node-a';
const NODE_IP = '192.168.8.2';
const node: Node = { apiVersion: 'v1', kind: 'Node', metadata: { name: NODE }, status: { addresses: [{ type: 'InternalIP', address: NODE_IP }] } };
const settings: ProxySettings = { ...DEFAULT_SETTINGS, nodeName: NODE, clusterCIDRs: ['10.244.0.0/16'], ipvs: DEFAULT_IPVS_SETTINGS };

const svc = (name: string, ip: string, mutate: (s: Service) => void = () => {}): Service => {
  const s: Service = { apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'lab', name }, spec: { type: 'ClusterIP', clusterIP: ip, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } };
  mutate(s);
  return s;
};
const eps = (name: string, ips: [string, string][], port = 8080): EndpointSlice => ({
  apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { namespace: 'lab', name: `${name}-1`, labels: { 'kubernetes.io/service-name': name } }, addressType: 'IPv4',
  ports: [{ name: 'http', port, protocol: 'TCP' }], endpoints: ips.map(([ip, n]) => ({ addresses: [ip], nodeName: n })),
});

const web = svc('web', '10.96.0.10');
const np = svc('np', '10.96.0.20', (s) => {
  s.spec!.type = 'NodePort';
  s.spec!.externalTrafficPolicy = 'Local';
  s.spec!.ports![0]!.nodePort = 30080;
});
const lb = svc('lb', '10.96.0.30', (s) => {
  s.spec!.type = 'LoadBalancer';
  s.spec!.ports![0]!.nodePort = 30443;
  s.spec!.externalIPs = ['198.51.100.7'];
  // The node's own range: the node may reach the LB IP (no -m ipvs rule, which needs IP_VS).
  s.spec!.loadBalancerSourceRanges = ['192.168.8.0/24'];
  s.status = { loadBalancer: { ingress: [{ ip: '203.0.113.10' }] } };
});

interface Sandbox {
  lab: NetnsLab;
  ns: Netns;
  exec: Exec;
  iptables: Iptables;
  ipvsadm: Ipvsadm;
  results: IpvsRenderResult[];
  logs: string[];
  proxier: IpvsProxier;
}

/** A node namespace with eth0 and, on a kernel without dummy links, a stand-in kube-ipvs0. */
async function sandbox(ipvsadm: (exec: Exec) => Ipvsadm, onNote: (m: string) => void): Promise<Sandbox> {
  const lab = new NetnsLab('kpp');
  const ns = await lab.netns('node');
  const peer = await lab.netns('peer');
  await lab.link(ns, 'eth0', `${NODE_IP}/24`, peer, 'eth0', '192.168.8.50/24');
  if (!kernel.dummy) {
    await ns.exec(['ip', 'link', 'add', 'kube-ipvs0', 'type', 'bridge']);
    onNote('this kernel has no dummy interfaces (CONFIG_DUMMY), so the test made kube-ipvs0 a bridge; upstream EnsureDummyDevice, like svclab, uses any existing kube-ipvs0');
  }
  const exec = prefixedExec(ns.prefix);
  const iptables = newIptables(exec, 'nft');
  const results: IpvsRenderResult[] = [];
  const logs: string[] = [];
  const adm = ipvsadm(exec);
  const proxier = new IpvsProxier({
    settings, ipvs: DEFAULT_IPVS_SETTINGS, node, iptables, ipvsadm: adm, ipset: newIpset(exec), links: newIpLinks(exec), exec,
    syncPeriodMs: 60_000, minSyncPeriodMs: 0, log: (l) => logs.push(l),
    onSynced: ({ result }) => result && results.push(result),
  });
  return { lab, ns, exec, iptables, ipvsadm: adm, results, logs, proxier };
}

async function boundAddresses(ns: Netns): Promise<string[]> {
  const r = await ns.exec(['ip', '-o', 'addr', 'show', 'dev', 'kube-ipvs0'], { allowFail: true });
  return [...r.stdout.matchAll(/\binet6? ([0-9a-fA-F:.]+)\//g)].map((m) => m[1]!).sort();
}

async function ourSets(ns: Netns) {
  const names = new Set(IPSET_INFO.map((i) => i.name));
  return new Map([...parseIpsetSave((await ns.exec(['ipset', 'save'])).stdout)].filter(([n]) => names.has(n)));
}

/** The rules of one chain as iptables-save prints them. */
function savedRules(save: string, table: string, chain: string): string[] {
  let current = '';
  return save.split('\n').filter((l) => {
    if (l.startsWith('*')) current = l.slice(1);
    return current === table && l.startsWith(`-A ${chain} `);
  });
}

let memory: Sandbox | undefined;
let ipvs: MemoryIpvsadm;

before(async () => {
  if (skip) return;
  // The in-memory table everywhere, so that these tests can set connection counts.
  memory = await sandbox(() => (ipvs = memoryIpvsadm()), (m) => console.log(`# ${m}`));
});

after(async () => {
  memory?.proxier.stop();
  await memory?.lab.dispose();
});

test('a first sync binds the service addresses to kube-ipvs0, creates every ipset with its entries, and writes the jump rules and fixed iptables rules', { skip }, async () => {
  const s = memory!;
  for (const x of [web, np, lb]) s.proxier.onServiceUpdate(null, x);
  s.proxier.onEndpointSliceUpdate(eps('web', [['10.244.1.5', 'node-b'], ['10.244.0.7', NODE]]), false);
  s.proxier.onEndpointSliceUpdate(eps('np', [['10.244.0.8', NODE], ['10.244.2.8', 'node-c']]), false);
  s.proxier.onEndpointSliceUpdate(eps('lb', [['10.244.2.9', 'node-c']], 8443), false);
  await s.proxier.onServicesSynced();
  assert.equal(await s.proxier.onEndpointSlicesSynced(), true, s.logs.join('\n'));
  const result = s.results.at(-1)!;

  assert.deepEqual(await boundAddresses(s.ns), ['10.96.0.10', '10.96.0.20', '10.96.0.30', '198.51.100.7', '203.0.113.10']);
  assert.deepEqual(await boundAddresses(s.ns), result.bindAddresses);
  // The kernel takes them as local: the local routing table has each one.
  const local = (await s.ns.exec(['ip', 'route', 'show', 'table', 'local', 'dev', 'kube-ipvs0'])).stdout;
  for (const a of result.bindAddresses) assert.match(local, new RegExp(`^local ${a.replaceAll('.', '\\.')} `, 'm'));

  const sets = await ourSets(s.ns);
  assert.equal(sets.size, 17);
  for (const spec of result.ipsets) {
    const saved = sets.get(spec.name)!;
    assert.equal(saved.type, spec.type, spec.name);
    assert.deepEqual([...saved.entries].sort(), spec.entries, spec.name);
  }
  assert.deepEqual([...sets.get('KUBE-CLUSTER-IP')!.entries].sort(), ['10.96.0.10,tcp:80', '10.96.0.20,tcp:80', '10.96.0.30,tcp:80']);
  assert.deepEqual([...sets.get('KUBE-NODE-PORT-LOCAL-TCP')!.entries], ['30080']);
  assert.deepEqual([...sets.get('KUBE-LOAD-BALANCER-SOURCE-CIDR')!.entries], ['203.0.113.10,tcp:80,192.168.8.0/24']);
  assert.deepEqual([...sets.get('KUBE-LOOP-BACK')!.entries].sort(), ['10.244.0.7,tcp:8080,10.244.0.7', '10.244.0.8,tcp:8080,10.244.0.8']);

  const save = (await s.ns.exec(['iptables-save'])).stdout;
  assert.deepEqual(savedRules(save, 'nat', 'PREROUTING'), ['-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES']);
  assert.deepEqual(savedRules(save, 'filter', 'INPUT'), [
    '-A INPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-FILTER',
    '-A INPUT -m comment --comment "kube-proxy firewall rules" -j KUBE-PROXY-FIREWALL',
    '-A INPUT -m comment --comment "kubernetes health check rules" -j KUBE-NODE-PORT',
  ]);
  assert.deepEqual(savedRules(save, 'filter', 'KUBE-IPVS-FILTER').at(-1), '-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j REJECT --reject-with icmp-port-unreachable');
  assert.ok(savedRules(save, 'nat', 'KUBE-SERVICES').includes('-A KUBE-SERVICES ! -s 10.244.0.0/16 -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ'), save);
  // As many rules per chain as the render wrote.
  for (const [table, chain] of [['nat', 'KUBE-SERVICES'], ['nat', 'KUBE-NODE-PORT'], ['nat', 'KUBE-POSTROUTING'], ['nat', 'KUBE-LOAD-BALANCER'], ['filter', 'KUBE-IPVS-FILTER'], ['filter', 'KUBE-SOURCE-RANGES-FIREWALL'], ['filter', 'KUBE-FORWARD']] as const) {
    const rendered = result.iptables.split('*filter')[table === 'nat' ? 0 : 1]!.split('\n').filter((l) => l.startsWith(`-A ${chain} `)).length;
    assert.equal(savedRules(save, table, chain).length, rendered, `${table}/${chain}`);
  }
  // The set references hold: the sets are in use by the kernel's rules.
  assert.match((await s.ns.exec(['ipset', 'list', '-t', 'KUBE-CLUSTER-IP'])).stdout, /References: [1-9]/);

  // What went to IPVS is exactly the rendered virtual servers.
  const saved = await s.ipvsadm.save();
  const wanted = formatIpvsRestore(result.virtualServers).split('\n').filter((l) => l && !l.startsWith('#'));
  assert.deepEqual(saved.trim().split('\n').sort(), wanted.sort());
});

test('a second sync with nothing changed writes nothing but the iptables rules again', { skip }, async () => {
  const s = memory!;
  const before = { commands: ipvs.commands.length, sets: await s.ns.exec(['ipset', 'save']), addrs: await boundAddresses(s.ns) };
  assert.equal(await s.proxier.syncProxyRules(), true, s.logs.join('\n'));
  assert.equal(ipvs.commands.length, before.commands, ipvs.commands.slice(before.commands).join('\n'));
  assert.equal((await s.ns.exec(['ipset', 'save'])).stdout.replace(/initval \S+/g, ''), before.sets.stdout.replace(/initval \S+/g, ''));
  assert.deepEqual(await boundAddresses(s.ns), before.addrs);
  const save = (await s.ns.exec(['iptables-save'])).stdout;
  assert.equal(savedRules(save, 'nat', 'OUTPUT').length, 1, 'the jump rules are not duplicated');
});

test('changes: a deleted service\'s addresses, entries and virtual servers go; a removed endpoint with connections drains at weight 0 and is deleted when they end', { skip }, async () => {
  const s = memory!;
  ipvs.setConnections('10.96.0.10:80/TCP/10.244.1.5:8080', 1, 0);
  s.proxier.onServiceUpdate(lb, null);
  s.proxier.onEndpointSliceUpdate(eps('web', [['10.244.0.7', NODE]]), false);
  s.proxier.onServiceUpdate(null, svc('new', '10.96.0.40'));
  assert.equal(await s.proxier.syncProxyRules(), true, s.logs.join('\n'));

  assert.deepEqual(await boundAddresses(s.ns), ['10.96.0.10', '10.96.0.20', '10.96.0.40']);
  const sets = await ourSets(s.ns);
  assert.deepEqual([...sets.get('KUBE-CLUSTER-IP')!.entries].sort(), ['10.96.0.10,tcp:80', '10.96.0.20,tcp:80', '10.96.0.40,tcp:80']);
  assert.deepEqual([...sets.get('KUBE-LOAD-BALANCER')!.entries], []);
  assert.deepEqual([...sets.get('KUBE-IPVS-IPS')!.entries].sort(), ['10.96.0.10', '10.96.0.20', '10.96.0.40']);
  const save = (await s.ns.exec(['iptables-save'])).stdout;
  assert.ok(!save.includes('KUBE-LOAD-BALANCER-FW'), 'no rule matches the emptied firewall set any more');

  const ipvsNow = await s.ipvsadm.save();
  assert.ok(!ipvsNow.includes('203.0.113.10') && !ipvsNow.includes('10.96.0.30:'), ipvsNow);
  assert.ok(ipvsNow.includes('-a -t 10.96.0.10:80 -r 10.244.1.5:8080 -m -w 0'), 'the endpoint with a connection drains at weight 0');
  assert.deepEqual(s.proxier.draining, ['10.96.0.10:80/TCP/10.244.1.5:8080']);
  ipvs.setConnections('10.96.0.10:80/TCP/10.244.1.5:8080', 0, 0);
  await s.proxier.drainGraceful();
  assert.ok(!(await s.ipvsadm.save()).includes('10.244.1.5'));
  assert.deepEqual(s.proxier.draining, []);
});

test('a set made with other parameters is rebuilt and swapped in while iptables rules reference it', { skip }, async () => {
  const s = memory!;
  const dns = svc('dns', '10.96.0.53', (x) => {
    x.spec!.type = 'NodePort';
    x.spec!.ports = [{ name: 'dns', port: 53, nodePort: 30053, protocol: 'UDP' }];
  });
  s.proxier.onServiceUpdate(null, dns);
  assert.equal(await s.proxier.syncProxyRules(), true, s.logs.join('\n'));
  assert.match((await s.ns.exec(['ipset', 'list', '-t', 'KUBE-NODE-PORT-UDP'])).stdout, /References: [1-9]/);
  // Someone (an older version, a person) swaps in a set with a narrower range; the rule keeps referencing it.
  for (const cmd of [['create', 'STRAY', 'bitmap:port', 'range', '30000-32767'], ['add', 'STRAY', '30999'], ['swap', 'STRAY', 'KUBE-NODE-PORT-UDP'], ['destroy', 'STRAY']]) await s.ns.exec(['ipset', ...cmd]);
  assert.match((await s.ns.exec(['ipset', 'list', '-t', 'KUBE-NODE-PORT-UDP'])).stdout, /range 30000-32767/);
  assert.equal(await s.proxier.syncProxyRules(), true, s.logs.join('\n'));
  assert.match(s.logs.join('\n'), /rebuilt ipsets created with other parameters: KUBE-NODE-PORT-UDP/);
  const list = (await s.ns.exec(['ipset', 'list', 'KUBE-NODE-PORT-UDP'])).stdout;
  assert.match(list, /Header: range 0-65535/);
  assert.match(list, /References: [1-9]/);
  assert.deepEqual(list.split('Members:\n')[1]!.trim().split('\n'), ['30053']);
  assert.ok(!(await s.ns.exec(['ipset', 'list', '-n'])).stdout.includes('-NEW'), 'the temporary set is gone');
});

test('cleanup (upstream --cleanup) removes the addresses, the jump rules, the chains and the ipsets, and nothing else', { skip }, async () => {
  const s = memory!;
  await s.ns.exec(['ipset', 'create', 'SOMEONE-ELSES', 'hash:ip']);
  await s.iptables.restoreAll('*filter\n:OTHER - [0:0]\n-A INPUT -j OTHER\nCOMMIT\n');
  s.proxier.stop();
  const lines = await ipvsMode.cleanup(s.exec);
  assert.ok(lines.some((l) => /^filter: chain KUBE-IPVS-FILTER$/.test(l)), lines.join('\n'));
  assert.ok(lines.some((l) => /^ipset KUBE-CLUSTER-IP$/.test(l)), lines.join('\n'));
  assert.ok(lines.some((l) => l.startsWith('nat: rule -A PREROUTING')), lines.join('\n'));
  assert.ok(lines.some((l) => (kernel.dummy ? /deleted the kube-ipvs0 dummy interface/ : /unbound 10\.96\.0\.10\/32 from kube-ipvs0/).test(l)), lines.join('\n'));

  const save = (await s.ns.exec(['iptables-save'])).stdout;
  assert.deepEqual(save.split('\n').filter((l) => /KUBE-(SERVICES|POSTROUTING|NODE-PORT|LOAD-BALANCER|MARK-MASQ|FORWARD|PROXY-FIREWALL|SOURCE-RANGES|IPVS)/.test(l)), []);
  assert.ok(save.includes('-A INPUT -j OTHER'), 'a rule that is not kube-proxy\'s stays');
  const names = (await s.ns.exec(['ipset', 'list', '-n'])).stdout.split('\n').filter(Boolean);
  assert.deepEqual(names, ['SOMEONE-ELSES']);
  assert.deepEqual(await boundAddresses(s.ns), []);
  if (kernel.dummy) assert.notEqual((await s.ns.exec(['ip', 'link', 'show', 'kube-ipvs0'], { allowFail: true })).code, 0);
  // A second cleanup finds nothing left.
  assert.deepEqual(await ipvsMode.cleanup(s.exec), []);
});

test('on a kernel without IP_VS the mode refuses to start, in one line saying why', { skip: needsNoIpvs }, async () => {
  const lab = new NetnsLab('kpp');
  try {
    const ns = await lab.netns('node');
    const exec = prefixedExec(ns.prefix);
    const err = await ipvsMode.create({ settings, node, exec, metrics: null, health: null, serviceHealth: null, interfaceAddresses: async () => [], syncPeriodMs: 30_000, minSyncPeriodMs: 1000, log: () => {} }).then(() => null, (e: Error) => e);
    assert.ok(err instanceof UserError, String(err));
    assert.match(err.message, /^--proxy-mode=ipvs: can't use the IPVS proxier: this kernel has no IPVS \(no \/proc\/net\/ip_vs; modprobe ip_vs: .+\); keeping the current mode$/);
    assert.equal(err.message.split('\n').length, 1);
    // It touched nothing on the way: no sets, no chains.
    assert.equal((await ns.exec(['ipset', 'list', '-n'])).stdout.trim(), '');
    assert.ok(!(await ns.exec(['iptables-save'])).stdout.includes('KUBE-'));
  } finally {
    await lab.dispose();
  }
});

const cpMissing = controlPlaneUnavailable();
test('svclab proxy run --proxy-mode ipvs here exits 1 with one line, and the node keeps the rules of its current mode', { skip: needsNoIpvs || cpMissing || false, timeout: 180_000 }, async () => {
  const cp = await startControlPlane();
  const lab = new NetnsLab('kpp');
  try {
    await cp.apply([node as never]);
    const ns = await lab.netns('node');
    // What iptables mode left: a service chain (the trace by which other modes' starts clean it up).
    const chain = 'KUBE-SVC-ABCDEFGHIJKLMNOP';
    await ns.exec(['iptables-restore', '--noflush'], { input: `*nat\n:KUBE-SERVICES - [0:0]\n:${chain} - [0:0]\n-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j ${chain}\nCOMMIT\n` });
    const r = spawnSync(process.execPath, [join(root, 'bin/svclab.js'), 'proxy', 'run', '--proxy-mode', 'ipvs', '--netns', ns.name, '--kubeconfig', cp.kubeconfig, `--hostname-override=${NODE}`, '--healthz-bind-address=', '--metrics-bind-address='], { encoding: 'utf8', timeout: 90_000 });
    assert.equal(r.status, 1, `${r.stdout}${r.stderr}`);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('svclab:'));
    assert.equal(errors.length, 1, r.stderr);
    assert.match(errors[0]!, /^svclab: --proxy-mode=ipvs: can't use the IPVS proxier: this kernel has no IPVS \(.*\); keeping the current mode$/);
    const save = (await ns.exec(['iptables-save', '-t', 'nat'])).stdout;
    assert.ok(save.includes(`-j ${chain}`), save);
  } finally {
    await lab.dispose();
    await cp.stop();
  }
});

const upstreamMissing = controlPlaneUnavailable(['kube-proxy']);
test('upstream kube-proxy refuses --proxy-mode=ipvs on this kernel too', { skip: needsNoIpvs || upstreamMissing || false, timeout: 180_000 }, async () => {
  const cp = await startControlPlane();
  const lab = new NetnsLab('kpp');
  try {
    await cp.apply([node as never]);
    const ns = await lab.netns('node');
    await lab.forwardLoopbackPort(ns, cp.port);
    const r = await ns.exec(['timeout', '60', upstreamBinary('kube-proxy'), `--kubeconfig=${cp.kubeconfig}`, '--proxy-mode=ipvs', `--hostname-override=${NODE}`, '--v=1',
      '--healthz-bind-address=127.0.0.1:10256', '--metrics-bind-address=127.0.0.1:10249', '--conntrack-max-per-core=0'], { allowFail: true, timeoutMs: 90_000 });
    assert.equal(r.code, 1, (r.stderr + r.stdout).slice(-2000));
    assert.match(r.stderr + r.stdout, /can't use the IPVS proxier: Ipvs not supported/);
  } finally {
    await lab.dispose();
    await cp.stop();
  }
});

test('with IP_VS: the virtual servers in the kernel (ipvsadm -Sn) are the rendered ones, and cleanup flushes them', { skip: needsIpvs, timeout: 60_000 }, async () => {
  const s = await sandbox((exec) => newIpvsadm(exec), () => {});
  try {
    for (const x of [web, np]) s.proxier.onServiceUpdate(null, x);
    s.proxier.onEndpointSliceUpdate(eps('web', [['10.244.1.5', 'node-b'], ['10.244.0.7', NODE]]), false);
    await s.proxier.onServicesSynced();
    assert.equal(await s.proxier.onEndpointSlicesSynced(), true, s.logs.join('\n'));
    const wanted = formatIpvsRestore(s.results.at(-1)!.virtualServers).split('\n').filter((l) => l && !l.startsWith('#'));
    const saved = (await s.ns.exec(['ipvsadm', '-Sn'])).stdout.trim().split('\n');
    assert.deepEqual(saved.sort(), wanted.sort());
    s.proxier.stop();
    const lines = await ipvsMode.cleanup(s.exec);
    assert.ok(lines.some((l) => /flushed \d+ IPVS virtual servers/.test(l)), lines.join('\n'));
    assert.equal((await s.ns.exec(['ipvsadm', '-Sn'])).stdout.trim(), '');
  } finally {
    await s.lab.dispose();
  }
});


/** What a node's IPVS mode consists of, read back, in a form two nodes can be compared by. */
async function programmed(ns: Netns): Promise<string> {
  const ipvsSave = (await ns.exec(['ipvsadm', '-Sn'])).stdout.trim().split('\n').sort();
  const sets = [...(await ourSets(ns))].sort(([a], [b]) => (a < b ? -1 : 1)).map(([n, s]) => `${n} ${s.type} ${[...s.entries].sort().join(' ')}`);
  const rules = (await ns.exec(['iptables-save'])).stdout.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.replace(/\[\d+:\d+\]/, '[0:0]'));
  return [...ipvsSave, ...sets, ...(await boundAddresses(ns)), ...rules].join('\n');
}

test('with IP_VS: upstream kube-proxy --proxy-mode=ipvs programs the same virtual servers, ipsets, addresses and rules as svclab', { skip: needsIpvs || upstreamMissing || false, timeout: 240_000 }, async () => {
  const { loadState, readState } = await import('./upstream.ts');
  const cp = await startControlPlane();
  const lab = new NetnsLab('kpu');
  try {
    const objects = [node, web, np, eps('web', [['10.244.1.5', 'node-b'], ['10.244.0.7', NODE]]), eps('np', [['10.244.0.8', NODE]])] as never[];
    await loadState(cp, objects);
    const state = await readState(cp);
    const up = await lab.netns('up');
    const peer = await lab.netns('peer');
    await lab.link(up, 'eth0', `${NODE_IP}/24`, peer, 'eth0', '192.168.8.50/24');
    await lab.forwardLoopbackPort(up, cp.port);
    up.spawn([upstreamBinary('kube-proxy'), `--kubeconfig=${cp.kubeconfig}`, '--proxy-mode=ipvs', `--hostname-override=${NODE}`, '--cluster-cidr=10.244.0.0/16', '--v=1',
      '--healthz-bind-address=127.0.0.1:10256', '--metrics-bind-address=127.0.0.1:10249', '--conntrack-max-per-core=0']);
    const deadline = Date.now() + 60_000;
    while (!(await up.exec(['ipvsadm', '-Sn'], { allowFail: true })).stdout.includes('192.168.8.2:30080')) {
      assert.ok(Date.now() < deadline, 'upstream kube-proxy programmed no NodePort virtual server within 60 s');
      await new Promise((r) => setTimeout(r, 500));
    }
    await new Promise((r) => setTimeout(r, 2000));
    const theirs = await programmed(up);

    const s = await sandbox((exec) => newIpvsadm(exec), () => {});
    try {
      for (const o of state) {
        if (o.kind === 'Service') s.proxier.onServiceUpdate(null, o as Service);
        if (o.kind === 'EndpointSlice') s.proxier.onEndpointSliceUpdate(o as EndpointSlice, false);
      }
      await s.proxier.onServicesSynced();
      assert.equal(await s.proxier.onEndpointSlicesSynced(), true, s.logs.join('\n'));
      assert.equal(await programmed(s.ns), theirs);
    } finally {
      s.proxier.stop();
      await s.lab.dispose();
    }
  } finally {
    await lab.dispose();
    await cp.stop();
  }
});

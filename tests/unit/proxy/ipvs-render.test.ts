// The IPVS renderer from first principles, with the expectations of upstream's
// pkg/proxy/ipvs/proxier_test.go (v1.34.4) where it has them (named in each test).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_IPVS_SETTINGS, ipvsRenderOptionsFor, type IpvsSettings } from '../../../runner/core/proxy/ipvs/options.ts';
import { renderIpvs, type IpvsRenderResult } from '../../../runner/core/proxy/ipvs/render.ts';
import type { ProxySettings } from '../../../runner/core/proxy/options.ts';
import { ProxyState } from '../../../runner/core/proxy/tracker.ts';
import type { EndpointSlice, Node, Service } from '../../../runner/core/proxy/types.ts';
import { NODE, NODE_IP, noWarn, service, settings, slice } from './fixtures.ts';

interface Case {
  svcs: Service[];
  slices?: EndpointSlice[];
  over?: Partial<ProxySettings>;
  ipvs?: Partial<IpvsSettings>;
  /** The node's interface addresses (default: NODE_IP). */
  addresses?: string[];
  node?: Node | null;
  family?: 'IPv4' | 'IPv6';
}

function render(c: Case): IpvsRenderResult {
  const family = c.family ?? 'IPv4';
  const st = new ProxyState(family, NODE, noWarn);
  for (const s of c.svcs) st.onService(null, s);
  for (const s of c.slices ?? []) st.onEndpointSlice(s, false);
  st.update();
  const node = c.node === undefined ? { metadata: { name: NODE }, status: { addresses: [{ type: 'InternalIP', address: NODE_IP }] } } : c.node;
  const addresses = c.addresses ?? [NODE_IP];
  const o = ipvsRenderOptionsFor(settings(c.over), { ...DEFAULT_IPVS_SETTINGS, ...c.ipvs }, node, { others: addresses, all: addresses }, family);
  return renderIpvs({ servicePorts: st.servicePorts(), endpointsFor: (k) => st.endpointsFor(k) }, o);
}

const vs = (r: IpvsRenderResult, address: string, port: number) => r.virtualServers.find((v) => v.address === address && v.port === port);
const servers = (r: IpvsRenderResult, address: string, port: number) => vs(r, address, port)?.realServers.map((s) => `${s.address}:${s.port}/${s.weight}`);
const target = (rule: string) => /-j (\S+)$/.exec(rule)?.[1];
const entries = (r: IpvsRenderResult, set: string) => r.ipsets.find((s) => s.name === set)?.entries;
/** The rules of one chain, without "-A CHAIN ". */
function rules(r: IpvsRenderResult, table: 'nat' | 'filter', chain: string): string[] {
  let current = '';
  const out: string[] = [];
  for (const line of r.iptables.split('\n')) {
    if (line.startsWith('*')) current = line.slice(1);
    else if (current === table && line.startsWith(`-A ${chain} `)) out.push(line.slice(chain.length + 4));
  }
  return out;
}

const nodePort = (port: number, mutate: (s: Service) => void = () => {}) => (s: Service) => {
  s.spec!.type = 'NodePort';
  s.spec!.ports![0]!.nodePort = port;
  mutate(s);
};

test('a ClusterIP service: one rr virtual server, a masqueraded real server of weight 1 per endpoint, its address on kube-ipvs0 (TestIPv4Proxier)', () => {
  const r = render({ svcs: [service('ns1', 'svc1', '10.20.30.41')], slices: [slice('ns1', 'svc1', [['10.180.0.1', 'node-b'], ['10.180.0.2', NODE]])] });
  assert.equal(r.virtualServers.length, 1);
  const v = r.virtualServers[0]!;
  assert.deepEqual([v.address, v.protocol, v.port, v.scheduler, v.persistent, v.sourceHash], ['10.20.30.41', 'TCP', 80, 'rr', false, false]);
  assert.deepEqual(servers(r, '10.20.30.41', 80), ['10.180.0.1:8080/1', '10.180.0.2:8080/1']);
  assert.equal(v.comment, 'ns1/svc1:http cluster IP');
  assert.deepEqual(r.bindAddresses, ['10.20.30.41']);
  assert.deepEqual(entries(r, 'KUBE-CLUSTER-IP'), ['10.20.30.41,tcp:80']);
  assert.deepEqual(entries(r, 'KUBE-IPVS-IPS'), ['10.20.30.41']);
  // Only the endpoint on this node loops back through the service (hairpin): masqueraded.
  assert.deepEqual(entries(r, 'KUBE-LOOP-BACK'), ['10.180.0.2,tcp:8080,10.180.0.2']);
});

test('a service without endpoints still gets its virtual server, with no real servers: IPVS refuses the connection (TestIPv4Proxier)', () => {
  const r = render({ svcs: [service('ns1', 'svc1', '10.20.30.41')] });
  assert.deepEqual(servers(r, '10.20.30.41', 80), []);
  assert.deepEqual(r.bindAddresses, ['10.20.30.41']);
});

test('an IPv4 proxier ignores IPv6 services and endpoints (TestIPv4Proxier, TestNodePortIPv4)', () => {
  const v6 = { ...slice('ns2', 'svc2', [['1009:ab8::5:6', 'node-b']]), addressType: 'IPv6' };
  const r = render({ svcs: [service('ns1', 'svc1', '10.20.30.41'), service('ns2', 'svc2', '1002:ab8::2:1')], slices: [v6], addresses: [NODE_IP, '2001:db8::1:1'] });
  assert.deepEqual(r.virtualServers.map((v) => v.address), ['10.20.30.41']);
});

test('every set upstream creates is there, empty ones too, with its type; IPv6 sets are KUBE-6-…', () => {
  const r = render({ svcs: [] });
  assert.equal(r.ipsets.length, 17);
  assert.deepEqual(r.ipsets.map((s) => `${s.name} ${s.type}`).slice(0, 3), ['KUBE-LOOP-BACK hash:ip,port,ip', 'KUBE-CLUSTER-IP hash:ip,port', 'KUBE-EXTERNAL-IP hash:ip,port']);
  assert.equal(r.ipsets.find((s) => s.name === 'KUBE-NODE-PORT-TCP')!.type, 'bitmap:port');
  assert.equal(r.ipsets.find((s) => s.name === 'KUBE-NODE-PORT-SCTP-HASH')!.type, 'hash:ip,port');
  const v6 = render({ svcs: [], family: 'IPv6', over: { clusterCIDRs: ['fd00:244::/64'] }, node: null });
  assert.ok(v6.ipsets.every((s) => s.name.startsWith('KUBE-6-') && s.name.length <= 31 && s.family === 'IPv6'));
  assert.ok(v6.ipsets.some((s) => s.name === 'KUBE-6-LOAD-BALANCER-SOURCE-CID'), 'truncated to 31 characters');
});

test('NodePort: a virtual server on each node IP, not bound to kube-ipvs0, and the port in the bitmap set (TestNodePortIPv4)', () => {
  const r = render({ svcs: [service('ns1', 'svc1', '10.20.30.41', nodePort(3001))], slices: [slice('ns1', 'svc1', [['10.180.0.1', 'node-b']])], addresses: ['100.101.102.103', '127.0.0.1', '10.0.0.5'] });
  assert.deepEqual(r.virtualServers.map((v) => `${v.address}:${v.port}`), ['10.20.30.41:80', '10.0.0.5:3001', '100.101.102.103:3001']);
  assert.deepEqual(servers(r, '100.101.102.103', 3001), ['10.180.0.1:8080/1']);
  assert.deepEqual(r.bindAddresses, ['10.20.30.41']);
  assert.deepEqual(entries(r, 'KUBE-NODE-PORT-TCP'), ['3001']);
  assert.deepEqual(rules(r, 'nat', 'KUBE-NODE-PORT'), ['-p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ']);
});

test('UDP and SCTP node ports: their own sets; SCTP is hash:ip,port with every node IP (TestNodePortIPv4)', () => {
  const udp = service('ns1', 'dns', '10.20.30.53', nodePort(3053, (s) => (s.spec!.ports![0]!.protocol = 'UDP')));
  const sctp = service('ns1', 'sig', '10.20.30.54', nodePort(3054, (s) => (s.spec!.ports![0]!.protocol = 'SCTP')));
  const r = render({ svcs: [udp, sctp], addresses: ['100.101.102.103', '100.101.102.104'] });
  assert.deepEqual(entries(r, 'KUBE-NODE-PORT-UDP'), ['3053']);
  assert.deepEqual(entries(r, 'KUBE-NODE-PORT-SCTP-HASH'), ['100.101.102.103,sctp:3054', '100.101.102.104,sctp:3054']);
  assert.equal(vs(r, '100.101.102.104', 3054)!.protocol, 'SCTP');
  assert.deepEqual(rules(r, 'nat', 'KUBE-NODE-PORT'), [
    '-p udp -m comment --comment "Kubernetes nodeport UDP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-UDP dst -j KUBE-MARK-MASQ',
    '-p sctp -m comment --comment "Kubernetes nodeport SCTP port for masquerade purpose with type \'hash ip:port\'" -m set --match-set KUBE-NODE-PORT-SCTP-HASH dst,dst -j KUBE-MARK-MASQ',
  ]);
});

test('externalTrafficPolicy Local node port, --nodeport-addresses: only the selected node IP, only local endpoints, the Local set first (TestOnlyLocalNodePorts)', () => {
  const svc = service('ns1', 'svc1', '10.20.30.41', nodePort(3001, (s) => (s.spec!.externalTrafficPolicy = 'Local')));
  const r = render({
    svcs: [svc],
    slices: [slice('ns1', 'svc1', [['10.180.0.1', NODE], ['10.180.1.1', 'other-node']], 80)],
    addresses: ['100.101.102.103', '2001:db8::'],
    over: { nodePortAddresses: ['100.101.102.0/24'] },
  });
  assert.equal(r.virtualServers.length, 2);
  assert.deepEqual(servers(r, '100.101.102.103', 3001), ['10.180.0.1:80/1']);
  assert.deepEqual(entries(r, 'KUBE-NODE-PORT-TCP'), ['3001']);
  assert.deepEqual(entries(r, 'KUBE-NODE-PORT-LOCAL-TCP'), ['3001']);
  assert.deepEqual(rules(r, 'nat', 'KUBE-NODE-PORT').map(target), ['RETURN', 'KUBE-MARK-MASQ']);
  assert.deepEqual(rules(r, 'filter', 'KUBE-NODE-PORT').map((l) => l.split('--match-set ')[1]), ['KUBE-HEALTH-CHECK-NODE-PORT dst -j ACCEPT']);
});

test('no node IP for NodePorts: no node port virtual servers, and (as upstream) no health check port for that service port', () => {
  const svc = service('ns1', 'lb', '10.20.30.41', (s) => {
    s.spec!.type = 'LoadBalancer';
    s.spec!.externalTrafficPolicy = 'Local';
    s.spec!.healthCheckNodePort = 30000;
    s.spec!.ports![0]!.nodePort = 3001;
  });
  const r = render({ svcs: [svc], addresses: [] });
  assert.deepEqual(r.virtualServers.map((v) => v.address), ['10.20.30.41']);
  assert.deepEqual(entries(r, 'KUBE-NODE-PORT-TCP'), []);
  assert.deepEqual(entries(r, 'KUBE-HEALTH-CHECK-NODE-PORT'), []);
});

test('external IPs: of this family only, masqueraded and accepted from off the node, not bound when they are the node\'s (TestExternalIPs, TestAcceptIPVSTraffic)', () => {
  const svc = service('ns1', 'svc1', '10.20.30.41', (s) => (s.spec!.externalIPs = ['50.60.70.81', '2012::51', NODE_IP]));
  const r = render({ svcs: [svc], slices: [slice('ns1', 'svc1', [['10.180.0.1', 'node-b']])] });
  assert.deepEqual(r.virtualServers.map((v) => `${v.address} ${v.comment}`), ['10.20.30.41 ns1/svc1:http cluster IP', '50.60.70.81 ns1/svc1:http external IP', `${NODE_IP} ns1/svc1:http external IP`]);
  assert.deepEqual(servers(r, '50.60.70.81', 80), ['10.180.0.1:8080/1']);
  assert.deepEqual(r.bindAddresses, ['10.20.30.41', '50.60.70.81']);
  assert.deepEqual(entries(r, 'KUBE-EXTERNAL-IP'), [`${NODE_IP},tcp:80`, '50.60.70.81,tcp:80']);
  const ext = rules(r, 'nat', 'KUBE-SERVICES').filter((l) => l.includes('KUBE-EXTERNAL-IP'));
  assert.deepEqual(ext.map((l) => l.replace(/^.*dst,dst /, '')), [
    '-j KUBE-MARK-MASQ',
    '-m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT',
    '-m addrtype --dst-type LOCAL -j ACCEPT',
  ]);
});

test('external IPs with externalTrafficPolicy Local: their own set, not masqueraded, local endpoints only (TestOnlyLocalExternalIPs)', () => {
  const svc = service('ns1', 'svc1', '10.20.30.41', (s) => {
    s.spec!.type = 'NodePort';
    s.spec!.externalIPs = ['50.60.70.81'];
    s.spec!.externalTrafficPolicy = 'Local';
  });
  const r = render({ svcs: [svc], slices: [slice('ns1', 'svc1', [['10.180.0.1', NODE], ['10.180.1.1', 'other-node']])] });
  assert.deepEqual(servers(r, '50.60.70.81', 80), ['10.180.0.1:8080/1']);
  assert.deepEqual(entries(r, 'KUBE-EXTERNAL-IP'), []);
  assert.deepEqual(entries(r, 'KUBE-EXTERNAL-IP-LOCAL'), ['50.60.70.81,tcp:80']);
  assert.ok(!rules(r, 'nat', 'KUBE-SERVICES').some((l) => l.includes('KUBE-EXTERNAL-IP-LOCAL') && l.includes('KUBE-MARK-MASQ')));
  // The cluster IP still uses every endpoint: the policy is for external traffic.
  assert.deepEqual(servers(r, '10.20.30.41', 80), ['10.180.0.1:8080/1', '10.180.1.1:8080/1']);
});

test('LoadBalancer: the LB IP set jumps to KUBE-LOAD-BALANCER, which masquerades; the KUBE-SERVICES order (TestLoadBalancer)', () => {
  const svc = service('ns1', 'svc1', '10.20.30.41', (s) => {
    s.spec!.type = 'LoadBalancer';
    s.spec!.ports![0]!.nodePort = 3001;
    s.status = { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } };
  });
  const r = render({ svcs: [svc], slices: [slice('ns1', 'svc1', [['10.180.0.1', 'node-b']])], over: { clusterCIDRs: [] } });
  assert.deepEqual(entries(r, 'KUBE-LOAD-BALANCER'), ['1.2.3.4,tcp:80']);
  assert.deepEqual(servers(r, '1.2.3.4', 80), ['10.180.0.1:8080/1']);
  assert.ok(r.bindAddresses.includes('1.2.3.4'));
  const jumps = rules(r, 'nat', 'KUBE-SERVICES').map((l) => `${/--match-set (\S+)/.exec(l)?.[1] ?? (l.includes('-s 127.0.0.0/8') ? '127.0.0.0/8' : '')} ${l.split(' -j ')[1]}`);
  assert.deepEqual(jumps, ['127.0.0.0/8 RETURN', 'KUBE-LOAD-BALANCER KUBE-LOAD-BALANCER', 'KUBE-CLUSTER-IP KUBE-MARK-MASQ', ' KUBE-NODE-PORT', 'KUBE-CLUSTER-IP ACCEPT', 'KUBE-LOAD-BALANCER ACCEPT']);
  assert.deepEqual(rules(r, 'nat', 'KUBE-LOAD-BALANCER'), ['-j KUBE-MARK-MASQ']);
});

test('LoadBalancer with externalTrafficPolicy Local: KUBE-LOAD-BALANCER returns before masquerading, local endpoints only (TestOnlyLocalLoadBalancing)', () => {
  const svc = service('ns1', 'svc1', '10.20.30.41', (s) => {
    s.spec!.type = 'LoadBalancer';
    s.spec!.externalTrafficPolicy = 'Local';
    s.spec!.healthCheckNodePort = 30000;
    s.spec!.ports![0]!.nodePort = 3001;
    s.status = { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } };
  });
  const r = render({ svcs: [svc], slices: [slice('ns1', 'svc1', [['10.180.0.1', NODE], ['10.180.1.1', 'other-node']])] });
  assert.deepEqual(servers(r, '1.2.3.4', 80), ['10.180.0.1:8080/1']);
  assert.deepEqual(entries(r, 'KUBE-LOAD-BALANCER-LOCAL'), ['1.2.3.4,tcp:80']);
  assert.deepEqual(rules(r, 'nat', 'KUBE-LOAD-BALANCER').map(target), ['RETURN', 'KUBE-MARK-MASQ']);
});

test('loadBalancerSourceRanges: the firewall sets and chains; the node may reach the LB IP only when a range holds its IP (TestLoadBalancerSourceRanges)', () => {
  const lb = (name: string, ip: string, ranges: string[]) =>
    service('ns1', name, ip, (s) => {
      s.spec!.type = 'LoadBalancer';
      s.spec!.loadBalancerSourceRanges = ranges;
      s.status = { loadBalancer: { ingress: [{ ip: ip.replace('10.20.30', '1.2.3') }] } };
    });
  const r = render({ svcs: [lb('open', '10.20.30.41', ['10.0.0.0/8', '192.168.8.0/24']), lb('closed', '10.20.30.42', ['10.0.0.0/8'])] });
  assert.deepEqual(entries(r, 'KUBE-LOAD-BALANCER-FW'), ['1.2.3.41,tcp:80', '1.2.3.42,tcp:80']);
  assert.deepEqual(entries(r, 'KUBE-LOAD-BALANCER-SOURCE-CIDR'), ['1.2.3.41,tcp:80,10.0.0.0/8', '1.2.3.41,tcp:80,192.168.8.0/24', '1.2.3.42,tcp:80,10.0.0.0/8']);
  // 192.168.8.0/24 holds the node's IP: the node reaches 1.2.3.41 with the LB IP as the source.
  assert.deepEqual(entries(r, 'KUBE-LOAD-BALANCER-SOURCE-IP'), ['1.2.3.41,tcp:80,1.2.3.41']);
  assert.deepEqual(rules(r, 'filter', 'KUBE-PROXY-FIREWALL').map((l) => l.split('--match-set ')[1]), ['KUBE-LOAD-BALANCER-FW dst,dst -j KUBE-SOURCE-RANGES-FIREWALL']);
  assert.deepEqual(rules(r, 'filter', 'KUBE-SOURCE-RANGES-FIREWALL').map(target), ['RETURN', 'RETURN', 'DROP']);
  assert.deepEqual(rules(r, 'filter', 'KUBE-IPVS-OUT-FILTER'), ['-s 1.2.3.42 -m ipvs --vaddr 1.2.3.42 --vproto tcp --vport 80 -j DROP']);
  // A /0 range lets everyone in: no firewall at all.
  const all = render({ svcs: [lb('any', '10.20.30.43', ['0.0.0.0/0', '10.0.0.0/8'])] });
  assert.deepEqual(entries(all, 'KUBE-LOAD-BALANCER-FW'), []);
  assert.deepEqual(rules(all, 'filter', 'KUBE-PROXY-FIREWALL'), []);
});

test('a load-balancer ingress with ipMode Proxy gets no virtual server (TestLoadBalancerIngressRouteTypeProxy)', () => {
  const svc = (ipMode: string | null) => service('ns1', 'svc1', '10.20.30.41', (s) => {
    s.spec!.type = 'LoadBalancer';
    s.spec!.ports![0]!.nodePort = 3001;
    s.status = { loadBalancer: { ingress: [{ ip: '1.2.3.4', ipMode }] } };
  });
  assert.equal(render({ svcs: [svc('Proxy')], addresses: [] }).virtualServers.length, 1);
  assert.equal(render({ svcs: [svc('VIP')], addresses: [] }).virtualServers.length, 2);
  assert.equal(render({ svcs: [svc(null)], addresses: [] }).virtualServers.length, 2);
});

test('health check node ports of externalTrafficPolicy Local load balancers only (TestHealthCheckNodePort)', () => {
  const lb = (name: string, policy: string, hc: number) => service('ns1', name, '10.20.30.41', (s) => {
    s.spec!.type = 'LoadBalancer';
    s.spec!.externalTrafficPolicy = policy;
    s.spec!.healthCheckNodePort = hc;
    s.spec!.ports![0]!.nodePort = 3000;
  });
  const r = render({ svcs: [lb('valid-svc1', 'Local', 30000), lb('valid-svc2', 'Local', 30001), lb('invalid-svc3', 'Cluster', 30002)], addresses: ['100.101.102.103'] });
  assert.deepEqual(entries(r, 'KUBE-HEALTH-CHECK-NODE-PORT'), ['30000', '30001']);
  assert.deepEqual(rules(r, 'filter', 'KUBE-NODE-PORT'), ['-m comment --comment "Kubernetes health check node port" -m set --match-set KUBE-HEALTH-CHECK-NODE-PORT dst -j ACCEPT']);
});

test('ClientIP affinity: every virtual server of the service is persistent for its timeout (TestSessionAffinity)', () => {
  const svc = service('ns1', 'svc1', '10.20.30.41', nodePort(3001, (s) => {
    s.spec!.externalIPs = ['50.60.70.81'];
    s.spec!.sessionAffinity = 'ClientIP';
    s.spec!.sessionAffinityConfig = { clientIP: { timeoutSeconds: 100 } };
  }));
  const r = render({ svcs: [svc] });
  assert.equal(r.virtualServers.length, 3);
  assert.ok(r.virtualServers.every((v) => v.persistent && v.timeout === 100), JSON.stringify(r.virtualServers));
  // Without a timeout: upstream's default of 3 hours.
  const dflt = render({ svcs: [service('ns1', 'svc2', '10.20.30.42', (s) => (s.spec!.sessionAffinity = 'ClientIP'))] });
  assert.equal(dflt.virtualServers[0]!.timeout, 10800);
});

test('--ipvs-scheduler: every virtual server; mh also hashes on the source port', () => {
  const r = render({ svcs: [service('ns1', 'svc1', '10.20.30.41', nodePort(3001))], ipvs: { scheduler: 'mh' } });
  assert.ok(r.virtualServers.every((v) => v.scheduler === 'mh' && v.sourceHash));
  assert.ok(render({ svcs: [service('ns1', 'svc1', '10.20.30.41')], ipvs: { scheduler: 'lc' } }).virtualServers.every((v) => v.scheduler === 'lc' && !v.sourceHash));
});

test('the cluster IP masquerade rule: --masquerade-all, traffic from outside the cluster CIDR, or (no CIDR) node traffic from a VIP (TestMasqueradeRule)', () => {
  const svcs = [service('ns1', 'svc1', '10.20.30.41')];
  const rule = (over: Partial<ProxySettings>) => rules(render({ svcs, over }), 'nat', 'KUBE-SERVICES').find((l) => l.includes('KUBE-MARK-MASQ'))!.replace(/^.*--match-set KUBE-CLUSTER-IP /, '');
  assert.equal(rule({ masqueradeAll: true }), 'dst,dst -j KUBE-MARK-MASQ');
  assert.equal(rule({}), 'dst,dst ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ');
  assert.equal(rule({ clusterCIDRs: [] }), 'src,dst -j KUBE-MARK-MASQ');
  const post = (randomFully: boolean) => rules(render({ svcs, over: { randomFully } }), 'nat', 'KUBE-POSTROUTING');
  assert.equal(post(true)[2], '-m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully');
  assert.equal(post(false)[2], '-m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE');
  assert.deepEqual(rules(render({ svcs, over: { masqueradeBit: 3 } }), 'nat', 'KUBE-MARK-MASQ'), ['-j MARK --or-mark 0x00000008']);
});

test('connections from localhost are dismissed first in KUBE-SERVICES (TestDismissLocalhostRuleExist)', () => {
  assert.equal(rules(render({ svcs: [] }), 'nat', 'KUBE-SERVICES')[0], '-s 127.0.0.0/8 -j RETURN');
  assert.equal(rules(render({ svcs: [], family: 'IPv6', over: { clusterCIDRs: [] }, node: null }), 'nat', 'KUBE-SERVICES')[0], '-s ::1/128 -j RETURN');
});

test('KUBE-IPVS-FILTER: service ports pass, other new connections to a VIP on kube-ipvs0 are rejected (kubernetes#72236)', () => {
  const f = rules(render({ svcs: [] }), 'filter', 'KUBE-IPVS-FILTER');
  assert.deepEqual(f, [
    '-m set --match-set KUBE-LOAD-BALANCER dst,dst -j RETURN',
    '-m set --match-set KUBE-CLUSTER-IP dst,dst -j RETURN',
    '-m set --match-set KUBE-EXTERNAL-IP dst,dst -j RETURN',
    '-m set --match-set KUBE-EXTERNAL-IP-LOCAL dst,dst -j RETURN',
    '-m set --match-set KUBE-HEALTH-CHECK-NODE-PORT dst -j RETURN',
    '-m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j REJECT',
  ]);
});

test('Local policies without local endpoints: the cluster\'s endpoints after all (kubernetes#97081), counted in the no-local metric (TestNoEndpointsMetric)', () => {
  const eps = (nodes: string[]) => [slice('ns1', 'svc1', nodes.map((n, i) => [`10.0.1.${i + 1}`, n] as [string, string]), 80)];
  const svc = (itp: boolean, etp: boolean) => service('ns1', 'svc1', '172.20.1.1', (s) => {
    s.spec!.ports![0]!.nodePort = 30000;
    if (itp) s.spec!.internalTrafficPolicy = 'Local';
    if (etp) {
      s.spec!.type = 'NodePort';
      s.spec!.externalTrafficPolicy = 'Local';
    }
  });
  const cases: [boolean, boolean, string[], number, number][] = [
    [true, false, [NODE, 'node1', 'node2'], 0, 0],
    [false, true, [NODE, 'node1', 'node2'], 0, 0],
    [true, true, [NODE, 'node1', 'node2'], 0, 0],
    [true, false, ['node0', 'node1', 'node2'], 1, 0],
    [false, true, ['node0', 'node1', 'node2'], 0, 1],
    [true, true, ['node0', 'node1', 'node2'], 1, 1],
    [true, true, [], 0, 0],
  ];
  for (const [itp, etp, nodes, internal, external] of cases) {
    const r = render({ svcs: [svc(itp, etp)], slices: nodes.length ? eps(nodes) : [], addresses: ['10.0.0.1'] });
    assert.deepEqual(r.noLocalEndpoints, { internal, external }, `itp=${itp} etp=${etp} nodes=${nodes.join(',')}`);
  }
  const fallback = render({ svcs: [svc(false, true)], slices: eps(['node0', 'node1']), addresses: ['10.0.0.1'] });
  assert.deepEqual(servers(fallback, '10.0.0.1', 30000), ['10.0.1.1:80/1', '10.0.1.2:80/1']);
});

test('internalTrafficPolicy Local on a ClusterIP service with only remote endpoints: no real servers', () => {
  const svc = service('ns1', 'svc1', '10.20.30.41', (s) => (s.spec!.internalTrafficPolicy = 'Local'));
  const r = render({ svcs: [svc], slices: [slice('ns1', 'svc1', [['10.180.1.1', 'node-b']])] });
  assert.deepEqual(servers(r, '10.20.30.41', 80), []);
  assert.deepEqual(r.noLocalEndpoints, { internal: 1, external: 0 });
});

test('terminating endpoints: ready ones first; with none ready, the serving terminating ones, at weight 1 (Test_EndpointSliceOnlyReadyAndTerminatingLocal)', () => {
  const svc = service('ns1', 'svc1', '172.20.1.1', (s) => {
    s.spec!.type = 'NodePort';
    s.spec!.externalTrafficPolicy = 'Local';
    s.spec!.externalIPs = ['1.2.3.4'];
  });
  const term = (ip: string, node: string, serving: boolean) => ({ addresses: [ip], nodeName: node, conditions: { ready: false, serving, terminating: true } });
  const sl = slice('ns1', 'svc1', [term('10.0.1.1', NODE, true), term('10.0.1.2', NODE, true), term('10.0.1.3', NODE, false), term('10.0.1.4', 'another-node', true), { addresses: ['10.0.1.5'], nodeName: 'another-node', conditions: { ready: true } }], 80);
  const r = render({ svcs: [svc], slices: [sl], addresses: [] });
  assert.deepEqual(servers(r, '172.20.1.1', 80), ['10.0.1.5:80/1']);
  assert.deepEqual(servers(r, '1.2.3.4', 80), ['10.0.1.1:80/1', '10.0.1.2:80/1']);
  assert.deepEqual(entries(r, 'KUBE-LOOP-BACK'), ['10.0.1.1,tcp:80,10.0.1.1', '10.0.1.2,tcp:80,10.0.1.2', '10.0.1.3,tcp:80,10.0.1.3']);
});

test('an endpoint port of another protocol is not the service port\'s (TestExternalIPs, TestLoadBalancer)', () => {
  const r = render({ svcs: [service('ns1', 'svc1', '10.20.30.41')], slices: [slice('ns1', 'svc1', [['10.180.0.1', 'node-b']], 80, 'svc1-1', 'http', 'UDP')] });
  assert.deepEqual(servers(r, '10.20.30.41', 80), []);
});

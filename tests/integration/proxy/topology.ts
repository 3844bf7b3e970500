// A one-node "cluster" in network namespaces for data-path tests:
//
//   client (192.168.8.50) ── eth0 ── node (192.168.8.2, runs the proxy's rules)
//                                     ├── pod1 10.244.1.2  (on this node, "node-a")
//                                     ├── pod2 10.244.2.2  (stands for a pod on "node-b")
//                                     ├── pod3 10.244.3.2  (stands for a pod on "node-b")
//                                     └── podc 10.244.9.2  (a client pod on this node)
//
// Each server pod answers TCP :8080 and UDP :5353 with "<pod> <peer address>".
import type { EndpointSlice, Service } from '../../../runner/core/proxy/types.ts';
import { waitForLine, type Netns, type NetnsLab } from '../../support/netns.ts';

export const NODE_IP = '192.168.8.2';
export const CLIENT_IP = '192.168.8.50';
export const CLUSTER_CIDR = '10.244.0.0/16';
export const PODS = [
  { name: 'pod1', ip: '10.244.1.2', gw: '10.244.1.1', node: 'node-a' },
  { name: 'pod2', ip: '10.244.2.2', gw: '10.244.2.1', node: 'node-b' },
  { name: 'pod3', ip: '10.244.3.2', gw: '10.244.3.1', node: 'node-b' },
];
export const POD_CLIENT_IP = '10.244.9.2';

const SERVER = `
import net from 'node:net'; import dgram from 'node:dgram';
const name = process.argv[1];
net.createServer((c) => { c.end(name + ' ' + c.remoteAddress + '\\n'); }).listen(8080, '0.0.0.0');
const u = dgram.createSocket('udp4');
u.on('message', (m, r) => u.send(name + ' ' + r.address, r.port, r.address));
u.bind(5353, () => console.log('ready'));`;

/** Sends n TCP requests (one connection each) and returns the answers ("pod peer" or "ERR code"). */
const TCP_CLIENT = `
import net from 'node:net';
const [host, port, n] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
const one = () => new Promise((resolve) => {
  let data = ''; const s = net.connect({ host, port });
  s.setTimeout(1500, () => { s.destroy(); resolve('ERR timeout'); });
  s.on('data', (d) => (data += d)); s.on('end', () => resolve(data.trim()));
  s.on('error', (e) => resolve('ERR ' + e.code));
});
const out = []; for (let i = 0; i < n; i++) out.push(await one());
console.log(JSON.stringify(out));`;

/** Sends n UDP datagrams from one fixed source port; returns the answers. */
const UDP_CLIENT = `
import dgram from 'node:dgram';
const [host, port, n, sport] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3]), Number(process.argv[4])];
const s = dgram.createSocket('udp4'); await new Promise((r) => s.bind(sport, r));
const out = [];
for (let i = 0; i < n; i++) {
  out.push(await new Promise((resolve) => {
    const t = setTimeout(() => { s.removeAllListeners('message'); resolve('ERR timeout'); }, 1000);
    s.once('message', (m) => { clearTimeout(t); resolve(m.toString()); });
    s.send('hi', port, host);
  }));
}
s.close(); console.log(JSON.stringify(out));`;

export interface Topology {
  lab: NetnsLab;
  node: Netns;
  client: Netns;
  podClient: Netns;
  pods: Netns[];
  tcp(from: Netns, host: string, port: number, n: number): Promise<string[]>;
  udp(from: Netns, host: string, port: number, n: number, sport: number): Promise<string[]>;
}

export async function buildTopology(lab: NetnsLab): Promise<Topology> {
  const node = await lab.netns('node');
  const client = await lab.netns('cli');
  await lab.link(node, 'eth0', `${NODE_IP}/24`, client, 'eth0', `${CLIENT_IP}/24`);
  await client.exec(['ip', 'route', 'add', 'default', 'via', NODE_IP]);
  // The node needs a route for service IPs before nat OUTPUT can DNAT its own packets.
  await node.exec(['ip', 'route', 'add', 'default', 'via', CLIENT_IP]);
  await node.exec(['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  const pods: Netns[] = [];
  for (const p of PODS) {
    const ns = await lab.netns(p.name);
    await lab.link(node, `v${p.name}`, `${p.gw}/24`, ns, 'eth0', `${p.ip}/24`);
    await ns.exec(['ip', 'route', 'add', 'default', 'via', p.gw]);
    const server = ns.spawn([process.execPath, '--input-type=module', '-e', SERVER, p.name]);
    await waitForLine(server, /ready/, 10_000);
    pods.push(ns);
  }
  const podClient = await lab.netns('podc');
  await lab.link(node, 'vpodc', '10.244.9.1/24', podClient, 'eth0', `${POD_CLIENT_IP}/24`);
  await podClient.exec(['ip', 'route', 'add', 'default', 'via', '10.244.9.1']);
  return {
    lab,
    node,
    client,
    podClient,
    pods,
    tcp: async (from, host, port, n) => JSON.parse(await from.node(TCP_CLIENT, [host, String(port), String(n)])) as string[],
    udp: async (from, host, port, n, sport) => JSON.parse(await from.node(UDP_CLIENT, [host, String(port), String(n), String(sport)])) as string[],
  };
}

export function svc(name: string, clusterIP: string, mutate: (s: Service) => void = () => {}): Service {
  const s: Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace: 'lab', name },
    spec: { type: 'ClusterIP', clusterIP, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
  };
  mutate(s);
  return s;
}

export function endpoints(service: string, pods: typeof PODS, opts: { port?: number; portName?: string; protocol?: string; name?: string } = {}): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { namespace: 'lab', name: opts.name ?? `${service}-1`, labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    ports: [{ name: opts.portName ?? 'http', port: opts.port ?? 8080, protocol: opts.protocol ?? 'TCP' }],
    endpoints: pods.map((p) => ({ addresses: [p.ip], nodeName: p.node, conditions: { ready: true } })),
  };
}

/** Counts answers by pod name; the peer address each pod saw, per pod. */
export function tally(answers: string[]): { byPod: Record<string, number>; peers: Set<string>; errors: string[] } {
  const byPod: Record<string, number> = {};
  const peers = new Set<string>();
  const errors: string[] = [];
  for (const a of answers) {
    if (a.startsWith('ERR')) {
      errors.push(a);
      continue;
    }
    const [pod, peer] = a.split(' ');
    byPod[pod!] = (byPod[pod!] ?? 0) + 1;
    peers.add(peer!);
  }
  return { byPod, peers, errors };
}

/**
 * Whether `count` hits out of `n` fit a predicted probability: within 4.5 standard deviations
 * of Binomial(n, p) (a false alarm about once in 150 000 checks), and at least one hit when
 * p > 0. A fixed tolerance on the share fails honest runs now and then at small n.
 */
export function fitsShare(count: number, n: number, p: number): boolean {
  if (p === 0) return count === 0;
  if (count === 0) return false;
  return Math.abs(count - n * p) <= 4.5 * Math.sqrt(n * p * (1 - p)) + 1;
}

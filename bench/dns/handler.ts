// CPU time per query of svclab's DNS handler alone (no sockets): the message handling, the
// answer, the encoding and the metrics, for the mixes of qps.ts on the same kind of state,
// with kept answers (the steady state) and without (every query as if its namespace had
// just changed, as under --churn). For profiling: node --import tsx --cpu-prof bench/dns/handler.ts headless
//
//   npx tsx bench/dns/handler.ts [clusterip|headless|srv|nxdomain ...] [--services 1000] [--queries 200000]
import { parseArgs } from 'node:util';
import dnsPacket from 'dns-packet';
import { Answerer } from '../../runner/core/dns/answer.ts';
import { Backend } from '../../runner/core/dns/backend.ts';
import { ClusterIndex } from '../../runner/core/dns/cluster-index.ts';
import { DnsHandler } from '../../runner/dns/handler.ts';
import { Forwarder } from '../../runner/dns/forwarder.ts';
import { DnsMetrics } from '../../runner/dns/metrics.ts';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { services: { type: 'string', default: '1000' }, queries: { type: 'string', default: '200000' } } });
const n = Number(values.services);
const total = Number(values.queries);
const mixes = positionals.length ? positionals : ['clusterip', 'headless', 'srv', 'nxdomain'];

// The state of qps.ts: every 5th service headless with 10 endpoints, the others ClusterIP with 2.
const items: object[] = [];
for (let k = 0; k < 10; k++) items.push({ kind: 'Namespace', metadata: { name: `bench-${k}` } });
const ports = [
  { name: 'http', protocol: 'TCP', port: 80 },
  { name: 'grpc', protocol: 'TCP', port: 9090 },
];
const headless = (i: number) => i % 5 === 4;
for (let i = 0; i < n; i++) {
  const ns = `bench-${i % 10}`;
  items.push({ kind: 'Service', metadata: { name: `s${i}`, namespace: ns }, spec: { clusterIP: headless(i) ? 'None' : `10.96.${100 + Math.floor(i / 250)}.${(i % 250) + 1}`, ports } });
  items.push({ kind: 'EndpointSlice', metadata: { name: `s${i}-1`, namespace: ns, labels: { 'kubernetes.io/service-name': `s${i}` } }, addressType: 'IPv4', ports, endpoints: Array.from({ length: headless(i) ? 10 : 2 }, (_, k) => ({ addresses: [`10.${64 + k}.${Math.floor(i / 250)}.${(i % 250) + 1}`], conditions: { ready: true } })) });
}
const index = new ClusterIndex();
index.replaceAll(items as { kind?: string }[]);
index.synced = true;
const backend = new Backend(index, { zones: ['cluster.local.', 'in-addr.arpa.', 'ip6.arpa.'], ttl: 30, pods: 'insecure', endpointPodNames: false, localIPs: [] });
const options = { answerer: new Answerer(backend), forwarder: new Forwarder({ upstreams: [] }), metrics: new DnsMetrics(), loadbalance: true };
const handler = new DnsHandler(options);

function questions(mix: string): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < n; i++) {
    const name = `s${i}.bench-${i % 10}.svc.cluster.local`;
    if (mix === 'clusterip' && !headless(i)) out.push([name, 'A']);
    if (mix === 'headless' && headless(i)) out.push([name, 'A']);
    if (mix === 'srv' && !headless(i)) out.push([`_http._tcp.${name}`, 'SRV']);
    if (mix === 'nxdomain') out.push([`nosuch${i}.bench-${i % 10}.svc.cluster.local`, 'A']);
  }
  if (!out.length) throw new Error(`unknown mix "${mix}": use clusterip, headless, srv or nxdomain`);
  return out;
}

async function measure(bufs: Buffer[], uncached: boolean): Promise<number> {
  for (let i = 0; i < Math.min(total, 20_000); i++) await handler.handle(bufs[i % bufs.length]!, 'udp');
  const c0 = process.cpuUsage();
  for (let i = 0; i < total; i++) {
    // A handler with nothing kept yet: what a change in the name's namespace leaves.
    await (uncached ? new DnsHandler(options) : handler).handle(bufs[i % bufs.length]!, 'udp');
  }
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / total;
}

console.log(`| mix (${n} services) | CPU µs per query, kept answers | CPU µs per query, none kept |`);
console.log('|---|---:|---:|');
for (const mix of mixes) {
  const bufs = questions(mix).map(([name, type], id) => Buffer.from(dnsPacket.encode({ type: 'query', id: id & 0xffff, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type: type as 'A' }] })));
  const kept = await measure(bufs, false);
  const none = await measure(bufs, true);
  console.log(`| ${mix} | ${kept.toFixed(1)} | ${none.toFixed(1)} |`);
}

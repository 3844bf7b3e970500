// Starts svclab's DNS server: the answering core over a live or file-backed cluster
// index, the forwarder, the sockets, and CoreDNS's health, ready and metrics endpoints.
import { createServer, type Server } from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';
import { Answerer } from '../core/dns/answer.ts';
import { Backend, type PodMode } from '../core/dns/backend.ts';
import { ClusterIndex } from '../core/dns/cluster-index.ts';
import { fqdn } from '../core/dns/names.ts';
import { Forwarder, resolvConfUpstreams, type ForwarderOptions, type Upstream } from './forwarder.ts';
import { DnsHandler } from './handler.ts';
import { DnsMetrics } from './metrics.ts';
import { listen, udpAddresses, type Listen } from './server.ts';
import { fileSource, liveSource, type Source } from './sources.ts';

export interface DnsOptions {
  /** The cluster zone first (cluster.local), then reverse zones. */
  zones: string[];
  ttl: number;
  pods: PodMode;
  endpointPodNames: boolean;
  listen: Listen;
  source: { kind: 'file'; path: string } | { kind: 'live'; kubeconfig: KubeConfig };
  upstreams?: Upstream[];
  /** The forwarder's bounds (default: max_concurrent 1000, 2 s per upstream try, cache 30). */
  forward?: Pick<ForwarderOptions, 'maxConcurrent' | 'timeoutMs' | 'cacheSeconds'>;
  /** host:port for /health, /ready and /metrics; undefined: not served. */
  health?: Listen;
  ready?: Listen;
  metrics?: Listen;
  log?: (m: string) => void;
}

export interface RunningDns {
  port: number;
  index: ClusterIndex;
  metrics: DnsMetrics;
  close(): Promise<void>;
}

function httpServer(where: Listen, handler: (path: string) => { status: number; body: string; type?: string } | Promise<{ status: number; body: string; type?: string }>): Promise<Server> {
  const s = createServer((req, res) => {
    Promise.resolve(handler(new URL(req.url ?? '/', 'http://x').pathname)).then(
      (r) => {
        res.writeHead(r.status, { 'content-type': r.type ?? 'text/plain; charset=utf-8' });
        res.end(r.body);
      },
      () => {
        res.writeHead(500);
        res.end();
      },
    );
  });
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.listen(where.port, where.host, () => resolve(s));
  });
}

export async function startDns(o: DnsOptions): Promise<RunningDns> {
  const log = o.log ?? ((m: string) => console.error(`svclab dns: ${m}`));
  const index = new ClusterIndex();
  const metrics = new DnsMetrics(`dns://:${o.listen.port}`);
  // CoreDNS leaves loopback addresses out of its own addresses (boundIPs): on loopback NS has no data.
  const backend = new Backend(index, { zones: o.zones.map(fqdn), ttl: o.ttl, pods: o.pods, endpointPodNames: o.endpointPodNames, localIPs: udpAddresses(o.listen.host).filter((ip) => !ip.startsWith('127.') && ip !== '::1') });
  const upstreams = o.upstreams ?? resolvConfUpstreams();
  const handler = new DnsHandler({ answerer: new Answerer(backend), forwarder: new Forwarder({ ...o.forward, upstreams }), metrics, loadbalance: true });
  const source: Source = o.source.kind === 'file' ? await fileSource(o.source.path, index, log) : liveSource(o.source.kubeconfig, index, { pods: o.pods === 'verified', log, metrics });
  const sockets = await listen(handler, o.listen);
  const servers: Server[] = [];
  try {
    if (o.health) servers.push(await httpServer(o.health, (p) => (p === '/health' ? { status: 200, body: 'OK' } : { status: 404, body: '404 page not found\n' })));
    if (o.ready) servers.push(await httpServer(o.ready, (p) => (p !== '/ready' ? { status: 404, body: '404 page not found\n' } : source.ready() ? { status: 200, body: 'OK' } : { status: 503, body: 'kubernetes' })));
    if (o.metrics) servers.push(await httpServer(o.metrics, async (p) => (p === '/metrics' ? { status: 200, body: await metrics.registry.metrics(), type: metrics.registry.contentType } : { status: 404, body: '404 page not found\n' })));
  } catch (err) {
    await sockets.close();
    for (const s of servers) s.close();
    await source.stop();
    throw err;
  }
  log(`serving ${o.zones.join(' ')} on ${o.listen.host}:${sockets.port} (udp, tcp); upstreams: ${upstreams.map((u) => `${u.host}:${u.port}`).join(', ') || 'none'}`);
  return {
    port: sockets.port,
    index,
    metrics,
    async close() {
      await sockets.close();
      for (const s of servers) await new Promise((r) => s.close(r));
      await source.stop();
    },
  };
}

// The proxy health server (upstream pkg/proxy/healthcheck/proxy_health.go): /healthz and
// /livez on :10256. Unhealthy when an update has been queued longer than healthTimeout
// (2 × --iptables-sync-period) without a successful sync; /healthz also when this Node is
// gone, being deleted, or tainted ToBeDeletedByClusterAutoscaler.
import { createServer, type Server } from 'node:http';
import type { Node } from '../core/proxy/types.ts';
import type { ProxyMetrics } from './metrics.ts';

export class ProxyHealth {
  private lastUpdated = new Map<string, number>();
  private oldestPendingQueued = new Map<string, number>();
  node: Node | null = null;

  constructor(
    readonly healthTimeoutMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  updated(family: string): void {
    this.oldestPendingQueued.delete(family);
    this.lastUpdated.set(family, this.now());
  }

  queuedUpdate(family: string): void {
    if (!this.oldestPendingQueued.has(family)) this.oldestPendingQueued.set(family, this.now());
  }

  health(): { lastUpdated: string; currentTime: string; healthy: boolean; status: Record<string, { lastUpdated: string; healthy: boolean }> } {
    const now = this.now();
    let last = 0;
    let healthy = true;
    const status: Record<string, { lastUpdated: string; healthy: boolean }> = {};
    for (const [family, t] of this.lastUpdated) {
      last = Math.max(last, t);
      const queued = this.oldestPendingQueued.get(family);
      const ok = queued === undefined || now - queued < this.healthTimeoutMs;
      if (!ok) healthy = false;
      status[family] = { lastUpdated: new Date(t).toISOString(), healthy: ok };
    }
    return { lastUpdated: new Date(last).toISOString(), currentTime: new Date(now).toISOString(), healthy, status };
  }

  nodeEligible(): boolean {
    const n = this.node;
    if (!n) return false;
    if (n.metadata?.deletionTimestamp) return false;
    return !(n.spec?.taints ?? []).some((t) => t.key === 'ToBeDeletedByClusterAutoscaler');
  }
}

export function serveHealth(h: ProxyHealth, host: string, port: number, metrics?: ProxyMetrics): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/healthz' && path !== '/livez') {
      res.writeHead(404).end('404 page not found\n');
      return;
    }
    const body: Record<string, unknown> = h.health();
    let healthy = body.healthy as boolean;
    if (path === '/healthz') {
      const eligible = h.nodeEligible();
      body.nodeEligible = eligible;
      healthy = healthy && eligible;
    }
    if (healthy) body.lastUpdated = new Date().toISOString();
    const code = healthy ? 200 : 503;
    (path === '/healthz' ? metrics?.healthzTotal : metrics?.livezTotal)?.inc({ code: String(code) });
    res.writeHead(code, { 'Content-Type': 'application/json', 'X-Content-Type-Options': 'nosniff' }).end(JSON.stringify(body));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

export function serveMetrics(metrics: ProxyMetrics, host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    if ((req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404).end('404 page not found\n');
      return;
    }
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { 'Content-Type': metrics.registry.contentType }).end(text),
      (err: Error) => res.writeHead(500).end(`${err.message}\n`),
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
